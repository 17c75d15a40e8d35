"""Tests of the simulation-based calibration of the tail estimators (milkyway_mass.galaxy.tail.calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from milkyway_mass.galaxy.tail.calibration import (
    Estimator,
    build_jobs,
    energy_df,
    fit_realisation,
    job_batches,
    observe_bin,
    results_table,
    run_calibration,
    sample_speeds,
)
from milkyway_mass.galaxy.tail.coverage import coverage_summary
from milkyway_mass.galaxy.tail.fit import SamplerSettings


def test_power_law_df_speeds_follow_their_analytic_distribution(galaxy):
    """At one radius, f ∝ (E_b − E)^n gives p(v) ∝ v² (v_esc² − v²)^n on [v_min, v_esc]."""
    n, v_min, r = 2.0, 300.0, 10.0
    v = sample_speeds(galaxy, energy_df("power_2.0", galaxy), np.full(4000, r), v_min, np.random.default_rng(1))
    ve = float(galaxy.vesc(r)[0])
    assert v.min() >= v_min and v.max() < ve

    def pdf(x):
        return x**2 * (ve**2 - x**2) ** n

    norm = integrate.quad(pdf, v_min, ve)[0]
    result = stats.kstest(
        v, lambda x: np.array([integrate.quad(pdf, v_min, min(xi, ve))[0] for xi in np.atleast_1d(x)]) / norm
    )
    assert result.pvalue > 0.01


def test_smooth_truncation_vanishes_at_the_escape_energy_and_sharp_does_not(galaxy):
    tracer = {"scale_kpc": 15.0, "inner_slope": 2.0, "outer_slope": 3.5}
    e_b = float(galaxy.phi(galaxy.r_boundary)[0])
    e = e_b * np.array([1.2, 1.01, 1.0001])  # E_b < 0: towards the edge from inside
    sharp, smooth = energy_df("sharp", galaxy, tracer)(e), energy_df("smooth", galaxy, tracer)(e)
    assert np.all(sharp > 0) and sharp[-1] > 0.5 * sharp[-2]
    assert smooth[-1] < 1e-3 * smooth[0] and np.all(np.diff(smooth) < 0)
    assert energy_df("smooth", galaxy, tracer)(np.array([0.9 * e_b]))[0] == 0.0


def test_unknown_df_variant_is_a_clear_error(galaxy):
    with pytest.raises(ValueError, match="unknown DF variant 'isothermal'"):
        energy_df("isothermal", galaxy)
    with pytest.raises(ValueError, match="needs a tracer"):
        energy_df("sharp", galaxy)


@pytest.mark.parametrize("with_errors", [False, True])
def test_observed_bin_has_the_star_count_and_selection(galaxy, with_errors):
    rng = np.random.default_rng(3)
    survey_r = rng.uniform(14.0, 16.0, 300)
    survey_sigma = rng.uniform(5.0, 40.0, 300)
    f = energy_df("power_2.0", galaxy)
    s = observe_bin(galaxy, f, survey_r, survey_sigma, 250, 280.0, 700.0, with_errors, rng)
    assert s["v"].size == s["r"].size == s["sigma"].size == 250
    assert s["v"].min() >= 280.0 and s["v"].max() < 700.0
    assert np.all(np.isin(s["r"], survey_r))
    assert s["vesc_true"] == pytest.approx(float(galaxy.vesc(np.median(s["r"]))[0]))
    if with_errors:
        assert np.all(np.isin(s["sigma"], survey_sigma))
        assert np.any(s["v"] > galaxy.vesc(s["r"]))  # errors scatter some stars past the edge
    else:
        assert np.all(s["sigma"] == 0) and np.all(s["v"] < galaxy.vesc(s["r"]))


def test_calibration_runs_on_two_local_workers_and_is_seeded(galaxy):
    rng = np.random.default_rng(4)
    survey = pd.DataFrame(
        {"binning": "bin1", "bin": 7, "r_gc": rng.uniform(16.0, 20.0, 200), "sigma_v_gc": rng.uniform(5.0, 30.0, 200)}
    )
    bins = pd.DataFrame({"binning": ["bin1"], "bin": [7], "v_min": [270.0], "n_stars": [120]})
    fit = {
        "vesc_max_kms": 1000.0,
        "gamma": [0.0, 1.0],
        "f": [1e-6, 1.0],
        "sigma_out_kms": 1000.0,
        "v_max_kms": 700.0,
        "tie_lnL": 0.5,
        "init": {"vesc_kms": 500.0, "gamma": 0.1, "f": 1e-5},
        "init_scatter": {"vesc_kms": 5.0, "k": 0.05, "gamma": 0.01, "f": 1e-6},
    }
    estimators = [
        Estimator("published", "published", ((0.1, 2.5), (0.1, 3.7)), (2.0, 3.0)),
        Estimator("df_consistent", "df_consistent", ((0.0, 6.0),), (2.0,)),
    ]
    jobs = build_jobs(
        galaxy,
        {"power": {"variant": "power_2.0"}},
        bins,
        survey,
        estimators,
        2,
        ("none", "survey"),
        fit,
        SamplerSettings(n_walkers=12, n_burn=60, n_keep=60, polish_max_iter=100),
        seed=9,
    )
    assert len(jobs) == 2 * 2 * 2
    results = run_calibration(jobs, n_workers=2, progress=False)
    table = results_table(results)
    assert list(table[["estimator", "errors", "realisation"]].itertuples(index=False, name=None))[:3] == [
        ("published", "none", 0),
        ("df_consistent", "none", 0),
        ("published", "none", 1),
    ]
    assert table["vesc_true"].between(350, 500).all() and table["vesc_median"].between(270, 1000).all()
    assert table["rank"].between(0, 1).all()
    serial = fit_realisation(jobs[3])
    assert serial["vesc_median"] == table.loc[3, "vesc_median"]  # same seed, same numbers, on any worker
    batches = job_batches(jobs, 2 * len(jobs[0].tasks))
    assert sorted(i for batch in batches for i in batch) == list(range(len(jobs)))
    for batch in batches:
        assert len({jobs[i].tasks[0].likelihood for i in batch}) == 1
        assert sum(len(jobs[i].tasks) for i in batch) <= 2 * len(jobs[0].tasks)
    with pytest.raises(ValueError, match="batch_size"):
        job_batches(jobs, 0)
    summary = coverage_summary(table)
    assert len(summary) == 4 and summary["n_fits"].eq(2).all()
