"""units: G, the halo mass convention and the unit conversions, against astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import constants
from astropy import units as u

from milkyway_mass.galaxy.units import (
    KZ_2PIG_MSUN_PC2_IN_KMS2_KPC,
    MSUN_KPC3_IN_GEV_CM3,
    Cosmology,
    G,
    r200_from_m200,
)

KMS2 = u.km**2 / u.s**2
COSMO = Cosmology(H0_kms_mpc=70.0, Om=1.0)


def test_G_is_astropy_in_kpc_kms2_per_msun():
    assert G == pytest.approx(constants.G.to_value(u.kpc * KMS2 / u.Msun), rel=1e-15)
    assert G == pytest.approx(4.3009e-6, rel=1e-4)


def test_conversions():
    assert KZ_2PIG_MSUN_PC2_IN_KMS2_KPC == pytest.approx(2 * np.pi * G * 1e6, rel=1e-12)
    assert KZ_2PIG_MSUN_PC2_IN_KMS2_KPC == pytest.approx(27.02, abs=0.01)
    # 0.01 Msun/pc^3 is the classic 0.38 GeV/cm^3.
    assert 1e7 * MSUN_KPC3_IN_GEV_CM3 == pytest.approx(0.38, abs=0.005)


def test_r200_convention():
    m = np.geomspace(1e10, 1e13, 7)
    r = r200_from_m200(m, COSMO)
    rho_crit = 3 * (70.0 / 1000.0) ** 2 / (8 * np.pi * G)
    assert COSMO.rho_crit == pytest.approx(rho_crit, rel=1e-14)
    np.testing.assert_allclose(m, 4 * np.pi / 3 * 200 * rho_crit * 1.0 * r**3, rtol=1e-13)
    # Om scales the reference density: Om = 0.3 gives a larger radius for the same mass.
    assert r200_from_m200(1e12, Cosmology(70.0, 0.3)) == pytest.approx(
        float(r200_from_m200(1e12, COSMO)) * 0.3 ** (-1 / 3)
    )


def test_cosmology_config_names_a_missing_key():
    assert Cosmology.from_config({"H0_kms_mpc": 67.0, "Om": 0.3}) == Cosmology(67.0, 0.3)
    with pytest.raises(ValueError, match="'Om'"):
        Cosmology.from_config({"H0_kms_mpc": 67.0})
