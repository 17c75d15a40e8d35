"""fitting: the prior, the posterior as a sum of terms, emcee, the optimiser, the ball of
walkers, seeds, and recovery of a known halo."""

from __future__ import annotations

import numpy as np
import pytest

from milkyway_mass.galaxy.constraints.terms import (
    CircularSpeedTerm,
    EscapeVelocityTerm,
)
from milkyway_mass.galaxy.constraints.vesc_curve import kde_curve, split_normal_curve
from milkyway_mass.galaxy.fitting import (
    Posterior,
    Prior,
    chain_diagnostics,
    convergence_warning,
    estimate,
    fit_posterior,
    fit_seed,
    initial_ball,
    maximise,
    parameters_at_prior_edge,
    run_emcee,
    run_emcee_blocks,
)
from milkyway_mass.galaxy.model import HALO_FAMILIES, MassModel
from milkyway_mass.galaxy.potentials.baryons import FixedBaryons
from milkyway_mass.galaxy.units import Cosmology
from tests.conftest import load_params
from tests.galaxy.noise_free import (
    NFW_BOX,
    OPTIMIZER,
    POTENTIAL_CONSTRAINTS,
    SAMPLER,
    TRUTH_NFW,
    noise_free_data,
    posterior_for,
)

R0 = 8.122
# Radii and 68 % half-widths of the published Bin-1 curve (Wu et al. 2025, Table A1).
RADII = np.array([5.29, 7.09, 9.02, 10.83, 12.84, 14.90, 17.59, 21.97, 25.88, 29.86, 34.57, 42.06])
ERR_PLUS = np.array([20.42, 9.68, 10.67, 15.94, 14.78, 19.68, 11.44, 24.39, 10.20, 9.75, 14.69, 22.46])
ERR_MINUS = np.array([20.89, 11.09, 12.20, 18.04, 14.14, 14.99, 7.65, 17.73, 9.29, 13.23, 18.32, 21.15])


TRUTH = np.array([np.log10(8.0e11), 12.0])


@pytest.fixture(scope="module")
def spec(shared_params):
    """Analysis A's mass model: NFW + the fixed baryons of the parameters."""
    model = shared_params["halo_mass"]["model"]
    return MassModel(
        HALO_FAMILIES["nfw"],
        FixedBaryons.from_config(model["baryons"]),
        Cosmology.from_config(shared_params["cosmology"]),
    )


@pytest.fixture(scope="module")
def prior(spec, shared_params):
    return Prior.box(spec.parameter_names, shared_params["halo_mass"]["priors"])


def test_box_prior(prior):
    theta = np.array([[12.0, 10.0], [10.9, 10.0], [12.0, 31.0], [12.5, 1.0]])
    np.testing.assert_array_equal(prior.log_prob(theta), [0.0, -np.inf, -np.inf, 0.0])
    draws = prior.sample(np.random.default_rng(0), 1000)
    assert np.all(prior.log_prob(draws) == 0)
    with pytest.raises(ValueError, match=r"missing \['c200'\]"):
        Prior.box(("log10_M200", "c200"), {"log10_M200": [11, 12.5]})
    with pytest.raises(ValueError, match="low < high"):
        Prior.box(("log10_M200",), {"log10_M200": [12.5, 11]})


def _truth_terms(spec, curve_factory):
    """Terms for a curve generated exactly (noise-free) from the truth model, with realistic errors."""
    truth = spec.build(TRUTH[None, :])
    v_true = truth.escape_speed(RADII, 0.0, 2.0)[0]
    vc_true = truth.circular_speed(np.array([R0]))[0]
    return (
        EscapeVelocityTerm(curve_factory(v_true), 2.0),
        CircularSpeedTerm(np.array([R0]), vc_true, np.array([10.0]), name="vc_R0"),
    )


def test_posterior_is_vectorised_and_sums_the_terms(spec, prior):
    terms = _truth_terms(spec, lambda v: split_normal_curve(list(range(12)), RADII, v, ERR_MINUS, ERR_PLUS))
    posterior = Posterior(spec, prior, terms)
    theta = np.array([[11.5, 5.0], [12.2, 25.0], [13.0, 5.0], TRUTH])
    batch = posterior(theta)
    single = np.array([posterior(t[None, :])[0] for t in theta])
    np.testing.assert_allclose(batch, single, rtol=1e-13)
    assert batch[2] == -np.inf and np.isfinite(batch[[0, 1, 3]]).all()
    parts = posterior.log_likelihood_terms(theta[[0]])
    assert set(parts) == {"vesc_curve", "vc_R0"}
    assert batch[0] == pytest.approx(parts["vesc_curve"][0] + parts["vc_R0"][0])
    assert batch[3] == batch.max()


def _recover(spec, prior, curve_factory, seed):
    posterior = Posterior(spec, prior, _truth_terms(spec, curve_factory))
    fit = run_emcee(posterior, prior, n_walkers=24, n_burn=400, n_keep=400, seed=seed, progress=False)
    flat = fit["chain"].reshape(-1, 2)
    lo, hi = np.percentile(flat, [16, 84], axis=0)
    return fit, lo, hi


def test_fit_recovers_a_known_halo_from_a_published_style_curve(spec, prior):
    fit, lo, hi = _recover(
        spec, prior, lambda v: split_normal_curve(list(range(12)), RADII, v, ERR_MINUS, ERR_PLUS), 11
    )
    assert np.all((lo < TRUTH) & (TRUTH < hi)), (lo, hi)
    assert hi[0] - lo[0] < 0.15  # log10 M200 is constrained to better than ~0.07 dex
    d = fit["diagnostics"]
    assert 0.2 < d["acceptance_mean"] < 0.9 and set(d["autocorr_time"]) == {"log10_M200", "c200"}


def test_fit_recovers_a_known_halo_from_kde_chains(spec, prior):
    rng = np.random.default_rng(12)
    sigma = 0.5 * (ERR_PLUS + ERR_MINUS)
    factory = lambda v: kde_curve(list(range(12)), RADII, [rng.normal(m, s, 20_000) for m, s in zip(v, sigma)])  # noqa: E731
    _, lo, hi = _recover(spec, prior, factory, 13)
    assert np.all((lo < TRUTH) & (TRUTH < hi)), (lo, hi)


def test_emcee_is_seeded_and_checks_settings(spec, prior):
    terms = _truth_terms(spec, lambda v: split_normal_curve(list(range(12)), RADII, v, ERR_MINUS, ERR_PLUS))
    posterior = Posterior(spec, prior, terms)
    a = run_emcee(posterior, prior, n_walkers=8, n_burn=5, n_keep=10, seed=1, progress=False)
    b = run_emcee(posterior, prior, n_walkers=8, n_burn=5, n_keep=10, seed=1, progress=False)
    c = run_emcee(posterior, prior, n_walkers=8, n_burn=5, n_keep=10, seed=2, progress=False)
    assert a["chain"].shape == (10, 8, 2)
    np.testing.assert_array_equal(a["chain"], b["chain"])
    assert not np.array_equal(a["chain"], c["chain"])
    with pytest.raises(ValueError, match="n_walkers >= 4"):
        run_emcee(posterior, prior, n_walkers=3, n_burn=5, n_keep=10, seed=1, progress=False)
    start = np.array([11.9, 12.0]) + 1e-3 * np.random.default_rng(0).standard_normal((8, 2))
    d = run_emcee(posterior, prior, n_walkers=8, n_burn=0, n_keep=1, seed=1, progress=False, initial=start)
    assert np.all(np.abs(d["chain"][0] - start) < 0.1)  # one step from the given start, not the prior box
    with pytest.raises(ValueError, match=r"initial walker positions must have shape \(8, 2\)"):
        run_emcee(posterior, prior, n_walkers=8, n_burn=0, n_keep=1, seed=1, progress=False, initial=start[:4])


@pytest.fixture(scope="module")
def fixed():
    return FixedBaryons.from_config(load_params("base")["halo_mass"]["model"]["baryons"])


@pytest.fixture(scope="module")
def nfw_model(fixed):
    return MassModel(HALO_FAMILIES["nfw"], fixed)


def test_posterior_is_vectorised_and_rejects_invalid_halos(fixed):
    einasto = MassModel(HALO_FAMILIES["einasto"], fixed)
    data = noise_free_data(einasto, [6.4, 15.0, 5.0])
    box = {"log10_rho0_msun_kpc3": [0.0, 9.0], "r_s_kpc": [1.0, 100.0], "n": [1.0, 10.0]}
    post = posterior_for(einasto, box, data)
    theta = np.array([[6.4, 15.0, 5.0], [6.0, 20.0, 4.0], [0.5, 5.0, 3.0], [6.4, 150.0, 5.0]])
    lp = post(theta)
    rowwise = np.array([post(t[None, :])[0] for t in theta])
    np.testing.assert_allclose(lp, rowwise, rtol=1e-12)
    assert np.isfinite(lp[:2]).all() and lp[0] > lp[1]
    assert lp[2] == -np.inf  # rho0 = 10^0.5 Msun/kpc^3 never reaches 200 rho_crit: no r200
    assert lp[3] == -np.inf  # outside the prior box
    terms = post.log_likelihood_terms(theta[:3])
    assert set(terms) == set(POTENTIAL_CONSTRAINTS) and np.isinf(terms["rotation_curve"][2])


def test_fit_recovers_noise_free_truth_and_is_seeded(nfw_model):
    data = noise_free_data(nfw_model, TRUTH_NFW)
    post = posterior_for(nfw_model, NFW_BOX, data)
    best = maximise(post, np.array([12.0, 8.0]), OPTIMIZER, "nfw test")
    np.testing.assert_allclose(best["x"], TRUTH_NFW, atol=2e-3)
    assert best["log_posterior"] > best["start_log_posterior"]
    out = fit_posterior(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER, seed=5)
    assert out["chain"].shape == (20, 12, 2) and out["n_burn"] == 40 and out["store_thin"] == 2
    assert out["diagnostics"]["n_steps_kept"] == 40
    assert np.all(np.abs(np.median(out["chain"].reshape(-1, 2), axis=0) - TRUTH_NFW) < [0.02, 0.5])
    again = fit_posterior(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER, seed=5)
    np.testing.assert_array_equal(out["chain"], again["chain"])
    with pytest.raises(ValueError, match="zero posterior"):
        maximise(post, np.array([13.0, 8.0]), OPTIMIZER, "nfw test")
    with pytest.raises(ValueError, match="burn_fraction"):
        fit_posterior(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER | {"burn_fraction": 1.0}, seed=5)


def test_initial_ball_stays_in_the_box(nfw_model):
    post = posterior_for(nfw_model, NFW_BOX, noise_free_data(nfw_model, TRUTH_NFW))
    ball = initial_ball(
        np.array([12.5, 1.0]), post, 50, 0.05 * (post.prior.upper - post.prior.lower), np.random.default_rng(1)
    )
    assert ball.shape == (50, 2) and np.isfinite(post(ball)).all()
    assert (ball[:, 0] <= 12.5).all() and (ball[:, 1] >= 1.0).all() and np.ptp(ball[:, 0]) > 0


def test_fit_seeds_are_stable_and_distinct():
    assert fit_seed(1, "nfw.fixed.vesc") == fit_seed(1, "nfw.fixed.vesc") != fit_seed(1, "nfw.fixed.all")


def test_estimate():
    e = estimate(np.arange(101.0), [16, 84])
    assert e == {"median": 50.0, "lo": 16.0, "hi": 84.0, "err_minus": 34.0, "err_plus": 34.0}


def test_oblate_fit_recovers_a_flattened_truth(fixed):
    model = MassModel(HALO_FAMILIES["nfw_oblate"], fixed)
    truth = np.array([*TRUTH_NFW, 0.7])
    post = posterior_for(model, NFW_BOX | {"q": [0.1, 1.0]}, noise_free_data(model, truth))
    best = maximise(post, np.array([12.0, 9.0, 0.95]), OPTIMIZER, "nfw_oblate test")
    assert np.all(np.abs(best["x"] - truth) < [5e-3, 0.2, 0.02]), best["x"]


def test_diagnostics_of_a_stuck_chain_are_nan_and_not_converged():
    chain = np.ones((4, 6, 2))
    d = chain_diagnostics(chain, np.zeros(6), ["a", "b"])
    assert np.isnan(d["steps_over_autocorr_time"]) and np.isnan(d["effective_samples"]) and d["converged"] is False


def test_weighted_estimate_follows_the_weights():
    values = np.arange(1.0, 101.0)
    plain = estimate(values, [16, 84])
    assert estimate(values, [16, 84], np.ones(100))["median"] == pytest.approx(plain["median"], abs=0.5)
    heavy = np.where(values > 50, 9.0, 1.0)  # 90 % of the weight above 50
    assert estimate(values, [16, 84], heavy)["median"] > 70


def test_parameters_at_prior_edge_are_named():
    names = ("v_esc", "k", "gamma")
    rng = np.random.default_rng(0)
    kept = np.column_stack([rng.normal(500, 20, 4000), rng.uniform(2.5, 3.7, 4000), rng.uniform(0.0, 1.0, 4000)])
    # 1/6 of k lies in the top 5 % of [0.1, 3.7]; a flat gamma is not flagged
    assert parameters_at_prior_edge(kept, (300.0, 0.1, 0.0), (1000.0, 3.7, 1.0), names) == {"k": "upper bound 3.7"}
    assert parameters_at_prior_edge(kept, (300.0, 0.1, 0.0), (1000.0, 6.0, 1.0), names) == {}
    assert parameters_at_prior_edge(kept, (480.0, 0.1, 0.0), (1000.0, 6.0, 1.0), names) == {"v_esc": "lower bound 480"}


class _GaussianTerm:
    """ln L of B independent Gaussians (means ``mu[b]``, widths ``sd[b]``) for θ of shape (B, n, D)."""

    name = "gaussian"

    def __init__(self, mu, sd):
        self.mu, self.sd = np.asarray(mu)[:, None, :], np.asarray(sd)[:, None, :]
        self.calls = []

    def log_likelihood(self, theta, inside):
        self.calls.append(inside.copy())
        return -0.5 * np.sum(((theta - self.mu) / self.sd) ** 2, axis=-1)


def _block_fit(mu, sd, seeds, n_walkers=16, n_burn=300, n_keep=1500):
    priors = [Prior.box(("a", "b"), {"a": [-50.0, 50.0], "b": [-50.0, 50.0]}) for _ in mu]
    term = _GaussianTerm(mu, sd)
    initial = np.stack([m + 0.1 * np.random.default_rng(s).standard_normal((n_walkers, 2)) for m, s in zip(mu, seeds)])
    runs = run_emcee_blocks(
        Posterior(None, Prior.stack(priors), (term,)),
        priors,
        initial,
        n_burn=n_burn,
        n_keep=n_keep,
        seeds=seeds,
        progress=False,
    )
    return runs, term


def test_block_sampler_samples_each_posterior_on_its_own():
    """Three different 2-D Gaussians sampled as one ensemble: each block's samples have its own
    mean and width (not its neighbours'), and the stretch move's acceptance is typical."""
    mu = np.array([[0.0, 5.0], [-10.0, 3.0], [20.0, -4.0]])
    sd = np.array([[1.0, 2.0], [0.5, 0.5], [3.0, 1.0]])
    runs, _ = _block_fit(mu, sd, seeds=[1, 2, 3])
    for run, m, s in zip(runs, mu, sd):
        x = run["chain"].reshape(-1, 2)
        n_eff = run["diagnostics"]["effective_samples"]
        assert np.all(np.abs(x.mean(axis=0) - m) < 4 * s / np.sqrt(n_eff)), (x.mean(axis=0), m)
        np.testing.assert_allclose(x.std(axis=0), s, rtol=0.15)
        assert 0.4 < run["diagnostics"]["acceptance_mean"] < 0.9


def test_block_sampler_results_do_not_depend_on_the_other_blocks():
    mu, sd = np.array([[0.0, 5.0], [-10.0, 3.0]]), np.ones((2, 2))
    together, _ = _block_fit(mu, sd, seeds=[1, 2], n_burn=10, n_keep=50)
    alone, _ = _block_fit(mu[1:], sd[1:], seeds=[2], n_burn=10, n_keep=50)
    other_seed, _ = _block_fit(mu[1:], sd[1:], seeds=[5], n_burn=10, n_keep=50)
    np.testing.assert_array_equal(together[1]["chain"], alone[0]["chain"])
    assert not np.array_equal(alone[0]["chain"], other_seed[0]["chain"])
    with pytest.raises(ValueError, match="one prior and seed per fit"):
        run_emcee_blocks(lambda t: t[..., 0], [], np.zeros((2, 8, 2)), n_burn=1, n_keep=1, seeds=[1, 2])


def test_stacked_prior_and_block_posterior_match_each_fit():
    priors = [
        Prior.box(("v", "k"), {"v": [300.0, 1000.0], "k": [0.1, 2.5]}, log_uniform=("v",)),
        Prior.box(("v", "k"), {"v": [350.0, 1000.0], "k": [0.1, 3.7]}, log_uniform=("v",)),
    ]
    stacked = Prior.stack(priors)
    theta = np.array([[[500.0, 1.0], [320.0, 2.0], [600.0, 3.0]], [[500.0, 1.0], [320.0, 2.0], [600.0, 3.0]]])
    for b, prior in enumerate(priors):
        np.testing.assert_array_equal(stacked.log_prob(theta)[b], prior.log_prob(theta[b]))
    term = _GaussianTerm(np.full((2, 2), 500.0), np.full((2, 2), 100.0))
    blocks = Posterior(None, stacked, (term,))(theta)
    for b, prior in enumerate(priors):
        single = Posterior(None, prior, (_GaussianTerm(np.full((1, 2), 500.0), np.full((1, 2), 100.0)),))
        np.testing.assert_allclose(blocks[b], single(theta[b][None])[0])
    # rows outside their box reach the term at the box centre, flagged as outside
    inside = term.calls[-1]
    np.testing.assert_array_equal(inside, [[True, True, False], [True, False, True]])
    assert np.all(blocks[~inside] == -np.inf)
    with pytest.raises(ValueError, match="differ only in their boxes"):
        Prior.stack([priors[0], Prior.box(("v", "k"), {"v": [300.0, 1000.0], "k": [0.1, 2.5]})])


def test_convergence_warning_names_the_fit_and_what_it_misses():
    good = {"converged": True, "n_steps_kept": 3000, "n_tau_required": 2000.0, "acceptance_mean": 0.4}
    assert convergence_warning("fit a", good) is None
    short = convergence_warning("fit a", good | {"converged": False, "n_tau_required": 4000.0})
    assert short.startswith("fit a: chain not converged") and "3000 kept steps" in short and "4000" in short
    stuck = convergence_warning("fit b", good | {"acceptance_mean": 0.05})
    assert "acceptance 0.05 is outside [0.15, 0.8]" in stuck
