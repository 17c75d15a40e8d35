"""End-to-end: the Kedro project runs in the fast `ci` environment, and kedro-viz sees it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from milkyway_mass.hooks import RunManifestHook
from milkyway_mass.pipeline_registry import register_pipelines
from tests.conftest import PROJECT, load_params

RUN_PIPELINES = ["__default__", "calibration"]


@pytest.fixture(scope="module")
def ci_catalog():
    """Run the pipelines once in the `ci` environment; yield that run's catalog."""
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env="ci") as session:
        session.run(pipeline_names=RUN_PIPELINES)
        yield session.load_context().catalog


def test_mock_and_ingest_outputs(ci_catalog):
    truth = ci_catalog.load("mock_truth")
    stars = ci_catalog.load("stars_6d")
    cut_flow = ci_catalog.load("cut_flow_ingest")
    assert truth["boundary"] == "2*r200"
    assert cut_flow.n_stars.iloc[-1] == len(stars) > 1000
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars)
    assert (stars.dist > 0).all() and stars[["rv", "pmra", "pmdec", "feh"]].notna().all().all()
    assert cut_flow.cut.iloc[-1] == "one observation per Gaia source" and cut_flow.n_removed.iloc[-1] > 0
    assert not stars.source_id.duplicated().any()
    truth_stars = ci_catalog.load("mock_truth_stars")
    assert stars.obsid.isin(truth_stars.obsid).all()


def test_validation_compares_every_stage_with_the_truth(ci_catalog):
    halo_cut = ci_catalog.load("validation_halo_cut")
    recovery = ci_catalog.load("validation_vesc_recovery")
    mass = ci_catalog.load("validation_mass_recovery")
    report = ci_catalog.load("validation_report")
    assert set(halo_cut.binning) == {"bin1", "bin2"}
    assert len(recovery) == 24 and recovery.vesc_true.between(300, 650).all()
    assert {"M200_msun", "M_total_r200_msun"} <= set(mass.quantity)
    assert "rho_dm_R0_gev_cm3" in set(ci_catalog.load("validation_mass_recovery_b").quantity)
    assert "# Mock validation" in report


def test_calibration_measures_coverage_and_corrects_the_curve(ci_catalog):
    fits = ci_catalog.load("vesc_calibration_fits")
    coverage = ci_catalog.load("vesc_calibration_coverage")
    assert len(fits) == 2 * 2 * 2 * 2 * 2  # estimators x errors x DFs x bins x realisations
    assert set(fits.estimator) == {"published", "df_power_exp"} and set(fits.errors) == {"none", "survey"}
    assert fits["rank"].between(0, 1).all() and (fits["vesc_p16"] <= fits["vesc_p84"]).all()
    overall = coverage[coverage["bin"] == -1]
    assert len(overall) == 8 and overall["coverage_68"].between(0, 1).all()
    assert len(ci_catalog.load("vesc_calibration_leave_one_out")) == 2 * 2 * 2  # estimators x errors x left-out DFs
    curve = ci_catalog.load("vesc_table_calibrated_bin1")
    assert {"vesc_bias", "vesc_sigma_sys", "calibration"} <= set(curve.columns)
    assert curve.set_index("bin").loc[[5, 9], "vesc_bias"].notna().all()
    summary = ci_catalog.load("calibrated.halo_mass_summary")
    assert set(summary["variants"]) == {"nominal", "corrected"}


def test_unconverged_tail_chains_are_flagged_where_they_are_used(ci_catalog):
    """The `ci` chains are far too short: v_esc(R0) and the halo fit say so."""
    table = ci_catalog.load("vesc_table_bin1")
    assert not table.loc[table["status"] == "ok", "converged"].all()
    at_sun = ci_catalog.load("vesc_at_sun")
    assert "converged" in at_sun["bin1"]["interpolated"]
    summary = ci_catalog.load("halo_mass_summary")
    nominal = summary["variants"]["nominal"]
    assert nominal["unconverged_bins"]
    assert "chains not converged in bin(s)" in ci_catalog.load("validation_report")
    assert "did not converge and enter this fit" in ci_catalog.load("halo_mass_summary_md")


def test_run_parameters_are_saved_with_overrides_resolved(ci_catalog):
    record = ci_catalog.load("run_parameters")
    assert record["run"]["env"] == "ci"
    assert record["run"]["run_id"] and record["run"]["package_version"] and record["run"]["kedro_version"]
    assert len(record["run"]["git_commit"] or "x" * 40) >= 40  # None outside a git work tree
    assert all(len(f["sha256"]) == 64 for f in record["input_files"].values())
    manifest = RunManifestHook.manifest_dir(ci_catalog) / f"{record['run']['run_id']}.yml"
    assert yaml.safe_load(manifest.read_text())["status"] == "completed"
    assert record["parameters"]["mock_survey"]["n_stars"] == 40000  # from conf/ci
    assert record["parameters"]["mock_survey"]["truth"]["c200"] == 12.0  # soft-merged from conf/base


def test_every_node_is_timed(ci_catalog):
    timings = ci_catalog.load("run_timings")
    pipelines = register_pipelines()
    ran = {node.name for name in RUN_PIPELINES for node in pipelines[name].nodes}
    assert set(timings["node"]) == ran and len(timings) == len(ran)
    assert (timings[["wall_s", "cpu_s", "save_s", "peak_rss_mb"]] >= 0).all().all()
    assert timings["peak_rss_mb"].is_monotonic_increasing  # the process's peak so far
    # figures are rendered when saved, after the node: that time is counted apart
    assert timings.set_index("node").loc["plot_vesc_curve", "save_s"] > 0.05


def test_registry_has_every_pipeline():
    pipelines = register_pipelines()
    assert {
        "mock_survey",
        "ingest",
        "kinematics",
        "selection",
        "escape_velocity",
        "halo_mass",
        "analysis",
        "__default__",
    } <= set(pipelines)
    assert not set(pipelines["mock_survey"].nodes) & set(pipelines["analysis"].nodes)
    analysis_a = pipelines["analysis_a"]
    assert {"nominal.fit_halo_mass", "report_halo_mass"} <= {n.name for n in analysis_a.nodes}
    assert not any("analysis_b" in n.name for n in analysis_a.nodes)
    assert set(analysis_a.nodes) <= set(pipelines["analysis"].nodes)


def test_lamost_environment_skips_the_mock_and_defines_every_input():
    assert load_params("lamost")["default_pipeline"] == "analysis"
    labels = load_params("lamost")["halo_mass"]["analysis_b"]["data_labels"]  # reports say what was used
    assert "Eilers et al. (2019)" in labels["measured"] and "mock" not in labels["measured"]
    assert load_params()["default_pipeline"] == "__default__"
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="lamost")
    catalog = loader["catalog"]
    inputs = {name for name in register_pipelines()["analysis"].inputs() if not name.startswith("params:")}
    assert inputs == {
        "lamost_kgiants",
        "gaia_dr3",
        "rotation_curve_data",
        "kz_data",
        "gc_catalogue_data",
        "published_vesc_bin1",
    }
    for name in inputs:  # user-supplied files: plain paths, never versioned or mock outputs
        assert not catalog[name].get("versioned", False)
        assert "mock" not in catalog[name]["filepath"]


def test_kedro_viz_build_contains_the_pipelines():
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    main = json.loads((PROJECT / "build" / "api" / "main").read_text())
    ids = {p["id"] for p in main["pipelines"]}
    assert {"mock_survey", "ingest", "kinematics", "selection", "escape_velocity", "halo_mass", "__default__"} <= ids
    assert any(n["name"] == "cross_match" for n in main["nodes"])
