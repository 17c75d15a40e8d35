"""Analysis B nodes of `halo_mass` on synthetic data in the published file layouts
(rotation curve: R, v_c, err+, err-; K_z: 8 unnamed columns), fast `ci` settings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from milkyway_mass.galaxy.model import HALO_FAMILIES, MassModel
from milkyway_mass.galaxy.potentials.baryons import FixedBaryons
from milkyway_mass.galaxy.potentials.composite import dphi_dz
from milkyway_mass.galaxy.units import KZ_2PIG_MSUN_PC2_IN_KMS2_KPC
from milkyway_mass.pipelines.halo_mass import combined_nodes, figures, nodes, reports
from tests.conftest import load_params

TRUTH = np.array([np.log10(9e11), 12.0])
R_RC = np.round(np.linspace(5.27, 24.82, 24), 2)
R_KZ = np.round(np.linspace(4.59, 8.55, 15), 2)
R_VESC = np.array([5.3, 7.1, 9.0, 10.8, 12.8, 14.9, 17.6, 22.0, 25.9, 29.9, 34.6, 42.1])
GRID = {
    "grid": {"families": ["nfw", "einasto"], "baryons": ["fixed"], "constraint_sets": ["vesc", "combined"]},
    "extra_fits": [{"family": "nfw", "baryons": "mcmillan17", "constraint_set": "rc_kz"}],
}


@pytest.fixture(scope="module")
def params():
    return load_params("ci")


@pytest.fixture(scope="module")
def analysis_b(params):
    return params["halo_mass"]["analysis_b"] | GRID


@pytest.fixture(scope="module")
def tables(params):
    """(v_esc curve table, rotation curve, K_z table) of the fixed-baryon NFW truth, noise-free,
    with errors like the published ones (3 %, 1-3 km/s with asymmetric columns, 10-20 %)."""
    model = MassModel(HALO_FAMILIES["nfw"], FixedBaryons.from_config(params["halo_mass"]["model"]["baryons"]))
    galaxy = model.build(TRUTH[None, :])
    vesc = galaxy.escape_speed(R_VESC, 0.0, 2.0)[0]
    curve = pd.DataFrame(
        {"r_gc_kpc": R_VESC, "vesc_kms": vesc, "err_plus_kms": 0.03 * vesc, "err_minus_kms": 0.03 * vesc}
    )
    err = np.linspace(1.0, 3.0, R_RC.size)
    rc = pd.DataFrame({"R": R_RC, "v_c": galaxy.circular_speed(R_RC)[0], "err+": err * 1.1, "err-": err * 0.9})
    kz = np.broadcast_to(dphi_dz(galaxy.components, R_KZ, 1.1), (1, R_KZ.size))[0] / KZ_2PIG_MSUN_PC2_IN_KMS2_KPC
    kz_table = pd.DataFrame(
        {
            0: -0.5,
            1: 0.2,
            2: R_KZ,
            3: 1.1 * kz,
            4: 0.2 * kz,
            5: 8.0 - R_KZ,
            6: kz,
            7: np.linspace(0.2, 0.1, R_KZ.size) * kz,
        }
    )
    return curve, rc, kz_table


def test_rotation_curve_constraint_from_the_file_layout(tables, analysis_b):
    _, rc, _ = tables
    cfg = analysis_b["rotation_curve"]
    wide = pd.concat([rc, pd.DataFrame({"R": [30.0], "v_c": [190.0], "err+": [5.0], "err-": [5.0]})], ignore_index=True)
    out = combined_nodes.build_rotation_curve_constraint(wide, cfg)
    assert len(out) == len(rc) and out["R_kpc"].max() < 25.0  # R = 30 kpc outside R_range_kpc
    np.testing.assert_allclose(out["vc_err_up_kms"], 0.5 * (rc["err+"] + rc["err-"]))  # error_columns: mean
    plus_minus = combined_nodes.build_rotation_curve_constraint(rc, cfg | {"error_columns": "plus_minus"})
    np.testing.assert_allclose(plus_minus["vc_err_up_kms"], rc["err+"])
    minus_plus = combined_nodes.build_rotation_curve_constraint(rc, cfg | {"error_columns": "minus_plus"})
    np.testing.assert_allclose(minus_plus["vc_err_up_kms"], rc["err-"])
    merged = rc.astype(str).agg("\t".join, axis=1).to_frame("R\tv_c\terr+\terr-")  # a tab file read with sep=','
    with pytest.raises(
        ValueError, match=r"rotation-curve table: expected the columns \['R', 'v_c', 'err\+', 'err-'\].*sep"
    ):
        combined_nodes.build_rotation_curve_constraint(merged, cfg)
    with pytest.raises(
        ValueError, match=r"rotation-curve table: column 'v_c' must not be missing \(NaN\): e.g. nan \(row 3;"
    ):
        combined_nodes.build_rotation_curve_constraint(
            rc.assign(v_c=np.where(np.arange(len(rc)) == 3, np.nan, rc["v_c"])), cfg
        )
    with pytest.raises(ValueError, match=r"rotation curve: 1 point\(s\) in R = \[5, 6\] kpc; the fit needs at least 3"):
        combined_nodes.build_rotation_curve_constraint(rc, cfg | {"R_range_kpc": [5.0, 6.0]})
    with pytest.raises(ValueError, match="error_columns must be one of"):
        combined_nodes.build_rotation_curve_constraint(rc, cfg | {"error_columns": "upper_first"})


def test_vertical_force_constraint_from_the_file_layout(tables, analysis_b):
    _, _, kz = tables
    cfg = analysis_b["vertical_force"]
    out = combined_nodes.build_vertical_force_constraint(kz, cfg)
    assert len(out) == len(kz) and (out["z_kpc"] == 1.1).all()
    np.testing.assert_allclose(out["kz_kms2_kpc"], kz[6] * KZ_2PIG_MSUN_PC2_IN_KMS2_KPC)
    header_eaten = kz.iloc[1:].set_axis([str(v) for v in kz.iloc[0]], axis=1)  # loaded without header=None
    with pytest.raises(ValueError, match="K_z table: expected unnamed columns 0 ... 7.*header=None"):
        combined_nodes.build_vertical_force_constraint(header_eaten, cfg)
    with pytest.raises(ValueError, match="expected 8 comma-separated columns"):
        combined_nodes.build_vertical_force_constraint(kz.drop(columns=7), cfg)
    with pytest.raises(ValueError, match="K_z table: 0 point"):
        combined_nodes.build_vertical_force_constraint(kz, cfg | {"R_range_kpc": [10.0, 20.0]})


@pytest.fixture(scope="module")
def fitted(tables, params, analysis_b):
    curve_table, rc_table, kz_table = tables
    hm = params["halo_mass"]
    curve = nodes.build_published_curve(curve_table, hm["curve"])
    rc = combined_nodes.build_rotation_curve_constraint(rc_table, analysis_b["rotation_curve"])
    kz = combined_nodes.build_vertical_force_constraint(kz_table, analysis_b["vertical_force"])
    chains = combined_nodes.fit_analysis_b(
        curve, rc, kz, hm["model"], analysis_b, params["galaxy_frame"], params["cosmology"], "synthetic"
    )
    summary, table, markdown = combined_nodes.summarise_analysis_b(
        chains, hm["model"], analysis_b, params["galaxy_frame"], params["cosmology"]
    )
    curves = combined_nodes.predict_analysis_b_curves(chains, kz, hm["model"], analysis_b, params["cosmology"])
    return {
        "curve": curve,
        "rc": rc,
        "kz": kz,
        "chains": chains,
        "summary": summary,
        "table": table,
        "markdown": markdown,
        "curves": curves,
    }


def test_fit_grid_outputs(fitted, analysis_b):
    chains = fitted["chains"]
    names = [
        "nfw.fixed.vesc",
        "nfw.fixed.combined",
        "einasto.fixed.vesc",
        "einasto.fixed.combined",
        "nfw.mcmillan17.rc_kz",
    ]
    assert (
        list(chains["fits"]) == names
        and chains["data_label"] == "synthetic"
        and chains["vesc_curve_source"] == "published"
    )
    s = analysis_b["sampler"]
    nfw = chains["fits"]["nfw.fixed.combined"]
    assert nfw["chain"].shape == (s["n_steps"] // 2, s["n_walkers"], 2) and nfw["chain"].dtype == np.float32
    assert nfw["n_burn"] == s["n_steps"] // 2 and nfw["constraints"] == list(analysis_b["constraint_sets"]["combined"])
    assert set(nfw["goodness"]) == set(nfw["constraints"])
    # Noise-free in-family data: the maximum lies at the truth, with chi2 ~ 0.
    assert nfw["max_posterior"]["log10_M200"] == pytest.approx(TRUTH[0], abs=0.01)
    assert nfw["max_posterior"]["c200"] == pytest.approx(TRUTH[1], abs=0.3)
    assert nfw["goodness"]["rotation_curve"]["chi2"] < 1.0 and nfw["goodness"]["vertical_force"]["n_points"] == len(
        R_KZ
    )
    mc = chains["fits"]["nfw.mcmillan17.rc_kz"]
    assert mc["parameter_names"][2:] == [
        "rho0_bulge_msun_pc3",
        "sigma0_thin_msun_pc2",
        "rd_thin_kpc",
        "sigma0_thick_msun_pc2",
        "rd_thick_kpc",
    ]


def test_summary_table_and_report(fitted):
    summary, table = fitted["summary"], fitted["table"]
    json.dumps(summary)  # JSON-ready
    fit = summary["fits"]["nfw.fixed.combined"]
    assert {
        "family",
        "baryons",
        "constraint_set",
        "constraints",
        "estimates",
        "diagnostics",
        "goodness",
        "max_posterior",
    } <= set(fit)
    e = fit["estimates"]
    assert set(reports.QUANTITIES_B) | {"log10_M200", "M_baryon_r200_msun", "c200"} <= set(e)
    for q in e.values():
        assert q["lo"] <= q["median"] <= q["hi"] and q["err_plus"] == pytest.approx(q["hi"] - q["median"])
    assert e["M200_msun"]["median"] == pytest.approx(9e11, rel=0.05)
    assert e["M_total_r200_msun"]["median"] == pytest.approx(
        e["M200_msun"]["median"] + e["M_baryon_r200_msun"]["median"], rel=1e-3
    )
    assert 0.2 < e["rho_dm_R0_gev_cm3"]["median"] < 0.5 and 480 < e["vesc_R0_kms"]["median"] < 560
    assert (
        list(table["fit"]) == list(summary["fits"])
        and table.loc[1, "constraints"] == "vesc_curve+vc_R0+rotation_curve+vertical_force"
    )
    assert {"M200_msun_median", "rho_dm_R0_gev_cm3_err_plus", "chi2_rotation_curve", "converged"} <= set(table.columns)
    assert np.isnan(table.loc[0, "chi2_rotation_curve"])  # the v_esc-only fit has no rotation-curve term
    md = fitted["markdown"]
    assert md.count("| nfw | fixed |") == 2 * 2 and "| nfw | mcmillan17 | rotation_curve + vertical_force |" in md
    assert "rho_DM(R0) [GeV/cm3]" in md and "synthetic" in md


def test_posteriors_piling_up_at_a_prior_bound_are_flagged(fitted, params, analysis_b, caplog):
    """A c200 posterior pushed against its upper bound (30) is named in the summary, the table,
    the report and a warning; the fitted chains themselves are not."""
    assert all(fit["at_prior_edge"] == [] for fit in fitted["summary"]["fits"].values())
    chains = {**fitted["chains"], "fits": {"nfw.fixed.combined": dict(fitted["chains"]["fits"]["nfw.fixed.combined"])}}
    fit = chains["fits"]["nfw.fixed.combined"]
    fit["chain"] = fit["chain"].copy()
    fit["chain"][..., 1] = np.linspace(28.0, 30.0, fit["chain"][..., 1].size).reshape(fit["chain"].shape[:2])
    hm = params["halo_mass"]
    with caplog.at_level("WARNING"):
        summary, table, md = combined_nodes.summarise_analysis_b(
            chains, hm["model"], analysis_b, params["galaxy_frame"], params["cosmology"]
        )
    assert summary["fits"]["nfw.fixed.combined"]["at_prior_edge"] == ["c200"]
    assert table.loc[0, "at_prior_edge"] == "c200" and "| no | c200 |" in md
    assert (
        "nfw.fixed.combined: posterior piles up at the edge of its prior range: c200 against its upper bound"
        in caplog.text
    )


def test_curves_and_figures(fitted, analysis_b):
    curves = fitted["curves"]
    n = int(analysis_b["figures"]["n_radii"])
    mc = curves[(curves["fit"] == "nfw.mcmillan17.rc_kz") & (curves["quantity"] == "vc_kms")]
    assert set(mc["component"]) == {"bulge", "thin_disk", "thick_disk", "gas", "halo", "total"} and len(mc) == 6 * n
    assert set(curves[curves["quantity"] == "vesc_kms"]["component"]) == {"total"}
    assert (curves["lo"] <= curves["median"] + 1e-9).all() and (curves["median"] <= curves["hi"] + 1e-9).all()
    total = curves[
        (curves["fit"] == "nfw.fixed.combined") & (curves["quantity"] == "vc_kms") & (curves["component"] == "total")
    ]
    truth = np.interp(fitted["rc"]["R_kpc"], total["R_kpc"], total["median"])
    np.testing.assert_allclose(truth, fitted["rc"]["vc_kms"], rtol=0.02)
    figs = [
        figures.plot_rotation_curve_analysis_b(curves, fitted["rc"], fitted["summary"], analysis_b),
        figures.plot_vertical_force_analysis_b(curves, fitted["kz"], fitted["summary"], analysis_b),
        figures.plot_vesc_analysis_b(curves, fitted["curve"], fitted["summary"], analysis_b),
    ]
    for fig in figs:
        assert isinstance(fig, Figure)
        visible = [ax for ax in fig.axes if ax.axison]
        assert len(visible) == len(fitted["summary"]["fits"])  # 3 x 2 grid, one panel unused
    titles = [ax.get_title() for ax in figs[0].axes if ax.axison]
    assert "nfw.fixed.vesc\nnot fitted (prediction)" in titles and "nfw.fixed.combined\nfitted" in titles


def test_fits_do_not_depend_on_the_number_of_workers(fitted, params, analysis_b):
    hm = params["halo_mass"]
    grid = {"grid": {"families": ["nfw"], "baryons": ["fixed"], "constraint_sets": ["vesc", "rc_kz"]}, "extra_fits": []}
    runs = [
        combined_nodes.fit_analysis_b(
            fitted["curve"],
            fitted["rc"],
            fitted["kz"],
            hm["model"],
            analysis_b | grid | {"n_workers": n},
            params["galaxy_frame"],
            params["cosmology"],
            "synthetic",
        )
        for n in (1, 2)
    ]
    serial, pooled = (run["fits"] for run in runs)
    assert list(serial) == list(pooled) == ["nfw.fixed.vesc", "nfw.fixed.rc_kz"]
    for name in serial:
        np.testing.assert_array_equal(serial[name]["chain"], pooled[name]["chain"])
        assert serial[name]["wall_seconds"] > 0
