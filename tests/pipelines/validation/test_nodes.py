"""Validation nodes: truth comparisons on small hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.pipelines.validation import nodes

TRUTH = {"boundary": "2*r200", "vesc_curve": {"r_kpc": [4.0, 10.0, 50.0], "vesc_kms": [600.0, 500.0, 350.0]}}


def test_halo_cut_fractions_per_true_population():
    truth = pd.DataFrame(
        {"obsid": [1, 2, 3, 4, 5], "population": ["halo", "halo", "disk_thin", "disk_thin", "outlier_unbound"]}
    )
    hv = pd.DataFrame({"obsid": [1, 2, 3, 4, 5], "is_halo": [True, False, False, False, True]})
    out = nodes.halo_cut_vs_truth(truth, bin1=hv).set_index("population")
    assert out.loc["halo", "fraction_kept"] == 0.5
    assert out.loc["disk_thin", "n_high_velocity"] == 2 and out.loc["disk_thin", "n_kept"] == 0
    assert out.loc["outlier_unbound", "fraction_kept"] == 1.0


def test_true_vesc_interpolates_the_truth_grid():
    assert nodes.true_vesc(TRUTH, np.array([10.0]))[0] == pytest.approx(500.0)
    assert 500.0 < nodes.true_vesc(TRUTH, np.array([7.0]))[0] < 600.0


def test_vesc_recovery_pulls_and_coverage():
    table = pd.DataFrame(
        {
            "binning": ["bin1"] * 3,
            "bin": [0, 1, 2],
            "r0": [10.0, 10.0, 10.0],
            "n_stars": [100, 100, 3],
            "status": ["ok", "ok", "skipped: too few stars"],
            "converged": [True, False, np.nan],
            "vesc_median": [520.0, 470.0, np.nan],
            "vesc_err_minus": [10.0, 20.0, np.nan],
            "vesc_err_plus": [40.0, 10.0, np.nan],
        }
    )
    out = nodes.vesc_recovery(TRUTH, table)
    assert out.pull.iloc[0] == pytest.approx(2.0)  # above the truth: uses the lower error
    assert out.pull.iloc[1] == pytest.approx(-3.0)  # below the truth: uses the upper error
    assert not out.within_68.iloc[0] and not out.within_68.iloc[1]
    assert np.isnan(out.pull.iloc[2])
    summary = nodes.summarise_vesc_recovery(out)
    assert summary["bin1"]["n_bins_fitted"] == 2
    assert summary["bin1"]["max_abs_pull"] == pytest.approx(3.0)
    assert summary["bin1"]["unconverged_bins"] == [1]


def test_mass_recovery_pull_and_ratio():
    est = {"median": 8e11, "lo": 7e11, "hi": 1e12, "err_minus": 1e11, "err_plus": 2e11}
    summary = {
        "variants": {"nominal": {"estimates": {"M200_msun": est, "c200": est}, "diagnostics": {"converged": False}}}
    }
    truth = {"M200_msun": 1e12, "rho_dm_R0_gev_cm3": 0.3}
    out = nodes.mass_recovery(summary, truth)
    assert out.quantity.tolist() == ["M200_msun"]  # c200 has no truth here, rho_dm no estimate
    assert out.pull.iloc[0] == pytest.approx(-1.0)
    assert out.ratio.iloc[0] == pytest.approx(0.8)
    assert out.converged.tolist() == [False]
    b = nodes.analysis_b_recovery({"fits": {"nfw.fixed.combined": {"estimates": {"M200_msun": est}}}}, truth)
    assert b.fit.tolist() == ["nfw.fixed.combined"]
