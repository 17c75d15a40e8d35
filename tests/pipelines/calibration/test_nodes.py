"""Calibration nodes: configuration → jobs, summaries and the calibrated curve, on small hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.pipelines.calibration import nodes

EV = {"likelihood": "df_consistent", "priors": {"k_ranges": [[0.0, 6.0]]}}
CAL = {
    "estimators": {
        "published": {"likelihood": "published", "k_ranges": [[0.1, 2.5], [0.1, 3.7]], "k_init": [2, 3]},
        "dfc": {"likelihood": "df_consistent", "k_ranges": [[0, 6]], "k_init": [2]},
    },
    "compare": ["published", "dfc"],
    "binnings": ["bin1"],
    "bins": None,
    "min_stars": 20,
    "family": ["a", "b"],
    "held_out": [],
}


def _fits(estimator="dfc", errors="survey", bias=0.04):
    rng = np.random.default_rng(0)
    rows = []
    for df in ("a", "b"):
        for b in (1, 2):
            med = 500.0 * (1 + bias + 0.03 * rng.standard_normal(200))
            rows.append(
                pd.DataFrame(
                    {
                        "estimator": estimator,
                        "errors": errors,
                        "df": df,
                        "binning": "bin1",
                        "bin": b,
                        "realisation": np.arange(200),
                        "vesc_true": 500.0,
                        "vesc_median": med,
                        "vesc_p16": med - 10,
                        "vesc_p84": med + 10,
                        "vesc_p2.5": med - 20,
                        "vesc_p97.5": med + 20,
                        "pull": (med - 500) / 10,
                        "rank": 0.5,
                        "converged": True,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _table(binning):
    return pd.DataFrame(
        {
            "binning": binning,
            "bin": [1, 2],
            "vesc_median": [520.0, 520.0],
            "vesc_err_minus": [10.0, 10.0],
            "vesc_err_plus": [10.0, 10.0],
        }
    )


def test_calibrated_curve_uses_the_estimator_that_escape_velocity_ran():
    fits = pd.concat([_fits("dfc", bias=0.04), _fits("published", bias=-0.2), _fits("dfc", "none", bias=0.5)])
    out1, out2 = nodes.calibrate_vesc_curve(_table("bin1"), _table("bin2"), fits, CAL, EV)
    assert out1["vesc_median"].to_numpy() == pytest.approx(500.0, rel=0.01)
    assert out1["calibration"].iloc[0].startswith("dfc: 2 DFs x 200 realisations")
    assert out2["vesc_median"].tolist() == [520.0, 520.0] and out2["vesc_bias"].isna().all()  # bin2 not calibrated


def test_calibrated_curve_needs_a_matching_estimator():
    with pytest.raises(ValueError, match="no estimator with likelihood='convolved'"):
        nodes.calibrate_vesc_curve(_table("bin1"), _table("bin2"), _fits(), CAL, {**EV, "likelihood": "convolved"})


def test_summary_has_overall_and_per_bin_rows_and_leave_one_out():
    coverage, loo = nodes.summarise_calibration(pd.concat([_fits("dfc"), _fits("published")]), CAL)
    overall = coverage[coverage["bin"] == -1]
    assert len(overall) == 4 and set(overall["binning"]) == {"all"}
    assert len(coverage[coverage["bin"] >= 0]) == 8
    assert set(loo["left_out_df"]) == {"a", "b"} and len(loo) == 4 and not loo["held_out"].any()


def test_held_out_dfs_are_reported_but_never_enter_the_correction():
    fits = pd.concat(
        [_fits("dfc", bias=0.04), _fits("dfc", bias=0.04).assign(df="c", vesc_median=lambda d: d["vesc_median"] * 1.5)]
    )
    cal = {**CAL, "family": ["a", "b"], "held_out": ["c"]}
    coverage, loo = nodes.summarise_calibration(fits, cal)
    assert (
        coverage.set_index("df").loc["c", "held_out"].all() and not coverage.set_index("df").loc["a", "held_out"].any()
    )
    assert (
        loo.set_index("left_out_df").loc["c", "held_out"] and loo.set_index("left_out_df").loc["c", "mean_bias"] > 0.4
    )
    out1, _ = nodes.calibrate_vesc_curve(_table("bin1"), _table("bin2"), fits, cal, EV)
    assert out1["vesc_median"].to_numpy() == pytest.approx(500.0, rel=0.01)  # corrected with a and b only
    with pytest.raises(ValueError, match="also in calibration.family"):
        nodes.summarise_calibration(fits, {**cal, "held_out": ["a"]})


def test_bins_below_min_stars_are_not_calibrated():
    stars = pd.DataFrame({"bin": [1] * 30 + [2] * 5, "r_gc": 10.0, "sigma_v_gc": 10.0})
    radial = pd.DataFrame({"binning": "bin1", "bin": [1, 2], "v_min": [300.0, 300.0]})
    bins = nodes._calibration_bins({"bin1": stars}, radial, CAL)
    assert bins.to_dict("records") == [{"binning": "bin1", "bin": 1, "v_min": 300.0, "n_stars": 30}]
    with pytest.raises(ValueError, match="no bin of"):
        nodes._calibration_bins({"bin1": stars}, radial, {**CAL, "min_stars": 100})
