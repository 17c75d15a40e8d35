"""A galaxy as a sum of components: potential, forces, circular and escape speeds.

A component is any object with ``potential(R, z)``, ``dphi_dR(R, z)`` and
``dphi_dz(R, z)`` at Galactocentric cylindrical (R, z) [kpc], in (km/s)² and
(km/s)² / kpc (``baryons``: Plummer, Miyamoto–Nagai, tabulated McMillan-type
components; ``halos``: NFW, Zhao, Einasto, oblate). Spherical radius r = sqrt(R² + z²).

Every function broadcasts with numpy rules over parameters and coordinates: to
evaluate W parameter sets (walkers) at N radii, build the components with
parameters of shape (W, 1) and give radii of shape (N,); results have shape (W, N).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from milkyway_mass.galaxy.units import G

__all__ = [
    "GalaxyModel",
    "circular_speed",
    "dphi_dR",
    "dphi_dz",
    "enclosed_mass",
    "escape_speed",
    "potential",
    "vc2_components",
]


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
    """Baryonic components plus a dark halo (which sets r200 and the escape boundary);
    ``tracer_params`` carries the parameters of a tracer population sampled with the
    potential (e.g. the globular clusters' DF), each of shape (W, 1)."""

    baryons: tuple
    halo: Any
    tracer_params: Mapping[str, np.ndarray] = field(default_factory=dict)

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


def vc2_components(components: Mapping[str, Any], R) -> dict[str, np.ndarray]:
    """Circular-speed contributions vc² = R dPhi/dR at z = 0 [(km/s)²] per component
    (negative where a component pulls outwards, e.g. inside a gas-disk hole)."""
    R = np.asarray(R, dtype=float)
    return {name: R * c.dphi_dR(R, 0.0) for name, c in components.items()}
