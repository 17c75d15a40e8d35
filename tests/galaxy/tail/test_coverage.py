"""coverage: bias, scatter and coverage of calibration fits, the leave-one-out correction and the calibrated curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkyway_mass.galaxy.tail.coverage import (
    calibrated_curve,
    coverage_summary,
    leave_one_out_coverage,
    score_posterior,
)


def _fits(rng, n, bias, scatter, sigma_post, df="a", bins=(1, 2)):
    rows = []
    for b in bins:
        truth = 500.0 - 10 * b
        med = truth * (1 + bias + scatter * rng.standard_normal(n))
        half = sigma_post * truth
        rows.append(
            pd.DataFrame(
                {
                    "estimator": "e",
                    "errors": "none",
                    "df": df,
                    "binning": "bin1",
                    "bin": b,
                    "realisation": np.arange(n),
                    "vesc_true": truth,
                    "vesc_median": med,
                    "vesc_p16": med - half,
                    "vesc_p84": med + half,
                    "vesc_p2.5": med - 1.96 * half,
                    "vesc_p97.5": med + 1.96 * half,
                    "pull": (med - truth) / half,
                    "rank": stats.norm.cdf((truth - med) / half),
                    "converged": True,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_coverage_summary_measures_bias_scatter_and_coverage():
    rng = np.random.default_rng(0)
    honest = coverage_summary(_fits(rng, 4000, 0.0, 0.03, 0.03))
    row = honest.iloc[0]
    assert row["coverage_68"] == pytest.approx(0.683, abs=0.02) and row["coverage_95"] == pytest.approx(0.95, abs=0.01)
    assert abs(row["mean_bias"]) < 0.002 and row["scatter"] == pytest.approx(0.03, rel=0.05)
    assert len(row["rank_histogram"].split()) == 10
    overconfident = coverage_summary(_fits(rng, 4000, 0.02, 0.03, 0.015)).iloc[0]
    assert overconfident["coverage_68"] < 0.45 and overconfident["mean_bias"] == pytest.approx(0.02, abs=0.003)


def test_calibration_correction_restores_coverage_left_out():
    rng = np.random.default_rng(1)
    fits = pd.concat([_fits(rng, 1500, 0.03, 0.04, 0.02, df=name) for name in ("a", "b", "c")], ignore_index=True)
    assert coverage_summary(fits, by=("df",))["coverage_68"].max() < 0.45
    loo = leave_one_out_coverage(fits)
    assert list(loo["left_out_df"]) == ["a", "b", "c"]
    assert np.all(np.abs(loo["mean_bias"]) < 0.006)
    assert np.all(np.abs(loo["coverage_68"] - 0.683) < 0.04)


def test_held_out_df_is_tested_with_the_whole_family_correction():
    rng = np.random.default_rng(3)
    family = pd.concat([_fits(rng, 1500, 0.03, 0.04, 0.02, df=name) for name in ("a", "b")], ignore_index=True)
    other = _fits(rng, 1500, -0.05, 0.04, 0.02, df="x")
    loo = leave_one_out_coverage(pd.concat([family, other], ignore_index=True), held_out=["x"]).set_index("left_out_df")
    assert list(loo["held_out"]) == [False, False, True]
    assert np.all(np.abs(loo.loc[["a", "b"], "mean_bias"]) < 0.006)
    assert loo.loc["x", "mean_bias"] == pytest.approx(-0.08 / 1.03, abs=0.006)  # corrected for +3 %, truly −5 %


def test_calibrated_curve_removes_bias_and_adds_the_systematic_in_quadrature():
    rng = np.random.default_rng(2)
    fits = _fits(rng, 3000, 0.05, 0.04, 0.03)
    table = pd.DataFrame(
        {
            "binning": "bin1",
            "bin": [1, 2, 3],
            "vesc_median": [525.0, 504.0, 400.0],
            "vesc_err_minus": [15.0, 14.0, 10.0],
            "vesc_err_plus": [16.0, 15.0, 11.0],
        }
    )
    out = calibrated_curve(table, fits, "test")
    assert out.loc[0, "vesc_median"] == pytest.approx(500.0, rel=0.005)
    assert out.loc[0, "vesc_sigma_sys"] == pytest.approx(np.sqrt(0.04**2 - 0.03**2), rel=0.1)
    assert out.loc[0, "vesc_err_minus"] > 15.0 * out.loc[0, "vesc_median"] / 525.0
    assert out.loc[2, "vesc_median"] == 400.0 and np.isnan(out.loc[2, "vesc_bias"])  # no calibration for bin 3
    assert set(out["calibration"]) == {"test"}


def test_score_posterior_pull_on_the_truths_side_and_rank():
    samples = np.random.default_rng(5).normal(500.0, 10.0, 200_000)
    low = score_posterior(samples, 480.0)
    assert low["vesc_median"] == pytest.approx(500.0, abs=0.2)
    assert low["pull"] == pytest.approx(2.0, abs=0.03) and low["rank"] == pytest.approx(0.0228, abs=0.002)
    assert score_posterior(samples, 520.0)["pull"] == pytest.approx(-2.0, abs=0.03)
    assert score_posterior(np.full(10, 500.0), 490.0)["pull"] == np.inf
