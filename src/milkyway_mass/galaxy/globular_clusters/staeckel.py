"""Axisymmetric actions of the globular-cluster draws (galpy's Stäckel fudge) and the
re-weighting of a posterior sampled with spherical actions.

The fits sample with actions in the potential's monopole (``likelihood``), a fast
approximation. For a thinned posterior sample, ``staeckel_log_likelihood`` recomputes
the clusters' log-likelihood with galpy's ``actionAngleStaeckel`` (C implementation)
in the axisymmetric potential, one focal distance per cluster from
``estimateDeltaStaeckel`` at its median draw; ``importance_weights`` turns the
difference into weights w ∝ exp(ln L_Staeckel − ln L_spherical) and their effective
sample size (Σw)² / Σw²; ``reweight_to_staeckel`` does both for a set of samples of a
``MassModel``, in a process pool. When the effective sample size is too small,
``sample_staeckel_posterior`` runs a short emcee chain of the posterior with Stäckel
actions (``StaeckelPosterior``) from walkers drawn from the re-weighted samples.

galpy works in natural units (G = 1): here lengths in ``LENGTH_UNIT_KPC`` = 8 kpc and
speeds in ``SPEED_UNIT_KMS`` = 220 km/s, galpy's defaults. The unit matters: galpy's C
Stäckel solver looks for the outer turning point only out to 37.5 length units, so with
lengths in kpc every orbit reaching beyond 37.5 kpc failed; here the limit is 300 kpc.
``galpy_potential`` maps the components:
spherical halos through galpy's ``interpSphericalPotential`` of their own potential,
Plummer spheres and Miyamoto–Nagai disks exactly. The tabulated McMillan-type baryons
have analytic stand-ins (``mcmillan_stand_ins``): each exponential disk becomes galpy's
three-Miyamoto–Nagai approximation (circular speed within ~1-3 % of the tabulated disk
out to 20 kpc), the bulge and the gas disks their monopoles. Oblate halos have no galpy
counterpart here and raise.

The Stäckel fudge is itself an approximation whose log-likelihood depends on the focal
distances; ``focal_distance_scale`` lets a run measure how much.
Draws that are unbound get f = 0, as in the spherical likelihood. Bound draws where galpy's
Stäckel solver fails (it returns 9999.99: orbits that reach beyond 300 kpc, i.e. nearly
unbound ones) keep their actions in the potential's monopole, which such orbits see almost
everywhere along their path; ``reweight_to_staeckel`` counts them (``failed_fraction``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from galpy.actionAngle import actionAngleStaeckel, estimateDeltaStaeckel
from galpy.potential import (
    MiyamotoNagaiPotential,
    MN3ExponentialDiskPotential,
    PlummerPotential,
    evaluatePotentials,
    interpSphericalPotential,
)
from scipy.special import logsumexp
from tqdm.auto import tqdm

from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.fitting import Posterior, run_emcee
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws
from milkyway_mass.galaxy.globular_clusters.likelihood import GlobularClusterTerm
from milkyway_mass.galaxy.model import MassModel
from milkyway_mass.galaxy.parallel import process_pool, progress_bar
from milkyway_mass.galaxy.potentials.baryon_tables import TabulatedComponent
from milkyway_mass.galaxy.potentials.baryons import McMillanBaryons, MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import GalaxyModel
from milkyway_mass.galaxy.potentials.halos import SphericalHalo
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable
from milkyway_mass.galaxy.units import G

__all__ = [
    "focal_distances",
    "galpy_potential",
    "importance_weights",
    "mcmillan_stand_ins",
    "model_potential",
    "reweight_to_staeckel",
    "sample_staeckel_posterior",
    "staeckel_actions",
    "staeckel_log_likelihood",
    "staeckel_log_likelihoods",
    "StaeckelPosterior",
]

#: Radii [kpc] of galpy's interpolation grid of spherical components: 201 points give
#: potential and force to < 2e-5 and actions to ~2e-5; galpy's C code costs grow with the
#: grid's size (2001 points: 10x slower).
SPHERICAL_GRID_KPC = np.geomspace(1e-3, 1e4, 201)
#: Focal distance [kpc] galpy's ``estimateDeltaStaeckel`` returns in a spherical potential.
SPHERICAL_DELTA_KPC = 1e-6
#: galpy's natural units of length [kpc] and speed [km/s] in this module (galpy's defaults).
LENGTH_UNIT_KPC = 8.0
SPEED_UNIT_KMS = 220.0
#: Mass [Msun] of amplitude 1 in those units: G M / (length x speed²).
_MASS_UNIT = LENGTH_UNIT_KPC * SPEED_UNIT_KMS**2 / G
#: galpy's marker of a failed Stäckel action.
GALPY_FAILED = 9999.0


def _scalar(value) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"galpy_potential takes one parameter set; got parameters of shape {arr.shape}")
    return float(arr.ravel()[0])


def _spherical(monopole, r_min_kpc: float) -> interpSphericalPotential:
    """galpy's interpolated spherical potential of a component's ``monopole`` (its potential at
    the grid's first radius ``r_min_kpc``, where the monopole must be exact)."""
    r = SPHERICAL_GRID_KPC[SPHERICAL_GRID_KPC > r_min_kpc]
    r = np.concatenate([[r_min_kpc], r])
    force_unit = SPEED_UNIT_KMS**2 / LENGTH_UNIT_KPC
    return interpSphericalPotential(
        rforce=lambda x: -np.ravel(monopole(np.atleast_1d(x) * LENGTH_UNIT_KPC)[1]) / force_unit,
        rgrid=r / LENGTH_UNIT_KPC,
        Phi0=_scalar(np.ravel(monopole(r[:1])[0])[0]) / SPEED_UNIT_KMS**2,
    )


def _exponential_disk(mass_msun: float, rd_kpc: float, z_d_kpc: float) -> MN3ExponentialDiskPotential:
    """galpy's three-Miyamoto–Nagai approximation of an exponential disk of this mass, scale
    length and exponential scale height (Smith et al. 2015)."""
    rho0 = mass_msun / (4.0 * np.pi * rd_kpc**2 * z_d_kpc) / _MASS_UNIT * LENGTH_UNIT_KPC**3
    return MN3ExponentialDiskPotential(amp=rho0, hr=rd_kpc / LENGTH_UNIT_KPC, hz=z_d_kpc / LENGTH_UNIT_KPC)


def mcmillan_stand_ins(components: Mapping[str, TabulatedComponent], baryons: McMillanBaryons) -> list:
    """Analytic galpy stand-ins of the McMillan-type baryon ``components`` (one parameter set;
    named as ``McMillanBaryons.components`` names them): each exponential disk by galpy's
    ``MN3ExponentialDiskPotential`` of its mass, scale length and height; the bulge and the gas
    by their monopoles (the spherical average of the q = 0.5 bulge and of the gas disks with
    their central holes; ``tests`` and the module docstring give the resulting errors)."""
    heights = {"thin_disk": baryons.thin_z_d_kpc, "thick_disk": baryons.thick_z_d_kpc}
    parts = []
    for name, c in components.items():
        if name in heights:
            parts.append(_exponential_disk(_scalar(c.mass_msun), _scalar(c.rd_kpc), heights[name]))
        else:
            parts.append(_spherical(c.monopole, float(c.table.radius[0]) * (1.0 + 1e-9)))
    return parts


def galpy_potential(components, baryons: McMillanBaryons | None = None):
    """A galpy potential (natural units: ``LENGTH_UNIT_KPC``, ``SPEED_UNIT_KMS``) of ``components`` of one parameter
    set: a sequence of analytic components, or the mapping name → component of
    ``MassModel.components`` (McMillan-type baryons, given ``baryons``, through
    ``mcmillan_stand_ins``)."""
    named = dict(components) if isinstance(components, Mapping) else dict(enumerate(components))
    tabulated = {k: c for k, c in named.items() if isinstance(c, TabulatedComponent)}
    if tabulated and baryons is None:
        raise ValueError("tabulated baryon components need their McMillanBaryons model for galpy stand-ins")
    parts = mcmillan_stand_ins(tabulated, baryons) if tabulated else []
    for c in (c for c in named.values() if not isinstance(c, TabulatedComponent)):
        if isinstance(c, SphericalHalo):
            parts.append(_spherical(c.monopole, float(SPHERICAL_GRID_KPC[0])))
        elif isinstance(c, Plummer):
            parts.append(PlummerPotential(amp=_scalar(c.mass_msun) / _MASS_UNIT, b=_scalar(c.b_kpc) / LENGTH_UNIT_KPC))
        elif isinstance(c, MiyamotoNagai):
            a, b = _scalar(c.a_kpc) / LENGTH_UNIT_KPC, _scalar(c.b_kpc) / LENGTH_UNIT_KPC
            parts.append(MiyamotoNagaiPotential(amp=_scalar(c.mass_msun) / _MASS_UNIT, a=a, b=b))
        else:
            raise ValueError(
                f"no galpy counterpart for a {type(c).__name__} component yet (supported: spherical halos, "
                "Plummer spheres, Miyamoto-Nagai disks, McMillan-type baryons)"
            )
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def focal_distances(potential, R, z) -> np.ndarray:
    """Focal distance Δ [kpc] of the Stäckel fudge at each point (R, z) [kpc] from galpy's
    ``estimateDeltaStaeckel`` in ``potential`` (``galpy_potential``); where its Δ² is negative (the potential is locally not oblate
    in the sense of the estimate: distant clusters in a halo-dominated potential), Δ is that of
    a spherical potential, ``SPHERICAL_DELTA_KPC``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R, z = (np.asarray(x, dtype=float) / LENGTH_UNIT_KPC for x in (R, z))
        delta = np.atleast_1d(estimateDeltaStaeckel(potential, R, z, no_median=True)) * LENGTH_UNIT_KPC
    return np.where(np.isfinite(delta), delta, SPHERICAL_DELTA_KPC)


def model_potential(model: MassModel, theta):
    """The galpy potential of one parameter set ``theta`` (shape (D,) or (1, D)) of ``model``."""
    baryons = model.baryons if isinstance(model.baryons, McMillanBaryons) else None
    return galpy_potential(model.components(np.atleast_2d(theta)), baryons)


def staeckel_actions(draws: ClusterDraws, potential, focal_distance_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Stäckel actions J_r, J_phi (= L_z), J_z [kpc km/s] of every draw (shape (clusters, draws))
    in ``potential`` (``galpy_potential``), one focal distance per cluster at its median draw
    times ``focal_distance_scale``; ``bound`` and ``solved`` (bound and galpy succeeded) masks."""
    if draws.cylindrical is None:
        raise ValueError("the draws carry no cylindrical coordinates (draw them with draws.draw_clusters)")
    cyl = {
        k: v.ravel() / (LENGTH_UNIT_KPC if k in ("R", "z") else SPEED_UNIT_KMS) for k, v in draws.cylindrical.items()
    }
    shape = draws.r.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        median_R, median_z = (np.median(draws.cylindrical[k], axis=1) for k in ("R", "z"))
        delta = focal_distance_scale * focal_distances(potential, median_R, median_z) / LENGTH_UNIT_KPC
        energy = 0.5 * draws.v2.ravel() / SPEED_UNIT_KMS**2 + evaluatePotentials(potential, cyl["R"], cyl["z"])
        bound = energy < 0
        J_r, J_phi, J_z = (np.full(energy.size, np.nan) for _ in range(3))
        solver = actionAngleStaeckel(pot=potential, delta=np.repeat(delta, shape[1])[bound], c=True)
        J_r[bound], J_phi[bound], J_z[bound] = solver(*(cyl[k][bound] for k in ("R", "v_R", "v_phi", "z", "v_z")))
    solved = bound & (J_r < GALPY_FAILED) & (J_z < GALPY_FAILED)
    unit = LENGTH_UNIT_KPC * SPEED_UNIT_KMS
    out = {"J_r": J_r * unit, "J_phi": J_phi * unit, "J_z": J_z * unit, "bound": bound, "solved": solved}
    return {k: v.reshape(shape) for k, v in out.items()}


def staeckel_log_likelihood(
    term: GlobularClusterTerm,
    galaxy: GalaxyModel,
    potential=None,
    focal_distance_scale: float = 1.0,
    actions: dict[str, np.ndarray] | None = None,
) -> float:
    """ln L of ``term``'s clusters for one parameter set with Stäckel actions (module docstring)
    in ``potential`` (galpy; default: ``galpy_potential(galaxy.components)``), every focal
    distance multiplied by ``focal_distance_scale``; or with the given ``staeckel_actions``.
    Bound draws galpy fails on take their actions in the galaxy's monopole."""
    df = term.distribution(galaxy)
    if not bool(np.all(df.valid())):
        return -np.inf
    if actions is None:
        pot = galpy_potential(galaxy.components) if potential is None else potential
        actions = staeckel_actions(term.draws, pot, focal_distance_scale)
    d, solved = term.draws, actions["solved"].ravel()
    J = {k: np.where(solved, actions[k].ravel(), 1.0) for k in ("J_r", "J_z", "J_phi")}
    usable = solved.copy()
    failed = actions["bound"].ravel() & ~solved
    if failed.any():
        table = MonopoleTable.from_components(galaxy.components)
        monopole = spherical_actions(table, *(x.ravel()[failed] for x in (d.r, d.v2, d.L, d.L_z)))
        usable[failed] = monopole["bound"][0]
        for k, values in J.items():
            values[failed] = np.where(monopole["bound"][0], monopole[k][0], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_f = df.log_f(J["J_r"], J["J_z"], J["J_phi"])
        ln_f = np.where(usable, np.ravel(ln_f), -np.inf) + d.ln_weight.ravel()
    per_cluster = logsumexp(ln_f.reshape(d.r.shape), axis=1) - np.log(d.n_draws)
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


def _staeckel_chunk(task: tuple) -> np.ndarray:
    """(ln L, fraction of bound draws galpy failed to solve) per parameter set of the chunk."""
    term, model, thetas, scale = task
    rows = []
    for t in thetas:
        actions = staeckel_actions(term.draws, model_potential(model, t), scale)
        failed = np.sum(actions["bound"] & ~actions["solved"]) / max(1, np.sum(actions["bound"]))
        rows.append((staeckel_log_likelihood(term, model.build(t[None, :]), actions=actions), failed))
    return np.array(rows)


def staeckel_log_likelihoods(
    term: GlobularClusterTerm,
    model: MassModel,
    samples,
    focal_distance_scale: float = 1.0,
    chunk: int = 10,
    pool: Executor | None = None,
    bar: tqdm | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ln L with Stäckel actions, fraction of bound draws galpy failed to solve) of ``term``'s
    clusters for each parameter set of ``samples`` (N, D) of ``model``: arrays (N,). Chunks of
    ``chunk`` samples run on ``pool`` (an executor; serially if None), advancing ``bar``."""
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    tasks = [(term, model, samples[i : i + chunk], focal_distance_scale) for i in range(0, len(samples), chunk)]
    futures = [pool.submit(_staeckel_chunk, t) for t in tasks] if pool is not None else [None] * len(tasks)
    parts = []
    for task, future in zip(tasks, futures):
        parts.append(_staeckel_chunk(task) if future is None else future.result())
        if bar is not None:
            bar.update(len(task[2]))
    log_l, failed = np.concatenate(parts).T
    return log_l, failed


def reweight_to_staeckel(
    term: GlobularClusterTerm,
    model: MassModel,
    samples,
    n_workers: int = 1,
    focal_distance_scale: float = 1.0,
    chunk: int = 10,
    progress: bool = False,
    label: str = "",
) -> dict[str, np.ndarray | float]:
    """Importance re-weighting of posterior ``samples`` (N, D) of ``model``, sampled with the
    clusters' spherical-action likelihood ``term``, to Stäckel actions.

    Returns ``log_l_spherical`` and ``log_l_staeckel`` (N,), the fraction of bound draws
    galpy failed to solve per sample ``failed_fraction`` (N,), the normalised ``weights``
    (N,) and their ``effective_sample_size``. The Stäckel likelihoods (seconds per sample) run in
    chunks of ``chunk`` samples in a 'spawn' process pool of ``n_workers`` (serially if 1),
    counted by a progress bar (``progress``; ``label`` prefixes it); a plain script calling
    this needs an ``if __name__ == "__main__":`` guard.
    """
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    spherical = np.concatenate(
        [term.log_likelihood(model.build(samples[i : i + chunk])) for i in range(0, len(samples), chunk)]
    )
    n_tasks = -(-len(samples) // chunk)
    bar = progress_bar(len(samples), f"{label} Stäckel re-weighting".strip(), "sample", progress)
    with process_pool(min(n_workers, n_tasks)) as pool:
        staeckel, failed = staeckel_log_likelihoods(term, model, samples, focal_distance_scale, chunk, pool, bar)
    bar.close()
    weights, ess = importance_weights(staeckel, spherical)
    return {
        "log_l_spherical": spherical,
        "log_l_staeckel": staeckel,
        "failed_fraction": failed,
        "weights": weights,
        "effective_sample_size": ess,
    }


@dataclass(frozen=True, eq=False)
class StaeckelPosterior:
    """The log posterior of ``posterior`` with its globular-cluster term's spherical actions
    replaced by Stäckel actions (focal distances x ``focal_distance_scale``): a callable of θ
    (W, D) → (W,) for ``fitting.run_emcee``. The walkers' Stäckel likelihoods run in chunks of
    ``chunk`` on ``pool`` (an executor; serially if None)."""

    posterior: Posterior
    focal_distance_scale: float = 1.0
    pool: Executor | None = None
    chunk: int = 10

    def __call__(self, theta):
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        log_post = self.posterior(theta)
        ok = np.isfinite(log_post)
        if ok.any():
            term = next(t for t in self.posterior.terms if isinstance(t, GlobularClusterTerm))
            spherical = self.posterior.log_likelihood_terms(theta[ok])[term.name]
            staeckel, _ = staeckel_log_likelihoods(
                term, self.posterior.model, theta[ok], self.focal_distance_scale, self.chunk, self.pool
            )
            log_post[ok] += staeckel - spherical
        return np.where(np.isnan(log_post), -np.inf, log_post)


def sample_staeckel_posterior(
    posterior: Posterior,
    samples,
    weights,
    n_walkers: int,
    n_steps: int,
    burn_fraction: float,
    seed: int,
    n_workers: int = 1,
    focal_distance_scale: float = 1.0,
    progress: bool = False,
    label: str = "",
) -> dict:
    """A short emcee run of ``StaeckelPosterior(posterior)``, for when re-weighting ``samples``
    (N, D) to Stäckel actions leaves too few effective samples: ``n_walkers`` distinct samples
    drawn with probabilities ``weights`` (``reweight_to_staeckel``) start ``n_steps`` steps, the
    first ``burn_fraction`` of them discarded; each step's walkers run on ``n_workers`` processes.
    Returns ``fitting.run_emcee``'s result (chain of the kept steps and its diagnostics)."""
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    weights = np.asarray(weights, dtype=float)
    if np.count_nonzero(weights) < n_walkers:
        raise ValueError(
            f"{label}: {np.count_nonzero(weights)} samples have a finite Stäckel likelihood, fewer than the "
            f"{n_walkers} distinct starting points of the Stäckel MCMC"
        )
    rng = np.random.default_rng(seed)
    start = samples[rng.choice(len(samples), size=n_walkers, replace=False, p=weights)]
    n_burn = int(round(float(burn_fraction) * n_steps))
    with process_pool(n_workers) as pool:
        # emcee's stretch move scores half the walkers at a time: one chunk per process
        target = StaeckelPosterior(
            posterior, focal_distance_scale, pool, chunk=-(-n_walkers // (2 * max(1, n_workers)))
        )
        return run_emcee(
            target,
            posterior.prior,
            n_walkers=n_walkers,
            n_burn=n_burn,
            n_keep=int(n_steps) - n_burn,
            seed=int(rng.integers(2**32)),
            progress=progress,
            initial=start,
            label=f"{label} Stäckel MCMC".strip(),
        )
