"""vesc_curve: KDE and split-normal curve densities, scaling, bad chains."""

from __future__ import annotations

import numpy as np
import pytest

from milkyway_mass.galaxy.constraints.vesc_curve import kde_curve, split_normal_curve


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
    np.testing.assert_allclose(curve.table["vesc_err_minus"] + curve.table["vesc_err_plus"], 2 * sigma, rtol=0.02)


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
    assert doubled.table["vesc_err95_minus"].isna().all()  # a published table gives 68 % only


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
