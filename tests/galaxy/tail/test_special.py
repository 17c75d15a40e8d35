"""Special functions of the tail likelihoods against quadrature and scipy: log I_k, log J_k, log H, Chebyshev interpolation."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import betainc, betaln

from milkyway_mass.galaxy.tail.special import (
    chebyshev_interpolation_matrix,
    log_incomplete_beta,
    log_normal_moment,
    log_power_exp_integral,
)


def _log_moment_quad(k, mu):
    """log ∫_0^∞ t^k φ(t − μ) dt by adaptive quadrature (φ(μ) factored out for μ ≤ 0)."""
    log_phi0 = -0.5 * np.log(2 * np.pi)
    if mu > 0:
        val = quad(
            lambda t: t**k * np.exp(-0.5 * (t - mu) ** 2), 0, mu + 40, points=[mu], epsabs=0, epsrel=1e-12, limit=500
        )[0]
        return np.log(val) + log_phi0
    val = quad(lambda t: t**k * np.exp(mu * t - 0.5 * t * t), 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]
    return np.log(val) + log_phi0 - 0.5 * mu * mu


@pytest.mark.parametrize("k", [0.1, 1.0, 2.5, 3.7, 4.7])
def test_log_normal_moment_matches_quadrature(k):
    mus = np.array([-35.0, -20.0, -5.0, -1.3, 0.0, 0.7, 3.3, 12.0, 29.95, 45.0, 300.0])
    got = log_normal_moment(np.array([k]), mus[None, :])[0]
    expected = np.array([_log_moment_quad(k, m) for m in mus])
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_log_normal_moment_rejects_k_outside_table():
    with pytest.raises(ValueError, match="k must lie in"):
        log_normal_moment(np.array([9.0]), np.zeros((1, 3)))


@pytest.mark.parametrize("k", [0.0, 0.37, 1.0, 2.5, 3.71, 6.2, 7.9])
def test_log_incomplete_beta_matches_scipy(k):
    y = np.concatenate([[1e-9, 1e-5, 0.0013, 0.01], np.linspace(0.02, 1.0, 99)])
    got = log_incomplete_beta(np.array([k]), y[None, :])[0]
    expected = betaln(k + 1.0, 1.5) + np.log(betainc(k + 1.0, 1.5, y))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)


def test_log_incomplete_beta_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must lie in"):
        log_incomplete_beta(np.array([8.5]), np.full((1, 2), 0.5))
    with pytest.raises(ValueError, match="y must lie in"):
        log_incomplete_beta(np.array([1.0]), np.array([[0.0, 0.5]]))


@pytest.mark.parametrize("k", [0.0, 0.3, 2.5, 7.0, 12.0])
@pytest.mark.parametrize("y", [1e-6, 0.4, 0.75, 0.99])
@pytest.mark.parametrize("b", [-20.0, 0.0, 4.0, 40.0])
def test_power_exp_integral_matches_quadrature(k, y, b):
    ref = np.log(
        (k + 1)
        * quad(lambda s: s**k * np.sqrt(1 - y * s) * np.exp(b * y * s), 0, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    )
    assert log_power_exp_integral(np.array([k]), np.array([[y]]), (np.array([[b]]),))[0, 0] == pytest.approx(
        ref, abs=1e-9
    )


def test_power_exp_integral_at_zero_b_is_the_incomplete_beta():
    k, y = np.array([0.5, 3.0]), np.array([[0.3, 0.8], [0.6, 0.95]])
    expected = log_incomplete_beta(k, y) + np.log1p(k)[:, None] - (k[:, None] + 1) * np.log(y)
    np.testing.assert_allclose(log_power_exp_integral(k, y, (0.0,)), expected, atol=1e-7)
    np.testing.assert_allclose(log_power_exp_integral(k, y, ()), expected, atol=1e-7)


def test_chebyshev_interpolation_matrix_is_exact_for_polynomials():
    x = np.random.default_rng(3).uniform(-0.3, 0.4, 50)
    nodes, matrix = chebyshev_interpolation_matrix(x, 9)
    assert nodes.min() > x.min() and nodes.max() < x.max()
    np.testing.assert_allclose(matrix @ (1 + nodes - 3 * nodes**8), 1 + x - 3 * x**8, atol=1e-12)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    one, ones = chebyshev_interpolation_matrix(np.full(4, 0.2), 9)
    assert one.tolist() == [0.2] and ones.shape == (4, 1)
