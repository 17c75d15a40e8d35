"""Reference escape-velocity curves from galpy's MWPotential2014 (METHOD.md §3).

Scaling: MWPotential2014 is defined in galpy's natural units with vc = 1 at R = 1;
it is put on the Milky Way scale by choosing the unit length ``ro = R0`` (8.122 kpc)
and the unit velocity ``vo = vc(R0)`` (234.04 km/s), so the unmodified potential has
vc(R0) = 234.04 km/s exactly (all lengths ×R0/8, velocities ×vc/220 relative to
galpy's default 8 kpc / 220 km/s).

Virial mass: ``M_vir = M(< r_vir)`` with the mean density inside ``r_vir`` equal to
``overdensity × Om × rho_crit``, ``rho_crit = 3 H0² / (8 pi G)``. The defaults
(200, Om = 0.3, H0 = 70) are galpy's ``NFWPotential.mvir()`` convention.

Halo rescaling: only the NFW halo's amplitude (its mass normalisation) changes; the
scale radius stays MWPotential2014's (16 kpc × R0/8), bulge and disk are unchanged.
For a target ``M_vir``, ``r_vir = (3 M_vir / (4 pi overdensity Om rho_crit))^(1/3)``
and the amplitude is ``M_vir / [ln(1 + c) - c / (1 + c)]`` with ``c = r_vir / a``.

Escape speed: ``v_esc(r) = sqrt(2 |Phi(R = r, z = 0) - Phi(inf)|)`` [km/s], i.e.
evaluated in the Galactic plane at cylindrical radius r (as galpy's ``vesc``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd
from galpy.potential import MWPotential2014, NFWPotential, evaluatePotentials
from galpy.potential.CompositePotential import CompositePotential
from galpy.util.conversion import get_physical, mass_in_msol

from milkyway_mass.galaxy.units import Cosmology, r200_from_m200

#: galpy evaluates the potential "at infinity" at this radius (natural units), as its ``vesc`` does.
_R_INFINITY = 1e20

#: Radius at which a bin's curve-based v_min is evaluated.
_EVALUATION_RADII = {
    "lower_edge": lambda lo, hi: lo,
    "midpoint": lambda lo, hi: 0.5 * (lo + hi),
    "upper_edge": lambda lo, hi: hi,
}
_ROUNDING = {"nearest": np.round, "up": np.ceil, "down": np.floor}


def scaled_mwpotential2014(R0_kpc: float, vc_R0_kms: float) -> CompositePotential:
    """Copy of MWPotential2014 (bulge + disk + halo) with galpy units ro = R0, vo = vc(R0)."""
    pot = copy.deepcopy(MWPotential2014)
    pot.turn_physical_on(ro=R0_kpc, vo=vc_R0_kms)
    return pot


def rescale_halo(
    pot: CompositePotential, mvir_msun: float, overdensity: float, H0_kms_mpc: float, Om: float
) -> CompositePotential:
    """``bulge + disk + halo'``: the NFW halo's amplitude set so its virial mass is ``mvir_msun``."""
    bulge, disk, halo = pot
    if not isinstance(halo, NFWPotential):
        raise TypeError(f"expected an NFW halo as third component, got {type(halo).__name__}")
    if not mvir_msun > 0:
        raise ValueError(f"virial mass must be > 0 Msun, got {mvir_msun}")
    units = get_physical(halo)
    r_vir = float(r200_from_m200(mvir_msun, Cosmology(H0_kms_mpc, Om), overdensity))
    mass_now = halo.mass(r_vir / units["ro"], use_physical=False) * mass_in_msol(units["vo"], units["ro"])
    return bulge + disk + halo * (mvir_msun / mass_now)


def reference_potentials(
    virial_masses_msun: Mapping[str, float],
    R0_kpc: float,
    vc_R0_kms: float,
    overdensity: float,
    H0_kms_mpc: float,
    Om: float,
) -> dict[str, list]:
    """Scaled MWPotential2014 with the halo rescaled to each named virial mass."""
    base = scaled_mwpotential2014(R0_kpc, vc_R0_kms)
    return {name: rescale_halo(base, float(m), overdensity, H0_kms_mpc, Om) for name, m in virial_masses_msun.items()}


def vesc_kms(pot: CompositePotential, r_kpc) -> np.ndarray:
    """Escape speed sqrt(2 |Phi(R=r, z=0) - Phi(inf)|) [km/s] at in-plane radius ``r_kpc``."""
    units = get_physical(pot)
    r = np.atleast_1d(np.asarray(r_kpc, float)) / units["ro"]
    phi_inf = evaluatePotentials(pot, _R_INFINITY, 0.0, use_physical=False)
    phi = evaluatePotentials(pot, r, np.zeros_like(r), use_physical=False)
    return units["vo"] * np.sqrt(2 * np.abs(phi - phi_inf))


def vesc_curves(potentials: Mapping[str, CompositePotential], r_kpc) -> pd.DataFrame:
    """Table ``r_kpc, vesc_<name>_kms`` for each potential, plus ``vesc_mean_kms`` (their mean)."""
    table = pd.DataFrame({"r_kpc": np.asarray(r_kpc, float)})
    for name, pot in potentials.items():
        table[f"vesc_{name}_kms"] = vesc_kms(pot, table["r_kpc"])
    table["vesc_mean_kms"] = table[[f"vesc_{name}_kms" for name in potentials]].mean(axis=1)
    return table


def bin_vmin(
    r_lo,
    r_hi,
    potentials: Mapping[str, CompositePotential],
    *,
    inner_r_max_kpc: float,
    inner_v_min_kms: float,
    curve_fraction: float,
    evaluate_at: str,
    round_to_kms: float,
    rounding: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin speed threshold and the radius it was evaluated at (both arrays).

    The radius ``r_eval`` is the bin's ``evaluate_at`` point (lower_edge, midpoint or
    upper_edge). Bins with ``r_eval <= inner_r_max_kpc`` get ``inner_v_min_kms``;
    others ``curve_fraction × mean v_esc(r_eval)``, rounded to a multiple of
    ``round_to_kms`` (``rounding``: nearest, up or down; 0 = no rounding).
    """
    if evaluate_at not in _EVALUATION_RADII:
        raise ValueError(f"v_min.evaluate_at must be one of {sorted(_EVALUATION_RADII)}, got {evaluate_at!r}")
    if rounding not in _ROUNDING:
        raise ValueError(f"v_min.rounding must be one of {sorted(_ROUNDING)}, got {rounding!r}")
    r_eval = _EVALUATION_RADII[evaluate_at](np.asarray(r_lo, float), np.asarray(r_hi, float))
    mean = np.mean([vesc_kms(pot, r_eval) for pot in potentials.values()], axis=0)
    curve = curve_fraction * mean
    if round_to_kms > 0:
        curve = _ROUNDING[rounding](curve / round_to_kms) * round_to_kms
    return np.where(r_eval <= inner_r_max_kpc, inner_v_min_kms, curve), r_eval
