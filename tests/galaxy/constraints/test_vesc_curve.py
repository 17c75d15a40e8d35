"""mass_likelihood: KDE and split-normal curve densities, terms, priors, the emcee fit and recovery."""

from __future__ import annotations

import numpy as np
import pytest

from milkyway_mass.galaxy.constraints.vesc_curve import (
    BoxPrior,
    CircularSpeedTerm,
    EscapeVelocityTerm,
    HaloPosterior,
    kde_curve,
    run_emcee,
    split_normal_curve,
)
from milkyway_mass.galaxy.potentials.composite import MassModelSpec

R0 = 8.122
# Radii and 68 % half-widths of the published Bin-1 curve (Wu et al. 2025, Table A1).
RADII = np.array([5.29, 7.09, 9.02, 10.83, 12.84, 14.90, 17.59, 21.97, 25.88, 29.86, 34.57, 42.06])
ERR_PLUS = np.array([20.42, 9.68, 10.67, 15.94, 14.78, 19.68, 11.44, 24.39, 10.20, 9.75, 14.69, 22.46])
ERR_MINUS = np.array([20.89, 11.09, 12.20, 18.04, 14.14, 14.99, 7.65, 17.73, 9.29, 13.23, 18.32, 21.15])
TRUTH = np.array([np.log10(8.0e11), 12.0])


@pytest.fixture(scope="module")
def spec(shared_params):
    return MassModelSpec.from_config(shared_params["halo_mass"]["model"], shared_params["cosmology"])


@pytest.fixture(scope="module")
def prior(spec, shared_params):
    return BoxPrior.from_config(spec.parameter_names, shared_params["halo_mass"]["priors"])


def _gauss_logpdf(v, mu, sigma):
    return -0.5 * ((v - mu) / sigma) ** 2 - np.log(np.sqrt(2 * np.pi) * sigma)


def test_kde_of_a_gaussian_chain_matches_the_gaussian():
    rng = np.random.default_rng(3)
    mu, sigma = np.array([520.0, 380.0]), np.array([15.0, 9.0])
    chains = [rng.normal(m, s, 150_000) for m, s in zip(mu, sigma)]
    curve = kde_curve([1, 2], [8.0, 30.0], chains, bandwidth="scott")
    # Within 2 sigma the KDE's sampling noise is < 3 %; the bandwidth inflates the variance by ~1 %.
    v = mu + sigma * np.linspace(-2.0, 2.0, 41)[:, None]
    diff = curve.log_density(v) - _gauss_logpdf(v, mu, sigma)
    assert np.max(np.abs(diff)) < 0.05 and np.mean(np.abs(diff)) < 0.015
    # Normalised: integrates to 1 over a wide range.
    x = mu + sigma * np.linspace(-8, 8, 4001)[:, None]
    integral = np.trapezoid(np.exp(curve.log_density(x)), x, axis=0)
    np.testing.assert_allclose(integral, 1.0, atol=2e-3)
    np.testing.assert_allclose(curve.table["vesc_median"], mu, atol=0.2)
    np.testing.assert_allclose(curve.table["vesc_hi68"] - curve.table["vesc_lo68"], 2 * sigma, rtol=0.02)


def test_kde_tails_are_finite_continuous_and_falling():
    rng = np.random.default_rng(4)
    curve = kde_curve([1, 2], [8.0, 9.0], [rng.normal(500, 10, 5000), rng.normal(480, 20, 3000)])
    d = curve.density
    edges_lo = d.x0
    edges_hi = d.x0 + d.dx * (d.n_points - 1)
    eps = 1e-9
    for edge in (edges_lo, edges_hi):
        np.testing.assert_allclose(curve.log_density(edge - eps), curve.log_density(edge + eps), atol=1e-6)
    far = np.array([[0.0, 0.0], [200.0, 200.0], [2000.0, 2000.0]])
    values = curve.log_density(far)
    assert np.all(np.isfinite(values))
    assert np.all(values[0] < values[1]) and np.all(values[2] < curve.log_density(edges_hi + 10))


def test_scaled_kde_equals_kde_of_scaled_samples():
    rng = np.random.default_rng(5)
    chains = [rng.gamma(50, 10, 4000), rng.normal(400, 12, 4000)]
    scaled = kde_curve([1, 2], [6.0, 20.0], chains).scaled(1.1)
    direct = kde_curve([1, 2], [6.0, 20.0], [1.1 * c for c in chains])
    v = np.linspace(350, 700, 50)[:, None] * np.ones(2)
    np.testing.assert_allclose(scaled.log_density(v), direct.log_density(v), atol=1e-9)
    np.testing.assert_allclose(scaled.table["vesc_median"], direct.table["vesc_median"], rtol=1e-12)
    assert scaled.scale == pytest.approx(1.1)


def test_split_normal_density():
    curve = split_normal_curve([1, 2], [5.0, 10.0], [500.0, 450.0], [10.0, 20.0], [30.0, 5.0])
    v = np.array([[500.0, 450.0], [530.0, 430.0], [490.0, 455.0]])
    logp = curve.log_density(v)
    np.testing.assert_allclose(logp[1] - logp[0], [-0.5, -0.5])
    np.testing.assert_allclose(logp[2] - logp[0], [-0.5, -0.5])
    x = np.linspace(200, 800, 60001)[:, None] * np.ones(2)
    np.testing.assert_allclose(np.trapezoid(np.exp(curve.log_density(x)), x, axis=0), 1.0, rtol=1e-6)
    doubled = curve.scaled(2.0)
    np.testing.assert_allclose(doubled.log_density(2 * v), logp - np.log(2.0))
    assert doubled.table["vesc_lo95"].isna().all()  # a published table gives 68 % only


@pytest.mark.parametrize(
    "samples, message",
    [
        ([np.array([500.0, 510.0]), np.array([])], r"bin 2 \(r0 = 9.00 kpc\).*empty"),
        ([np.array([500.0, np.nan, 510.0]), np.array([480.0, 490.0])], r"bin 1 \(r0 = 8.00 kpc\).*1 non-finite"),
        ([np.array([500.0, 500.0]), np.array([480.0, 490.0])], r"bin 1 .*no spread"),
    ],
)
def test_bad_chains_name_the_bin(samples, message):
    with pytest.raises(ValueError, match=message):
        kde_curve([1, 2], [8.0, 9.0], samples)


def test_curves_with_fewer_than_two_points_are_rejected():
    with pytest.raises(ValueError, match="measured escape-velocity curve has 1 usable bin"):
        kde_curve([1], [8.0], [np.array([500.0, 510.0, 520.0])])
    with pytest.raises(ValueError, match="published escape-velocity curve has 1 usable bin"):
        split_normal_curve([1], [8.0], [500.0], [10.0], [10.0])
    with pytest.raises(ValueError, match=r"bin 2 \(r0 = 9.00 kpc\): non-finite median"):
        split_normal_curve([1, 2], [8.0, 9.0], [500.0, np.nan], [10.0, 10.0], [10.0, 10.0])
    with pytest.raises(ValueError, match=r"bin 1 .*err_minus must be positive"):
        split_normal_curve([1, 2], [8.0, 9.0], [500.0, 490.0], [0.0, 10.0], [10.0, 10.0])


def test_box_prior(prior):
    theta = np.array([[12.0, 10.0], [10.9, 10.0], [12.0, 31.0], [12.5, 1.0]])
    np.testing.assert_array_equal(prior.log_prob(theta), [0.0, -np.inf, -np.inf, 0.0])
    draws = prior.sample(np.random.default_rng(0), 1000)
    assert np.all(prior.log_prob(draws) == 0)
    with pytest.raises(ValueError, match=r"missing \['c200'\]"):
        BoxPrior.from_config(("log10_M200", "c200"), {"log10_M200": [11, 12.5]})
    with pytest.raises(ValueError, match="low < high"):
        BoxPrior.from_config(("log10_M200",), {"log10_M200": [12.5, 11]})


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
    posterior = HaloPosterior(spec, prior, terms)
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
    posterior = HaloPosterior(spec, prior, _truth_terms(spec, curve_factory))
    fit = run_emcee(posterior, prior, n_walkers=24, n_burn=400, n_keep=400, seed=seed, progress=False)
    flat = fit["chain"].reshape(-1, 2)
    lo, hi = np.percentile(flat, [16, 84], axis=0)
    return fit, lo, hi


def test_fit_recovers_a_known_halo_from_a_published_style_curve(spec, prior):
    fit, lo, hi = _recover(spec, prior, lambda v: split_normal_curve(list(range(12)), RADII, v, ERR_MINUS, ERR_PLUS), 11)
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
    posterior = HaloPosterior(spec, prior, terms)
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
    assert np.all(np.abs(d["chain"][0] - start) < 0.1)   # one step from the given start, not the prior box
    with pytest.raises(ValueError, match=r"initial walker positions must have shape \(8, 2\)"):
        run_emcee(posterior, prior, n_walkers=8, n_burn=0, n_keep=1, seed=1, progress=False, initial=start[:4])
