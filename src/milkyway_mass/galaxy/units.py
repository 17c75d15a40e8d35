"""Constants, unit conversions and the halo mass definition, one place each.

Units of the science package: lengths in kpc, speeds in km/s, masses in Msun,
potentials in (km/s)², forces (K_z) in (km/s)² / kpc. Every constant comes from
astropy (``G`` is the value galpy uses too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import constants, units

__all__ = [
    "G",
    "OVERDENSITY",
    "MSUN_PC2",
    "MSUN_PC3",
    "MSUN_KPC3_IN_GEV_CM3",
    "KZ_2PIG_MSUN_PC2_IN_KMS2_KPC",
    "Cosmology",
    "r200_from_m200",
]

#: Gravitational constant [kpc (km/s)² / Msun].
G = float(constants.G.to(units.kpc * units.km**2 / units.s**2 / units.Msun).value)

#: Default overdensity of the halo definition (M200, r200).
OVERDENSITY = 200.0

#: Msun / kpc² per Msun / pc², and Msun / kpc³ per Msun / pc³.
MSUN_PC2 = 1e6
MSUN_PC3 = 1e9

#: 1 Msun / kpc³ expressed as an energy density in GeV / cm³ (rho c²).
MSUN_KPC3_IN_GEV_CM3 = float((units.Msun / units.kpc**3 * constants.c**2).to_value(units.GeV / units.cm**3))

#: 2 pi G × (1 Msun / pc²) in (km/s)² / kpc: the unit of K_z / (2 pi G) tables (Bovy & Rix 2013).
KZ_2PIG_MSUN_PC2_IN_KMS2_KPC = float(
    (2.0 * np.pi * constants.G * units.Msun / units.pc**2).to_value(units.km**2 / units.s**2 / units.kpc)
)


@dataclass(frozen=True)
class Cosmology:
    """Cosmology of the halo mass definition.

    ``H0_kms_mpc`` sets rho_crit = 3 H² / (8 pi G); ``Om`` enters the published
    convention M200 = (4 pi / 3) * 200 * rho_crit * Om * r200³ (Om = 1 as published).
    """

    H0_kms_mpc: float = 70.0
    Om: float = 1.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Cosmology:
        """From ``params:cosmology`` (keys ``H0_kms_mpc``, ``Om``)."""
        try:
            return cls(H0_kms_mpc=float(config["H0_kms_mpc"]), Om=float(config["Om"]))
        except KeyError as err:
            raise ValueError(f"cosmology parameters lack the key {err}") from None

    @property
    def rho_crit(self) -> float:
        """Critical density 3 H² / (8 pi G) [Msun / kpc³] (H in km/s/kpc)."""
        H = self.H0_kms_mpc / 1000.0
        return 3.0 * H**2 / (8.0 * np.pi * G)

    def halo_density(self, overdensity: float = OVERDENSITY) -> float:
        """Mean density inside the halo radius, overdensity * rho_crit * Om [Msun / kpc³]."""
        return overdensity * self.rho_crit * self.Om


def r200_from_m200(m200_msun, cosmology: Cosmology, overdensity: float = OVERDENSITY):
    """Halo radius [kpc] of mass ``m200_msun`` [Msun]: M = (4 pi / 3) Delta rho_crit Om r³."""
    m200 = np.asarray(m200_msun, dtype=float)
    return np.cbrt(3.0 * m200 / (4.0 * np.pi * cosmology.halo_density(overdensity)))
