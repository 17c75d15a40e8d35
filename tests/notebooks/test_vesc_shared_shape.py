"""The shared-shape joint fit study (notebooks/vesc_shared_shape.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.tail.likelihood import (
    log_bound_df_power_exp,
    log_outlier_density,
)

STUDY = Path(__file__).resolve().parents[2] / "notebooks" / "vesc_shared_shape.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("vesc_shared_shape", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("n_terms", [2, 3])
def test_joint_likelihood_matches_a_direct_sum_over_bins(study, n_terms):
    """Interpolated normalisations and slopes from the neighbouring nodes equal a star-by-star evaluation."""
    rng = np.random.default_rng(2)
    bins = []
    for r_lo, r_hi, v_min, vesc in ((8.0, 10.0, 300.0, 520.0), (10.0, 12.0, 290.0, 500.0), (12.0, 16.0, 280.0, 470.0)):
        r = np.exp(rng.uniform(np.log(r_lo), np.log(r_hi), 80))
        bins.append({"r": r, "v": rng.uniform(v_min, 0.95 * vesc, 80), "v_min": v_min, "r0": float(np.median(r))})
    post = study.SharedShapePosterior(bins, 1000.0, n_terms)
    theta = np.array(
        [
            [np.log(530.0), np.log(505.0), np.log(480.0), 1.2, 6.0, -2.0, 1.5, np.log(1e-3)],
            [np.log(560.0), np.log(520.0), np.log(500.0), 3.0, -4.0, 5.0, -1.0, np.log(0.02)],
        ]
    )
    theta = np.delete(theta, np.s_[4 + n_terms : 7], axis=1)
    assert theta.shape[1] == post.n_params
    log_r0 = np.log([b["r0"] for b in bins])
    expected = np.zeros(2)
    for w, th in enumerate(theta):
        gamma = -2.0 * np.gradient(th[:3], log_r0)
        for i, b in enumerate(bins):
            vesc = np.exp(th[i] - 0.5 * gamma[i] * np.log(b["r"] / b["r0"]))[None, :]
            u = (vesc / study.V_REF) ** 2
            coeffs = [th[4 + m] * u ** (m + 1) for m in range(n_terms)]
            lb = log_bound_df_power_exp(b["v"][None, :], vesc, np.array([th[3]]), coeffs, b["v_min"])
            f = np.exp(th[-1])
            expected[w] += np.logaddexp(
                np.log1p(-f) + lb, np.log(f) + log_outlier_density(b["v"], 0.0, b["v_min"], 1000.0)
            ).sum()
    np.testing.assert_allclose(post(theta), expected, rtol=0, atol=1e-6)
    outside = theta.copy()
    outside[0, 3] = 7.0  # k above its prior range
    assert post(outside)[0] == -np.inf and np.isfinite(post(outside)[1])


def test_study_runs_and_reports_coverage(study, tmp_path):
    out = study.main(
        [
            "--dfs",
            "steep_smooth",
            "--realisations",
            "1",
            "--bins",
            "8",
            "9",
            "10",
            "11",
            "--stars",
            "60",
            "--walkers",
            "20",
            "--burn",
            "40",
            "--keep",
            "40",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    fits = pd.read_csv(out / "fits.csv")
    assert len(fits) == 4 and fits["n_stars"].eq(60).all()
    assert fits["vesc_true"].between(300, 500).all()
    assert ((fits["vesc_p16"] <= fits["vesc_median"]) & (fits["vesc_median"] <= fits["vesc_p84"])).all()
    assert fits["k_median"].between(0, 6).all()
    assert "steep_smooth" in (out / "summary.md").read_text()
