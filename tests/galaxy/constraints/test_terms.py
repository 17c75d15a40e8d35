"""Gaussian / split-normal constraint terms: values, vectorisation and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from milkyway_mass.galaxy.constraints.terms import (
    gaussian_loglike,
    rotation_curve_loglike,
    vertical_force_loglike,
)

OBS = np.array([226.8, 230.8, 231.2, 229.9])
ERR = np.array([1.9, 1.4, 1.4, 1.4])


def test_gaussian_matches_scipy_for_each_walker():
    model = OBS + np.array([[0.0, 1.0, -2.0, 0.5], [3.0, -1.0, 0.0, 0.0], [10.0, 10.0, 10.0, 10.0]])
    expected = [norm.logpdf(OBS, m, ERR).sum() for m in model]
    np.testing.assert_allclose(gaussian_loglike(model, OBS, ERR), expected, rtol=1e-12)
    np.testing.assert_allclose(vertical_force_loglike(model, OBS, ERR), expected, rtol=1e-12)
    assert np.ndim(gaussian_loglike(model[0], OBS, ERR)) == 0


def test_split_normal_uses_the_error_on_the_side_of_the_model():
    up, down = ERR, 2.0 * ERR
    above, below = OBS + 1.0, OBS - 1.0
    norm_term = -np.log(0.5 * (up + down)) - 0.5 * np.log(2 * np.pi)
    assert rotation_curve_loglike(above, OBS, up, down) == pytest.approx(np.sum(-0.5 / up**2 + norm_term))
    assert rotation_curve_loglike(below, OBS, up, down) == pytest.approx(np.sum(-0.5 / down**2 + norm_term))
    model = np.vstack([above, below, OBS])
    np.testing.assert_allclose(rotation_curve_loglike(model, OBS, ERR, ERR), gaussian_loglike(model, OBS, ERR), rtol=1e-12)
    total = quad(lambda v: np.exp(rotation_curve_loglike([v], OBS[:1], [1.0], [3.0])), OBS[0] - 40, OBS[0] + 40, points=[OBS[0]])[0]
    assert total == pytest.approx(1.0, rel=1e-8)


def test_fractional_systematic_adds_in_quadrature():
    model = OBS + 2.0
    expected = gaussian_loglike(model, OBS, np.hypot(ERR, 0.03 * OBS))
    assert rotation_curve_loglike(model, OBS, ERR, ERR, frac_systematic=0.03) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="frac_systematic"):
        rotation_curve_loglike(model, OBS, ERR, ERR, frac_systematic=-0.1)


def test_non_finite_model_rows_get_minus_infinity():
    model = np.vstack([OBS, OBS]).astype(float)
    model[1, 2] = np.nan
    out = rotation_curve_loglike(model, OBS, ERR, ERR)
    assert np.isfinite(out[0]) and out[1] == -np.inf
    assert gaussian_loglike(np.full(4, np.inf), OBS, ERR) == -np.inf


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: gaussian_loglike(np.zeros((2, 3)), OBS, ERR), "4 data points on its last axis"),
        (lambda: gaussian_loglike(OBS, OBS, ERR[:3]), "length 4"),
        (lambda: gaussian_loglike(OBS, OBS, np.array([1.0, 0.0, 1.0, 1.0])), "positive.*\\[1\\]"),
        (lambda: vertical_force_loglike(OBS, np.array([1.0, np.nan, 1.0, 1.0]), ERR), "kz_obs has non-finite"),
        (lambda: rotation_curve_loglike(OBS, OBS, ERR, -ERR), "err_down_kms must be positive"),
        (lambda: rotation_curve_loglike(OBS, OBS.reshape(2, 2), ERR, ERR), "vc_obs_kms must be a 1-D array"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
