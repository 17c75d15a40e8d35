"""Axisymmetric actions of the globular-cluster draws (galpy's Stäckel fudge) and the
re-weighting of a posterior sampled with spherical actions.

The fits sample with actions in the potential's monopole (``likelihood``), a fast
approximation. For a thinned posterior sample, ``staeckel_log_likelihood`` recomputes
the clusters' log-likelihood with galpy's ``actionAngleStaeckel`` (C implementation)
in the axisymmetric potential, one focal distance per cluster from
``estimateDeltaStaeckel`` at its median draw; ``importance_weights`` turns the
difference into weights w ∝ exp(ln L_Staeckel − ln L_spherical) and their effective
sample size (Σw)² / Σw².

galpy works in natural units with lengths in kpc and speeds in km/s (G = 1, so a
component of mass M has amplitude G M). ``galpy_potential`` maps the components:
spherical halos through galpy's ``interpSphericalPotential`` of their own potential,
Plummer spheres and Miyamoto–Nagai disks exactly; other components (oblate halos,
the tabulated McMillan-type baryons) have no galpy counterpart here yet and raise.
Draws where galpy's Stäckel solver fails (it returns 9999.99) or that are unbound are
left out of the cluster's mean like unbound draws in the spherical likelihood.
"""

from __future__ import annotations

import warnings

import numpy as np
from galpy.actionAngle import actionAngleStaeckel, estimateDeltaStaeckel
from galpy.potential import MiyamotoNagaiPotential, PlummerPotential, evaluatePotentials, interpSphericalPotential
from scipy.special import logsumexp

from milkyway_mass.galaxy.globular_clusters.likelihood import GlobularClusterTerm
from milkyway_mass.galaxy.potentials.baryons import MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import GalaxyModel
from milkyway_mass.galaxy.potentials.halos import SphericalHalo
from milkyway_mass.galaxy.units import G

__all__ = ["galpy_potential", "importance_weights", "staeckel_log_likelihood"]

#: Radii [kpc] of the interpolation grid of spherical halos in galpy.
HALO_GRID_KPC = np.geomspace(1e-3, 1e4, 2001)
#: galpy's marker of a failed Stäckel action.
GALPY_FAILED = 9999.0


def _scalar(value) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"galpy_potential takes one parameter set; got parameters of shape {arr.shape}")
    return float(arr.ravel()[0])


def galpy_potential(components):
    """A galpy potential (natural units: kpc, km/s, G = 1) equal to the sum of ``components``
    of one parameter set."""
    parts = []
    for c in components:
        if isinstance(c, SphericalHalo):
            r = HALO_GRID_KPC
            phi, dphi = c.monopole(r)
            parts.append(
                interpSphericalPotential(
                    rforce=lambda x, c=c: -c.monopole(np.atleast_1d(x))[1].ravel(),
                    rgrid=r,
                    Phi0=_scalar(phi.ravel()[0]),
                )
            )
        elif isinstance(c, Plummer):
            parts.append(PlummerPotential(amp=G * _scalar(c.mass_msun), b=_scalar(c.b_kpc)))
        elif isinstance(c, MiyamotoNagai):
            parts.append(MiyamotoNagaiPotential(amp=G * _scalar(c.mass_msun), a=_scalar(c.a_kpc), b=_scalar(c.b_kpc)))
        else:
            raise ValueError(
                f"no galpy counterpart for a {type(c).__name__} component yet (supported: spherical halos, "
                "Plummer spheres, Miyamoto-Nagai disks)"
            )
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def staeckel_log_likelihood(term: GlobularClusterTerm, galaxy: GalaxyModel) -> float:
    """ln L of ``term``'s clusters for one parameter set with Stäckel actions (module docstring)."""
    d = term.draws
    if d.cylindrical is None:
        raise ValueError("the draws carry no cylindrical coordinates (draw them with draws.draw_clusters)")
    df = term.distribution(galaxy)
    if not bool(np.all(df.valid())):
        return -np.inf
    pot = galpy_potential(galaxy.components)
    cyl = {k: v.ravel() for k, v in d.cylindrical.items()}
    shape = d.r.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        median_R, median_z = (np.median(d.cylindrical[k], axis=1) for k in ("R", "z"))
        delta = np.array([estimateDeltaStaeckel(pot, R, z) for R, z in zip(median_R, median_z)])
        energy = 0.5 * d.v2.ravel() + evaluatePotentials(pot, cyl["R"], cyl["z"])
        bound = energy < 0
        J_r, J_phi, J_z = (np.full(energy.size, np.nan) for _ in range(3))
        solver = actionAngleStaeckel(pot=pot, delta=np.repeat(delta, shape[1])[bound], c=True)
        jr, jphi, jz = solver(*(cyl[k][bound] for k in ("R", "v_R", "v_phi", "z", "v_z")))
    J_r[bound], J_phi[bound], J_z[bound] = jr, jphi, jz
    solved = bound & (J_r < GALPY_FAILED) & (J_z < GALPY_FAILED)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_f = df.log_f(np.where(solved, J_r, 1.0), np.where(solved, J_z, 1.0), np.where(solved, J_phi, 1.0))
        ln_f = np.where(solved, np.ravel(ln_f), -np.inf) + d.ln_weight.ravel()
    per_cluster = logsumexp(ln_f.reshape(shape), axis=1) - np.log(shape[1])
    return float(np.sum(per_cluster) - d.n_clusters * float(np.ravel(df.log_normalisation())[0]))


def importance_weights(log_l_target, log_l_sampled) -> tuple[np.ndarray, float]:
    """(normalised weights, effective sample size) of samples drawn under ``log_l_sampled``
    re-weighted to ``log_l_target`` (arrays (n,)); samples with -inf target get weight 0."""
    diff = np.asarray(log_l_target, dtype=float) - np.asarray(log_l_sampled, dtype=float)
    diff = np.where(np.isfinite(diff), diff, -np.inf)
    if not np.isfinite(diff).any():
        raise ValueError("no sample has a finite target log-likelihood")
    w = np.exp(diff - np.max(diff))
    w /= w.sum()
    return w, float(1.0 / np.sum(w**2))
