"""The double-power-law DF: its normalisation against the closed form and adaptive cubature,
what it does not depend on, validity, and the rotation term."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from scipy.integrate import cubature

from milkyway_mass.galaxy.dynamics.double_power_law import PARAMETER_NAMES, DoublePowerLawDF


def _df(slope_in=1.0, slope_out=5.0, steepness=1.0, ln_J0=7.0, h=(1.0, 1.0), g=(1.0, 1.0), rotation=0.0, **kw):
    return DoublePowerLawDF(slope_in, slope_out, steepness, ln_J0, *h, *g, rotation, **kw)


@pytest.mark.parametrize(
    "gamma, beta, eta",
    [(1.0, 5.0, 1.5), (0.0, 4.0, 0.3), (2.9, 3.1, 5.0), (2.5, 12.0, 0.5), (0.5, 3.05, 0.3), (0.0, 15.0, 5.0)],
)
def test_normalisation_matches_the_closed_form_with_unit_coefficients(gamma, beta, eta):
    """With h = g = J_r + J_z + |J_phi| the integral is (1/eta) B((3 - Gamma)/eta, (B - 3)/eta)."""
    expected = special.beta((3 - gamma) / eta, (beta - 3) / eta) / eta
    value = np.exp(_df(gamma, beta, eta).log_normalisation())
    assert value == pytest.approx(expected, rel=1e-4)


def _cubature_normalisation(gamma, beta, eta, h_r, h_z, g_r, g_z):
    """2 ∫ over the octant of the two power-law factors, J = tan(pi w / 2), by scipy's adaptive cubature."""

    def integrand(w):
        x = np.tan(0.5 * np.pi * w)
        jacobian = np.prod(0.5 * np.pi / np.cos(0.5 * np.pi * w) ** 2, axis=-1)
        h = h_r * x[:, 0] + h_z * x[:, 1] + (3 - h_r - h_z) * x[:, 2]
        g = g_r * x[:, 0] + g_z * x[:, 1] + (3 - g_r - g_z) * x[:, 2]
        with np.errstate(all="ignore"):
            value = np.exp(
                gamma / eta * np.logaddexp(0, -eta * np.log(h)) - beta / eta * np.logaddexp(0, eta * np.log(g))
            )
            value = value * jacobian
        return np.where(np.isfinite(value), value, 0.0)

    result = cubature(integrand, np.zeros(3), np.ones(3), rtol=1e-7, max_subdivisions=20000)
    assert result.status == "converged"
    return 2.0 * result.estimate


@pytest.mark.parametrize("params", [(1.2, 5.5, 1.3, 0.6, 1.4, 1.1, 0.5), (0.5, 8.0, 0.8, 1.5, 0.7, 0.4, 1.9)])
def test_normalisation_matches_adaptive_cubature_with_unequal_coefficients(params):
    gamma, beta, eta, h_r, h_z, g_r, g_z = params
    value = np.exp(_df(gamma, beta, eta, h=(h_r, h_z), g=(g_r, g_z)).log_normalisation())
    assert value == pytest.approx(_cubature_normalisation(*params), rel=1e-6)


def test_normalisation_depends_on_neither_J0_nor_rotation_and_vectorises_over_walkers():
    base = dict(slope_in=0.8, slope_out=6.0, steepness=1.7, h=(0.4, 1.9), g=(2.2, 0.3))
    reference = _df(**base).log_normalisation()
    assert _df(**base, ln_J0=2.0, rotation=0.9).log_normalisation() == pytest.approx(reference, rel=1e-12)
    assert _df(**base, ln_J0=11.0, rotation=-1.0, rotation_scale=0.3).log_normalisation() == pytest.approx(
        reference, rel=1e-12
    )
    walkers = np.array([[0.8], [1.5], [2.2]])
    vectorised = DoublePowerLawDF(walkers, 6.0, 1.7, 7.0, 0.4, 1.9, 2.2, 0.3, 0.0).log_normalisation()
    singles = [_df(s, 6.0, 1.7, h=(0.4, 1.9), g=(2.2, 0.3)).log_normalisation() for s in walkers[:, 0]]
    assert vectorised.shape == (3, 1)
    np.testing.assert_allclose(vectorised[:, 0], singles, rtol=1e-12)


def test_validity_flags_each_violated_condition():
    assert _df().valid()
    assert not _df(slope_in=3.0).valid()
    assert not _df(slope_out=3.0).valid()
    assert not _df(steepness=0.0).valid()
    assert not _df(h=(2.0, 1.2)).valid()  # h_phi = 3 - h_r - h_z < 0
    assert not _df(g=(0.0, 1.0)).valid()
    assert not _df(rotation=1.2).valid()
    assert not _df(ln_J0=np.inf).valid()


def test_rotation_term_is_odd_in_J_phi_and_bounded_by_kappa():
    df, still = _df(rotation=0.6), _df()
    J_r, J_z, J_phi = np.array([10.0, 300.0]), np.array([50.0, 20.0]), np.array([400.0, 3000.0])
    plus, minus, none = (np.exp(d.log_f(J_r, J_z, s * J_phi)) for d, s in ((df, 1), (df, -1), (still, 1)))
    np.testing.assert_allclose(plus + minus, 2 * none, rtol=1e-12)
    assert np.all(plus > none) and np.all(plus / none - 1 < 0.6)
    # J_phi,0 = J_r + J_z + |J_phi|: the amplitude tanh(J_phi / J_phi,0) depends on the direction only
    scaled = np.exp(df.log_f(3 * J_r, 3 * J_z, 3 * J_phi) - still.log_f(3 * J_r, 3 * J_z, 3 * J_phi))
    np.testing.assert_allclose(scaled, plus / none, rtol=1e-12)


def test_from_parameters_names_the_missing_ones():
    with pytest.raises(ValueError, match="steepness"):
        DoublePowerLawDF.from_parameters({n: 1.0 for n in PARAMETER_NAMES if n != "steepness"})
    with pytest.raises(ValueError, match="rotation_scale"):
        DoublePowerLawDF.from_parameters({n: 1.0 for n in PARAMETER_NAMES}, rotation_scale=0.0)
