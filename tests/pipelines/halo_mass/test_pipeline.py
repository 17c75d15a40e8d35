"""Wiring, parameters and catalog of `halo_mass`, and end-to-end runs on the published data."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner

from milkyway_mass.pipeline_registry import register_pipelines
from milkyway_mass.pipelines.halo_mass.pipeline import (
    B_INPUTS,
    VARIANTS,
    create_pipeline,
)
from tests.conftest import PROJECT, load_params

CHAINS = {f"{v}.halo_mass_chain" for v in VARIANTS}
FREE_OUTPUTS = {
    *(f"{v}.{name}" for v in VARIANTS for name in ("halo_mass_corner_plot", "halo_mass_vesc_plot")),
    "halo_mass_summary",
    "halo_mass_summary_md",
    "halo_mass_comparison",
}
PERSISTED = CHAINS | FREE_OUTPUTS
B_FREE_OUTPUTS = {
    "halo_mass_b_gc_selection",
    "halo_mass_b_results",
    "halo_mass_b_summary_md",
    "halo_mass_b_gc_staeckel_md",
    "halo_mass_b_enclosed_mass_plot",
    "halo_mass_b_rotation_curve_plot",
    "halo_mass_b_kz_plot",
    "halo_mass_b_vesc_plot",
}
B_PERSISTED = B_FREE_OUTPUTS | {
    "halo_mass_b_chains",
    "halo_mass_b_summary",
    "halo_mass_b_curves",
    "halo_mass_b_gc_staeckel",
}
SHARED = PROJECT.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not available")


def _params(pipe):
    return {p for p in pipe.inputs() if p.startswith("params:")}


def _lookup(params: dict, dotted: str):
    value = params
    for key in dotted.split("."):
        value = value[key]
    return value


def test_measured_pipeline_reads_escape_velocity_outputs_and_the_mock_constraints():
    pipe = create_pipeline()
    assert pipe.inputs() - _params(pipe) == {
        "vesc_samples_bin1",
        "vesc_table_bin1",
        "rotation_curve_data",
        "kz_data",
        "gc_catalogue_data",
    }
    assert pipe.outputs() == FREE_OUTPUTS | B_FREE_OUTPUTS and CHAINS | B_PERSISTED <= pipe.all_outputs()
    a_only = create_pipeline(analyses=("A",))
    assert (
        a_only.inputs() - _params(a_only) == {"vesc_samples_bin1", "vesc_table_bin1"}
        and a_only.outputs() == FREE_OUTPUTS
    )


def test_published_pipelines():
    a = create_pipeline(curve_source="published", analyses=("A",))
    assert a.inputs() - _params(a) == {"published_vesc_bin1"}
    assert a.outputs() == {f"published.{name}" for name in FREE_OUTPUTS}
    assert {f"published.{name}" for name in CHAINS} <= a.all_outputs()
    assert _params(a) == _params(create_pipeline(analyses=("A",)))
    b = create_pipeline(curve_source="published", analyses=("B",))
    assert b.inputs() - _params(b) == {"published_vesc_bin1", *B_INPUTS["published"].values()}
    assert b.outputs() == {f"published.{name}" for name in B_FREE_OUTPUTS}
    assert "params:halo_mass.analysis_b.data_labels.published" in _params(b)
    registered = register_pipelines()
    assert set(registered["halo_mass_published"].nodes) == set(a.nodes)
    assert set(registered["halo_mass_published_b"].nodes) == set(b.nodes)
    c = create_pipeline(curve_source="calibrated", analyses=("A",))
    assert c.inputs() - _params(c) == {"vesc_table_calibrated_bin1"}
    assert c.outputs() == {f"calibrated.{name}" for name in FREE_OUTPUTS}
    assert set(c.nodes) <= set(registered["calibration"].nodes)
    with pytest.raises(ValueError, match="Analysis A only"):
        create_pipeline(curve_source="calibrated")
    with pytest.raises(ValueError, match="curve_source must be one of"):
        create_pipeline(curve_source="simulated")
    with pytest.raises(ValueError, match="analyses must be a non-empty subset"):
        create_pipeline(analyses=("C",))


@pytest.mark.parametrize("env", ["base", "ci", "published", "published_b", "published_gc"])
def test_every_parameter_exists(env):
    params = load_params(env)
    for name in _params(create_pipeline()) | _params(create_pipeline(curve_source="published")):
        _lookup(params, name.removeprefix("params:"))
    assert set(params["halo_mass"]["vesc_scale"]) == set(VARIANTS)


def test_ci_overrides_only_the_sampler_and_figures():
    base, ci = load_params("base")["halo_mass"], load_params("ci")["halo_mass"]
    assert ci["sampler"]["n_walkers"] < base["sampler"]["n_walkers"] == 100
    assert (base["sampler"]["n_burn"], base["sampler"]["n_keep"]) == (2000, 3000)
    assert ci["sampler"]["seed"] == base["sampler"]["seed"] and ci["model"] == base["model"]


def test_ci_makes_analysis_b_fast_and_base_keeps_the_method_settings():
    base, ci = load_params("base")["halo_mass"]["analysis_b"], load_params("ci")["halo_mass"]["analysis_b"]
    assert base["sampler"]["burn_fraction"] == 0.5  # METHOD §6: first half is burn-in
    assert ci["sampler"]["n_steps"] * max(ci["sampler"]["step_factors"].values()) <= 100
    assert ci["sampler"]["n_walkers"] >= 20  # 2 x (5 Zhao + 5 McMillan parameters)
    assert ci["grid"] == base["grid"] and ci["constraint_sets"] == base["constraint_sets"]
    mc = base["baryon_models"]["mcmillan17"]["priors"]
    assert mc["rd_thick_kpc"]["mean"] == 3.5 and mc["rd_thin_kpc"]["sigma"] == pytest.approx(
        0.3 * mc["rd_thin_kpc"]["mean"]
    )
    assert mc["sigma0_thick_msun_pc2"]["sigma"] == pytest.approx(0.3 * mc["sigma0_thick_msun_pc2"]["mean"])


def test_published_environments_run_the_published_pipelines():
    assert load_params("published")["default_pipeline"] == "halo_mass_published"
    published_b = load_params("published_b")
    assert published_b["default_pipeline"] == "halo_mass_published_b"
    assert published_b["halo_mass"]["analysis_b"]["grid"]["baryons"] == ["mcmillan17"]


def test_outputs_are_versioned_files_and_published_ones_kept_apart():
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    catalog = DataCatalog.from_config(loader["catalog"])
    paths = {}
    persisted = PERSISTED | B_PERSISTED
    for name in {"published_vesc_bin1", *persisted, *(f"published.{n}" for n in persisted)}:
        dataset = catalog.get(name)
        assert dataset is not None and not isinstance(dataset, MemoryDataset), name
        described = dataset._describe()
        paths[name] = str(described["filepath"])
        if name != "published_vesc_bin1":
            assert described.get("version") is not None, f"{name} is not versioned"
    assert len(set(paths.values())) == len(paths)
    assert all("/published/" in p for n, p in paths.items() if n.startswith("published."))


@pytest.mark.slow
def test_published_pipeline_end_to_end_in_ci():
    params = load_params("ci")
    pipe = create_pipeline(curve_source="published", analyses=("A",))
    curve = pd.read_csv(PROJECT / "data" / "01_raw" / "published" / "published_vesc_bin1.csv")
    catalog = DataCatalog({"published_vesc_bin1": MemoryDataset(curve)})
    for name in _params(pipe):
        catalog[name] = MemoryDataset(_lookup(params, name.removeprefix("params:")))
    out = SequentialRunner().run(pipe, catalog)
    summary = out["published.halo_mass_summary"].load()
    nominal = summary["variants"]["nominal"]
    assert nominal["curve_source"] == "published" and nominal["n_bins"] == 12
    assert 11.5 < nominal["estimates"]["log10_M200"]["median"] < 12.3
    assert summary["variants"]["corrected"]["vesc_scale"] == pytest.approx(1.1)
    assert out["published.halo_mass_comparison"].load().shape[0] == 6


@needs_shared_data
@pytest.mark.slow
def test_published_analysis_b_end_to_end_in_ci():
    """Analysis B on the published files, loaded through the project's catalog entries: one fit
    each of fixed and McMillan-type baryons and of an oblate halo (the whole grid runs on the
    mock in tests/test_project_run.py)."""
    params = load_params("ci")
    params["halo_mass"]["analysis_b"]["grid"] |= {"families": ["nfw"], "baryons": ["fixed"]}
    params["halo_mass"]["analysis_b"]["grid"]["constraint_sets"] = ["combined"]
    params["halo_mass"]["analysis_b"]["extra_fits"] = [
        {"family": "einasto", "baryons": "mcmillan17", "constraint_set": "combined"},
        {"family": "nfw_oblate", "baryons": "fixed", "constraint_set": "rc_kz"},
    ]
    pipe = create_pipeline(curve_source="published", analyses=("B",))
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    project_catalog = DataCatalog.from_config(loader["catalog"])
    catalog = DataCatalog(
        {
            "published_vesc_bin1": MemoryDataset(
                pd.read_csv(PROJECT / "data" / "01_raw" / "published" / "published_vesc_bin1.csv")
            ),
            **{name: MemoryDataset(project_catalog.load(name)) for name in B_INPUTS["published"].values()},
        }
    )
    for name in _params(pipe):
        catalog[name] = MemoryDataset(_lookup(params, name.removeprefix("params:")))
    out = SequentialRunner().run(pipe, catalog)
    results = out["published.halo_mass_b_results"].load()
    assert len(results) == 3 and set(results["family"]) == {"nfw", "einasto", "nfw_oblate"}
    oblate = results[results["family"] == "nfw_oblate"]
    assert oblate["q_median"].between(0.1, 1.0).all() and oblate["M200_msun_median"].notna().all()
    combined = results[results["constraint_set"] == "combined"]
    assert set(combined["baryons"]) == {"fixed", "mcmillan17"}
    assert combined["M200_msun_median"].between(3e11, 2e12).all()
    assert combined["rho_dm_R0_gev_cm3_median"].between(0.2, 0.6).all()
    assert combined["chi2_rotation_curve"].notna().all() and "Eilers" in out["published.halo_mass_b_summary_md"].load()


def test_missing_constraint_files_are_named(tmp_path):
    """The published constraints are read from configurable paths: a missing file is named."""
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    config = loader["catalog"]
    for name in B_INPUTS["published"].values():
        entry = dict(config[name]) | {"filepath": str(tmp_path / "nowhere" / f"{name}.txt")}
        catalog = DataCatalog.from_config({name: entry})
        with pytest.raises(DatasetError, match=f"nowhere/{name}.txt"):
            catalog.load(name)
