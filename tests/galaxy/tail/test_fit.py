"""Tests of the emcee tail fits: recovery, outliers, model choice, error bias, process pool."""

import numpy as np
import pytest
from scipy.stats import beta as beta_distribution

from milkyway_mass.galaxy.tail.fit import (
    FitTask,
    SamplerSettings,
    aic,
    batches,
    choose_k_range,
    fit_bin,
    k_range_label,
    maximise_likelihood,
    prior_and_start,
    run_fits,
    tail_prior,
    task_seed,
)
from milkyway_mass.galaxy.tail.likelihood import TailData, TailLikelihood

V_MIN = 300.0
FAST = SamplerSettings(n_walkers=24, n_burn=400, n_keep=400, polish_max_iter=1500)


def power_law_bin(n, vesc0=520.0, k=2.0, gamma=0.4, r_range=(8.0, 12.0), sigma=10.0, seed=0):
    """Stars drawn exactly from the bound power law with the in-bin slope gamma (r0 = median r)."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(*r_range, n)
    r0 = float(np.median(r))
    vesc = vesc0 * (r / r0) ** (-gamma / 2)
    v = vesc - (vesc - V_MIN) * rng.uniform(size=n) ** (1.0 / (k + 1.0))
    return v, r, np.full(n, sigma), r0


def _prior(kind="published", k_range=(0.1, 3.7), f_range=(1e-6, 1.0), v_min=V_MIN):
    return tail_prior(kind, v_min, k_range, {"vesc_max_kms": 1000.0, "gamma": (0.0, 1.0), "f": f_range})


def make_task(v, r, sigma, r0, k_range=(0.1, 3.7), k0=3.0, f_range=(1e-6, 1.0), kind="published", seed=1, sampler=FAST):
    data = TailData(v=v, r=r, sigma=sigma, v_min=np.full(v.size, V_MIN), r0=r0)
    prior = _prior(kind, k_range, f_range)
    return FitTask(
        key=("bin1", 0, k_range_label(k_range)),
        data=data,
        prior=prior,
        theta0=(500.0, k0, 0.1, 1e-5),
        scatter=(5.0, 0.05, 0.01, 1e-6),
        likelihood=kind,
        sigma_out=1000.0,
        sampler=sampler,
        seed=seed,
    )


def kept(result):
    return result["chain"][result["n_burn_stored"] :].reshape(-1, 4).astype(float)


def test_power_law_sample_is_recovered():
    v, r, sigma, r0 = power_law_bin(800, vesc0=520.0, k=1.8, gamma=0.4, seed=3)
    res = fit_bin(make_task(v, r, sigma, r0))
    s = kept(res)
    p16, p50, p84 = np.percentile(s, [16, 50, 84], axis=0)
    half = 0.5 * (p84 - p16)
    assert abs(p50[0] - 520.0) < 3 * half[0]
    assert abs(p50[1] - 1.8) < 3 * half[1]
    assert half[0] < 25.0  # an informative measurement, not the prior
    assert p50[3] < 0.01  # no outliers were injected
    assert res["chain"].shape == (800, 24, 4) and res["chain"].dtype == np.float32
    assert 0.2 < res["acceptance_fraction"] < 0.8
    assert res["tau"].shape == (4,) and np.all(res["tau"] > 0)
    assert res["converged"] == (400 > 50 * np.max(res["tau"]))
    assert res["aic"] == pytest.approx(8.0 - 2.0 * res["ln_l_max"])
    # L_max (polished) is at least the best sampled likelihood
    like = TailLikelihood(make_task(v, r, sigma, r0).data, 1000.0)
    assert res["ln_l_max"] >= like(s).max() - 1e-9


def df_consistent_bin(n, vesc0=520.0, k=2.0, gamma=0.4, r_range=(8.0, 12.0), seed=0):
    """Stars drawn exactly from p(v | r) ∝ v² (v_esc(r)² − v²)^k on [V_MIN, v_esc(r)): x = v²/v_esc² ~ Beta(3/2, k+1) above x_min."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(*r_range, n)
    r0 = float(np.median(r))
    vesc = vesc0 * (r / r0) ** (-gamma / 2)
    dist = beta_distribution(1.5, k + 1.0)
    lo = dist.cdf((V_MIN / vesc) ** 2)
    x = dist.ppf(lo + (1.0 - lo) * rng.uniform(size=n))
    return vesc * np.sqrt(x), r, np.full(n, 1e-3), r0


def test_df_consistent_sample_is_recovered_where_published_form_is_biased():
    v, r, sigma, r0 = df_consistent_bin(1500, vesc0=520.0, k=2.5, gamma=0.4, seed=4)
    res = fit_bin(make_task(v, r, sigma, r0, k_range=(0.0, 6.0), k0=2.0, kind="df_consistent", seed=5))
    s = kept(res)
    p16, p50, p84 = np.percentile(s, [16, 50, 84], axis=0)
    half = 0.5 * (p84 - p16)
    assert abs(p50[0] - 520.0) < 2.5 * half[0] and half[0] < 20.0
    assert abs(p50[1] - 2.5) < 2.5 * half[1]
    pub = kept(fit_bin(make_task(v, r, sigma, r0, k_range=(0.1, 3.7), k0=3.0, kind="published", seed=5)))
    p16p, p50p, p84p = np.percentile(pub[:, 0], [16, 50, 84])
    assert abs(p50p - 520.0) > 3 * 0.5 * (p84p - p16p)  # the same stars mislead the published form


def power_exp_bin(n, vesc0=480.0, k=1.5, b=5.0, gamma=0.4, r_range=(8.0, 12.0), seed=0):
    """Stars drawn exactly from p(v | r) ∝ v² (v_esc² − v²)^k exp(b (v_esc² − v²)/v_esc0²) on [V_MIN, v_esc):
    the Beta draws of :func:`df_consistent_bin`, kept with probability exp(b_rel (t − t_max)), t = 1 − v²/v_esc²."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(*r_range, 20 * n)
    r0 = 10.0
    vesc = vesc0 * (r / r0) ** (-gamma / 2)
    dist = beta_distribution(1.5, k + 1.0)
    lo = dist.cdf((V_MIN / vesc) ** 2)
    x = dist.ppf(lo + (1.0 - lo) * rng.uniform(size=r.size))
    b_rel = b * (vesc / vesc0) ** 2
    t_max = 1.0 - (V_MIN / vesc) ** 2
    keep = np.flatnonzero(rng.uniform(size=r.size) < np.exp(b_rel * (1.0 - x - t_max)))[:n]
    assert keep.size == n
    return (vesc * np.sqrt(x))[keep], r[keep], np.full(n, 1e-3), r0


def test_df_power_exp_sample_is_recovered():
    v, r, sigma, r0 = power_exp_bin(2000, vesc0=480.0, k=1.5, b=5.0, gamma=0.4, seed=6)
    data = TailData(v=v, r=r, sigma=sigma, v_min=np.full(v.size, V_MIN), r0=r0)
    prior, theta0, scatter = prior_and_start(
        "df_power_exp",
        V_MIN,
        (0.0, 6.0),
        2.0,
        {"vesc_max_kms": 1000.0, "gamma": [0.0, 1.0], "f": [1e-6, 1.0], "b": [-5.0, 20.0]},
        {"vesc_kms": 500.0, "gamma": 0.1, "f": 1e-5, "b": 1.0},
        {"vesc_kms": 5.0, "k": 0.05, "gamma": 0.01, "f": 1e-6, "b": 0.1},
    )
    assert theta0 == (500.0, 2.0, 0.1, 1e-5, 1.0) and prior.upper[-1] == 20.0
    assert prior.names == ("v_esc", "k", "gamma", "f", "b") and prior.log_uniform.tolist() == [True] + [False] * 4
    task = FitTask(
        key=("bin1", 0, "k0-6"),
        data=data,
        prior=prior,
        theta0=theta0,
        scatter=scatter,
        likelihood="df_power_exp",
        sigma_out=1000.0,
        sampler=SamplerSettings(n_walkers=24, n_burn=600, n_keep=600, polish_max_iter=1500),
        seed=3,
    )
    res = fit_bin(task)
    assert res["parameter_names"] == ("v_esc", "k", "gamma", "f", "b") and res["chain"].shape[-1] == 5
    assert res["aic"] == pytest.approx(10.0 - 2.0 * res["ln_l_max"])
    s = res["chain"][res["n_burn_stored"] :].reshape(-1, 5).astype(float)
    p16, p50, p84 = np.percentile(s, [16, 50, 84], axis=0)
    half = 0.5 * (p84 - p16)
    for j, truth in ((0, 480.0), (1, 1.5), (2, 0.4), (4, 5.0)):
        assert abs(p50[j] - truth) < 3 * half[j], (j, p50[j], half[j])
    assert half[0] < 30.0


def test_prior_and_start_names_missing_settings():
    with pytest.raises(ValueError, match="escape_velocity.priors.b"):
        prior_and_start(
            "df_power_exp",
            V_MIN,
            (0.0, 6.0),
            2.0,
            {"vesc_max_kms": 1000.0, "gamma": [0.0, 1.0], "f": [1e-6, 1.0]},
            {"vesc_kms": 500.0, "gamma": 0.1, "f": 1e-5},
            {"vesc_kms": 5.0, "k": 0.05, "gamma": 0.01, "f": 1e-6},
        )


def test_outlier_term_absorbs_unbound_stars():
    rng = np.random.default_rng(8)
    v, r, sigma, r0 = power_law_bin(600, vesc0=500.0, k=2.0, gamma=0.0, seed=8)
    n_out = 30
    v = np.concatenate([v, rng.uniform(560.0, 700.0, n_out)])
    r = np.concatenate([r, rng.uniform(8.0, 12.0, n_out)])
    sigma = np.full(v.size, 10.0)
    res = fit_bin(make_task(v, r, sigma, r0))
    p16, p50, p84 = np.percentile(kept(res), [16, 50, 84], axis=0)
    assert abs(p50[0] - 500.0) < max(3 * 0.5 * (p84[0] - p16[0]), 15.0)
    assert 0.02 < p50[3] < 0.1  # injected fraction 30/630 = 0.048
    # without the outlier term (f pinned near 0) the fit must stretch v_esc over the unbound stars
    pinned = make_task(v, r, sigma, r0, f_range=(1e-6, 2e-6))
    theta, _ = maximise_likelihood(
        TailLikelihood(pinned.data, 1000.0), pinned.prior, np.array([700.0, 3.0, 0.1, 1.5e-6]), 3000
    )
    assert theta[0] > 600.0


@pytest.mark.parametrize(("k_true", "expected"), [(3.3, "k0.1-3.7"), (1.0, "k0.1-2.5")])
def test_model_choice_picks_generating_k_range(k_true, expected):
    v, r, sigma, r0 = power_law_bin(1500, vesc0=500.0, k=k_true, gamma=0.2, seed=21)
    fits = {}
    for k_range, k0 in (((0.1, 2.5), 2.0), ((0.1, 3.7), 3.0)):
        fits[k_range_label(k_range)] = fit_bin(make_task(v, r, sigma, r0, k_range=k_range, k0=k0))
    assert choose_k_range(fits, tie_tolerance=0.5) == expected
    lnl = [f["ln_l_max"] for f in fits.values()]
    if k_true > 2.5:
        assert lnl[1] - lnl[0] > 2.0  # clear-cut: AIC differs by more than 4
    else:
        assert abs(lnl[1] - lnl[0]) < 0.5  # nested ranges, same maximum


def test_choose_k_range_rules():
    fits = {"a": {"ln_l_max": -100.0}, "b": {"ln_l_max": -99.8}, "c": {"ln_l_max": -90.0}}
    assert choose_k_range({k: fits[k] for k in "ab"}, 0.5) == "a"  # tie keeps the first (narrower)
    assert choose_k_range({k: fits[k] for k in "ab"}, 0.0) == "b"  # strictly larger L_max wins
    assert choose_k_range(fits, 0.5) == "c"
    assert aic(-100.0, 4) == pytest.approx(208.0)
    with pytest.raises(ValueError, match="no fits"):
        choose_k_range({}, 0.5)


def test_convolved_fit_is_unbiased_where_published_is_biased_high():
    """Speed errors of ~15 % of v smear the tail above v_esc: maximum-likelihood fits of both models."""
    rng = np.random.default_rng(4)
    vesc, k, n = 500.0, 2.0, 25_000
    v_true = vesc - vesc * rng.uniform(size=n) ** (1.0 / (k + 1.0))  # power law down to v = 0
    sigma = 60.0 * rng.uniform(0.8, 1.2, n)  # ~15 % of v at 400 km/s
    v_obs = v_true + sigma * rng.standard_normal(n)
    sel = (v_obs >= V_MIN) & (v_obs < 700.0)
    data = TailData(
        v=v_obs[sel], r=np.full(sel.sum(), 10.0), sigma=sigma[sel], v_min=np.full(sel.sum(), V_MIN), r0=10.0
    )
    prior = _prior()
    best = {}
    for kind in ("published", "convolved"):
        like = TailLikelihood(data, 1000.0, kind)
        fits = [
            maximise_likelihood(like, prior, np.array(start), 4000)
            for start in ([500.0, 2.0, 0.1, 1e-3], [620.0, 3.0, 0.1, 1e-2])
        ]
        best[kind] = max(fits, key=lambda f: f[1])[0]
    assert best["published"][0] - vesc > 80.0
    assert abs(best["convolved"][0] - vesc) < 50.0


def test_tail_prior_is_one_over_vesc_in_the_box():
    prior = _prior(v_min=450.0, k_range=(0.1, 2.5))
    theta = np.array(
        [[500.0, 2.0, 0.1, 1e-3], [800.0, 2.0, 0.1, 1e-3], [400.0, 2.0, 0.1, 1e-3], [500.0, 3.0, 0.1, 1e-3]]
    )
    lp = prior.log_prob(theta)
    np.testing.assert_allclose(lp[:2], -np.log([500.0, 800.0]))
    assert np.all(lp[2:] == -np.inf)
    with pytest.raises(ValueError, match="physical range"):
        _prior(f_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="needs low < high"):
        _prior(k_range=(2.0, 1.0))


def test_fits_do_not_depend_on_batching_or_workers_and_are_seeded():
    sampler = SamplerSettings(n_walkers=12, n_burn=60, n_keep=60, polish=False)
    tasks = []
    for i, n in enumerate((60, 90, 120)):
        v, r, sigma, r0 = power_law_bin(n, seed=i)
        task = make_task(v, r, sigma, r0, sampler=sampler, seed=task_seed(7, 0, i, 0))
        tasks.append(FitTask(**{**task.__dict__, "key": ("bin1", i, "k0.1-3.7")}))
    serial = run_fits(tasks, n_workers=1, progress=False, batch_size=3)
    pooled = run_fits(tasks, n_workers=2, progress=False, batch_size=1)
    assert set(serial) == set(pooled) == {t.key for t in tasks}
    for key in serial:
        np.testing.assert_array_equal(serial[key]["chain"], pooled[key]["chain"])
        assert serial[key]["ln_l_max"] == pooled[key]["ln_l_max"]
    assert not np.array_equal(serial[tasks[0].key]["chain"][-1], serial[tasks[1].key]["chain"][-1])
    assert task_seed(7, 0, 1, 0) != task_seed(7, 0, 1, 1)


def test_settings_reject_too_few_walkers():
    with pytest.raises(ValueError, match="n_walkers"):
        SamplerSettings(n_walkers=6)


def test_batches_hold_similar_numbers_of_stars():
    tasks = []
    for i, n in enumerate((200, 150, 120, 90, 60, 30, 25)):
        v, r, sigma, r0 = power_law_bin(n, seed=i)
        tasks.append(FitTask(**{**make_task(v, r, sigma, r0).__dict__, "key": ("bin1", i, "k")}))
    groups = batches(tasks, 3)
    assert [len(g) for g in groups] == [3, 2, 2]
    assert sorted(t.key for g in groups for t in g) == sorted(t.key for t in tasks)
    stars = [sum(t.data.n for t in g) for g in groups]
    assert max(stars) - min(stars) <= 200
    with pytest.raises(ValueError, match="batch_size"):
        batches(tasks, 0)
