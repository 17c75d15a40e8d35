"""Milky Way mass models: Plummer bulge, Miyamoto–Nagai disks and dark-halo families.

Units: lengths in kpc, speeds in km/s, masses in Msun, potentials in (km/s)².
``G`` is astropy's gravitational constant in kpc (km/s)² / Msun (the value galpy
uses too). Coordinates are Galactocentric cylindrical (R, z) with spherical
radius r = sqrt(R² + z²); all components are axisymmetric.

Every method broadcasts with numpy rules over parameters and coordinates: to
evaluate W parameter sets (walkers) at N radii, give the parameters shape (W, 1)
and the radii shape (N,); the result has shape (W, N).

Halo families are registered in ``HALO_FAMILIES`` (name, sampled parameter names
and a builder); a halo object provides ``potential``, ``dphi_dR``, ``dphi_dz``,
``enclosed_mass`` and ``r200``, so new profiles plug into ``GalaxyModel`` and the
likelihood without other changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from astropy import constants, units

#: Gravitational constant [kpc (km/s)^2 / Msun], from astropy.constants.G.
G = float(constants.G.to(units.kpc * units.km**2 / units.s**2 / units.Msun).value)

#: Default overdensity of the halo definition (M200, r200).
OVERDENSITY = 200.0


class Component(Protocol):
    """A mass component: potential and its derivatives at (R, z) [kpc] in (km/s)² per kpc."""

    def potential(self, R, z): ...

    def dphi_dR(self, R, z): ...

    def dphi_dz(self, R, z): ...


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


def m200_from_r200(r200_kpc, cosmology: Cosmology, overdensity: float = OVERDENSITY):
    """Halo mass [Msun] inside radius ``r200_kpc`` [kpc] (inverse of ``r200_from_m200``)."""
    r200 = np.asarray(r200_kpc, dtype=float)
    return 4.0 * np.pi / 3.0 * cosmology.halo_density(overdensity) * r200**3


@dataclass(frozen=True)
class Plummer:
    """Plummer sphere, Phi = -G M / sqrt(r² + b²)."""

    mass_msun: Any
    b_kpc: Any

    def potential(self, R, z):
        return -G * self.mass_msun / np.sqrt(R**2 + z**2 + self.b_kpc**2)

    def _force_factor(self, R, z):
        return G * self.mass_msun / (R**2 + z**2 + self.b_kpc**2) ** 1.5

    def dphi_dR(self, R, z):
        return self._force_factor(R, z) * R

    def dphi_dz(self, R, z):
        return self._force_factor(R, z) * z

    def enclosed_mass(self, r):
        """Mass inside the sphere of radius r [kpc] (analytic) [Msun]."""
        return self.mass_msun * r**3 / (r**2 + self.b_kpc**2) ** 1.5


@dataclass(frozen=True)
class MiyamotoNagai:
    """Miyamoto–Nagai disk, Phi = -G M / sqrt(R² + (a + sqrt(z² + b²))²)."""

    mass_msun: Any
    a_kpc: Any
    b_kpc: Any

    def _terms(self, R, z):
        s = np.sqrt(z**2 + self.b_kpc**2)
        d = np.sqrt(R**2 + (self.a_kpc + s) ** 2)
        return s, d

    def potential(self, R, z):
        return -G * self.mass_msun / self._terms(R, z)[1]

    def dphi_dR(self, R, z):
        _, d = self._terms(R, z)
        return G * self.mass_msun * R / d**3

    def dphi_dz(self, R, z):
        s, d = self._terms(R, z)
        return G * self.mass_msun * z * (self.a_kpc + s) / (s * d**3)


@dataclass(frozen=True)
class NFW:
    """NFW halo of mass ``m200_msun`` inside r200 and concentration c200 = r200 / r_s.

    Phi(r) = -G M_s ln(1 + r/r_s) / r with M_s = M200 / (ln(1 + c) - c / (1 + c));
    r200 follows from M200 through ``cosmology`` and ``overdensity``.
    """

    m200_msun: Any
    c200: Any
    cosmology: Cosmology = Cosmology()
    overdensity: float = OVERDENSITY

    @property
    def r200(self):
        """Halo radius [kpc]."""
        return r200_from_m200(self.m200_msun, self.cosmology, self.overdensity)

    @property
    def r_s(self):
        """Scale radius r200 / c200 [kpc]."""
        return self.r200 / self.c200

    @property
    def mass_scale(self):
        """M_s = 4 pi rho_s r_s³ [Msun]."""
        c = np.asarray(self.c200, dtype=float)
        return self.m200_msun / (np.log1p(c) - c / (1.0 + c))

    def potential(self, R, z):
        r = np.sqrt(R**2 + z**2)
        x = r / self.r_s
        safe_x = np.where(x > 0, x, 1.0)
        ln_over_x = np.where(x > 0, np.log1p(safe_x) / safe_x, 1.0)
        return -G * self.mass_scale / self.r_s * ln_over_x

    def enclosed_mass(self, r):
        """Mass inside the sphere of radius r [kpc] (analytic) [Msun]."""
        x = r / self.r_s
        return self.mass_scale * (np.log1p(x) - x / (1.0 + x))

    def _dphi_dr_over_r(self, R, z):
        r = np.sqrt(R**2 + z**2)
        safe_r = np.where(r > 0, r, 1.0)
        return np.where(r > 0, G * self.enclosed_mass(safe_r) / safe_r**3, 0.0)

    def dphi_dR(self, R, z):
        return self._dphi_dr_over_r(R, z) * R

    def dphi_dz(self, R, z):
        return self._dphi_dr_over_r(R, z) * z


def potential(components, R, z):
    """Total potential of ``components`` at (R, z) [(km/s)²]."""
    return sum(c.potential(R, z) for c in components)


def dphi_dR(components, R, z):
    """Total radial derivative dPhi/dR [(km/s)² / kpc]."""
    return sum(c.dphi_dR(R, z) for c in components)


def dphi_dz(components, R, z):
    """Total vertical derivative dPhi/dz [(km/s)² / kpc]."""
    return sum(c.dphi_dz(R, z) for c in components)


def circular_speed(components, R):
    """Circular speed in the Galactic plane, sqrt(R dPhi/dR at z = 0) [km/s]."""
    R = np.asarray(R, dtype=float)
    return np.sqrt(R * dphi_dR(components, R, 0.0))


def escape_speed(components, R, z, boundary_kpc):
    """Escape speed sqrt(2 |Phi(R, z) - Phi(boundary)|) [km/s].

    The boundary potential is taken in the Galactic plane, Phi(R = boundary, z = 0);
    ``boundary_kpc = inf`` gives the escape speed to infinity (Phi = 0 there).
    """
    boundary = np.asarray(boundary_kpc, dtype=float)
    if np.any(boundary <= 0) or np.any(np.isnan(boundary)):
        raise ValueError(f"escape boundary must be a positive radius in kpc, got {boundary_kpc}")
    finite = np.isfinite(boundary)
    phi_b = np.where(finite, potential(components, np.where(finite, boundary, 1.0), 0.0), 0.0)
    return np.sqrt(2.0 * np.abs(potential(components, R, z) - phi_b))


def enclosed_mass(components, r, n_nodes: int = 256):
    """Mass inside the sphere of radius r [kpc] [Msun], from Gauss's theorem.

    M(<r) = (r² / G) * integral_0^1 dPhi/dr(r, mu) dmu (mu = cos theta, using
    symmetry about the plane), integrated with ``n_nodes`` Gauss–Legendre nodes;
    exact for spherical components and converged for Miyamoto–Nagai disks.
    """
    r = np.asarray(r, dtype=float)[..., None]
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    mu = 0.5 * (nodes + 1.0)
    R, z = r * np.sqrt(1.0 - mu**2), r * mu
    dphi_dr = (R * dphi_dR(components, R, z) + z * dphi_dz(components, R, z)) / r
    return r[..., 0] ** 2 / G * np.sum(0.5 * weights * dphi_dr, axis=-1)


@dataclass(frozen=True)
class GalaxyModel:
    """Fixed baryonic components plus a dark halo (which sets r200 and the escape boundary)."""

    baryons: tuple
    halo: Any

    @property
    def components(self) -> tuple:
        return (*self.baryons, self.halo)

    def boundary_kpc(self, boundary_r200: float):
        """Escape boundary ``boundary_r200`` * r200 [kpc] (inf for escape to infinity)."""
        if np.isinf(boundary_r200):
            return np.inf
        return boundary_r200 * self.halo.r200

    def potential(self, R, z):
        return potential(self.components, R, z)

    def circular_speed(self, R):
        """Circular speed in the plane [km/s]."""
        return circular_speed(self.components, R)

    def escape_speed(self, R, z, boundary_r200: float = 2.0):
        """Escape speed [km/s] at (R, z) to the boundary ``boundary_r200`` * r200 (in the plane)."""
        return escape_speed(self.components, R, z, self.boundary_kpc(boundary_r200))


@dataclass(frozen=True)
class HaloFamily:
    """A halo profile family: sampled parameter names and a builder.

    ``build(parameters, cosmology, overdensity)`` maps a dict of parameter arrays
    (names as in ``parameter_names``) to a halo object.
    """

    name: str
    parameter_names: tuple[str, ...]
    build: Callable[[Mapping[str, Any], Cosmology, float], Any]


def _build_nfw(parameters: Mapping[str, Any], cosmology: Cosmology, overdensity: float) -> NFW:
    return NFW(10.0 ** parameters["log10_M200"], parameters["c200"], cosmology, overdensity)


HALO_FAMILIES: dict[str, HaloFamily] = {
    "nfw": HaloFamily("nfw", ("log10_M200", "c200"), _build_nfw),
}

BARYON_TYPES: dict[str, type] = {"plummer": Plummer, "miyamoto_nagai": MiyamotoNagai}


def baryons_from_config(config: Mapping[str, Mapping[str, Any]]) -> tuple:
    """Build baryonic components from ``{name: {type: plummer|miyamoto_nagai, <fields>}}``."""
    components = []
    for name, entry in config.items():
        spec = dict(entry)
        kind = spec.pop("type", None)
        if kind not in BARYON_TYPES:
            raise ValueError(
                f"baryon component {name!r}: unknown type {kind!r}; expected one of {sorted(BARYON_TYPES)}"
            )
        try:
            components.append(BARYON_TYPES[kind](**{k: float(v) for k, v in spec.items()}))
        except (TypeError, ValueError) as err:
            raise ValueError(f"baryon component {name!r} ({kind}): {err}") from None
    return tuple(components)


@dataclass(frozen=True)
class MassModelSpec:
    """Everything but the sampled halo parameters: family, baryons, cosmology."""

    family: HaloFamily
    baryons: tuple
    cosmology: Cosmology
    overdensity: float = OVERDENSITY

    @classmethod
    def from_config(cls, model: Mapping[str, Any], cosmology: Mapping[str, Any]) -> MassModelSpec:
        """From ``params:halo_mass.model`` (halo_family, overdensity, baryons) and ``params:cosmology``."""
        family = model.get("halo_family")
        if family not in HALO_FAMILIES:
            raise ValueError(f"unknown halo_family {family!r}; expected one of {sorted(HALO_FAMILIES)}")
        return cls(
            family=HALO_FAMILIES[family],
            baryons=baryons_from_config(model.get("baryons", {})),
            cosmology=Cosmology.from_config(cosmology),
            overdensity=float(model.get("overdensity", OVERDENSITY)),
        )

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.family.parameter_names

    def build(self, theta) -> GalaxyModel:
        """Model for parameter vectors ``theta`` of shape (W, D): halo parameters get shape (W, 1)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[-1] != len(self.parameter_names):
            raise ValueError(
                f"theta has {theta.shape[-1]} columns; the {self.family.name} halo needs "
                f"{len(self.parameter_names)}: {self.parameter_names}"
            )
        parameters = {name: theta[:, i : i + 1] for i, name in enumerate(self.parameter_names)}
        halo = self.family.build(parameters, self.cosmology, self.overdensity)
        return GalaxyModel(self.baryons, halo)
