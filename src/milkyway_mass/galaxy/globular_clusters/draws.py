"""Monte Carlo draws of each cluster's phase-space position over its observational errors.

Per cluster, ``n_draws`` draws (seeded, fixed for a fit) of the distance, the
line-of-sight velocity and the two proper motions (bivariate normal with the
catalogue's correlation); the sky position is taken as exact. Distances are drawn
either in distance modulus with a common error (``modulus_error_mag``, the published
choice 0.1 mag) or, with ``modulus_error_mag = None``, from a normal with the
catalogue's distance error (non-positive draws are redrawn).

The likelihood of a cluster averages the DF over these draws. The draws sample the
error distribution in the observables (D or mu, v_los, mu_alpha*, mu_delta) at fixed
(l, b), so each draw carries the Jacobian of the map observables -> phase space:
d³x d³v = D² cos b dl db dD × (k D)² dmu_alpha* dmu_delta dv_los, i.e. D⁴ for draws
in distance and D⁵ (dD = D ln 10 / 5 dmu) for draws in distance modulus; the factors
that are the same for every draw of a cluster (cos b, k², ln 10 / 5) are left out
(they add a constant to the log-likelihood). ``ln_weight`` holds the rest.

Units: kpc, km/s, mas/yr; angular momenta in kpc km/s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.coordinates import cylindrical, galactocentric_cartesian

__all__ = ["ClusterDraws", "draw_clusters", "draw_observables"]


@dataclass(frozen=True)
class ClusterDraws:
    """Phase-space draws of C clusters, K draws each (arrays (C, K)): Galactocentric radius
    ``r`` [kpc], squared speed ``v2`` [(km/s)²], angular momentum ``L`` and its z component
    ``L_z`` [kpc km/s], and the log Jacobian weight ``ln_weight``; cluster ``names``; and,
    for axisymmetric actions, the cylindrical coordinates ``cylindrical`` (R, z [kpc], v_R,
    v_phi, v_z [km/s], phi = atan2(y, x)), or None."""

    names: tuple[str, ...]
    r: np.ndarray
    v2: np.ndarray
    L: np.ndarray
    L_z: np.ndarray
    ln_weight: np.ndarray
    cylindrical: dict[str, np.ndarray] | None = None

    @property
    def n_clusters(self) -> int:
        return self.r.shape[0]

    @property
    def n_draws(self) -> int:
        return self.r.shape[1]


def _positive_normal(mean, sigma, rng: np.random.Generator, shape) -> np.ndarray:
    """Normal draws of shape (C, K) around mean ± sigma (arrays (C,)), redrawing values <= 0."""
    out = mean[:, None] + sigma[:, None] * rng.standard_normal(shape)
    for _ in range(100):
        bad = out <= 0
        if not bad.any():
            return out
        out[bad] = (mean[:, None] + sigma[:, None] * rng.standard_normal(shape))[bad]
    raise ValueError("distance draws stay non-positive: a distance error far exceeds its distance")


def draw_observables(
    clusters: pd.DataFrame, n_draws: int, seed: int, modulus_error_mag: float | None = 0.1
) -> dict[str, np.ndarray]:
    """Draws (arrays (C, K)) of ``dist`` [kpc], ``vlos`` [km/s], ``pmra``, ``pmdec`` [mas/yr] and
    their ``ln_weight`` (module docstring) for the clusters of ``clusters``."""
    if int(n_draws) < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    rng = np.random.default_rng(int(seed))
    shape = (len(clusters), int(n_draws))
    col = {c: clusters[c].to_numpy(dtype=float)[:, None] for c in clusters.columns if c != "Name"}
    if modulus_error_mag is None:
        disterr = col["disterr"][:, 0]
        if not np.all(np.isfinite(disterr) & (disterr > 0)):
            bad = clusters["Name"][~(np.isfinite(disterr) & (disterr > 0))].tolist()
            raise ValueError(f"distance errors from the catalogue: clusters {bad[:5]} have none")
        dist = _positive_normal(col["dist"][:, 0], disterr, rng, shape)
        ln_weight = 4.0 * np.log(dist)
    else:
        if not (np.isfinite(modulus_error_mag) and modulus_error_mag > 0):
            raise ValueError(f"modulus_error_mag must be positive (or null), got {modulus_error_mag}")
        dist = col["dist"] * 10.0 ** (0.2 * float(modulus_error_mag) * rng.standard_normal(shape))
        ln_weight = 5.0 * np.log(dist)
    vlos = col["vlos"] + col["vloserr"] * rng.standard_normal(shape)
    z1, z2 = rng.standard_normal(shape), rng.standard_normal(shape)
    corr = col["pmcorr"]
    return {
        "dist": dist,
        "vlos": vlos,
        "pmra": col["pmra"] + col["pmra_e"] * z1,
        "pmdec": col["pmdec"] + col["pmdec_e"] * (corr * z1 + np.sqrt(1.0 - corr**2) * z2),
        "ln_weight": ln_weight,
    }


def draw_clusters(
    clusters: pd.DataFrame,
    n_draws: int,
    seed: int,
    galaxy_frame: Mapping,
    modulus_error_mag: float | None = 0.1,
) -> ClusterDraws:
    """Phase-space draws for the clusters of ``clusters`` (``catalogue.select_clusters``' output)."""
    obs = draw_observables(clusters, n_draws, seed, modulus_error_mag)
    shape = obs["dist"].shape
    ra, dec = (np.broadcast_to(clusters[c].to_numpy(dtype=float)[:, None], shape) for c in ("ra", "dec"))
    gc = galactocentric_cartesian(
        ra.ravel(), dec.ravel(), *(obs[c].ravel() for c in ("dist", "vlos", "pmra", "pmdec")), galaxy_frame
    )
    x = np.stack([gc["x"], gc["y"], gc["z"]])
    v = np.stack([gc["vx"], gc["vy"], gc["vz"]])
    angular = np.cross(x.T, v.T).T
    cyl = cylindrical(*x, *v)
    return ClusterDraws(
        names=tuple(clusters["Name"].astype(str)),
        r=np.linalg.norm(x, axis=0).reshape(shape),
        v2=np.sum(v * v, axis=0).reshape(shape),
        L=np.linalg.norm(angular, axis=0).reshape(shape),
        L_z=angular[2].reshape(shape),
        ln_weight=obs["ln_weight"],
        cylindrical={
            "R": cyl["R_gc"].reshape(shape),
            "z": x[2].reshape(shape),
            **{k: cyl[k].reshape(shape) for k in ("v_R", "v_phi", "v_z")},
        },
    )
