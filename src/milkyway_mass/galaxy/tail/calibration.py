"""Simulation-based calibration of the escape-velocity estimators (METHOD.md §8).

For a family of isotropic equilibrium distribution functions (DFs) in a
reference potential, many realisations of each radial bin's high-velocity halo
sample are drawn, optionally observed with the survey's speed errors, selected
as the survey is (v_min ≤ v < v_max), and fitted exactly as ``escape_velocity``
fits a bin (:func:`milkyway_mass.galaxy.tail.fit.fit_bins`, the configured k ranges and
model choice). Comparing each posterior with the true v_esc(r0) gives, per
estimator × bin × DF, the bias, the scatter, how often the 68 % and 95 %
intervals contain the truth (coverage), the largest pull and the rank of the
truth within the posterior.

DFs (E in km²/s², E_b = Φ(r_boundary) the escape energy):

* ``sharp``   galpy's Eddington inversion of a tracer density, cut off at E_b
              (f jumps from f(E_b⁻) > 0 to zero: the speed distribution ends in a step);
* ``smooth``  the same DF lowered so that it vanishes at the escape energy,
              f(E) − f(E_b) (King-type, linear in E_b − E near the edge);
* ``power_<n>`` f ∝ (E_b − E)^n, for which p(v | r) ∝ v² (v_esc² − v²)^n exactly.

Observation model: a realisation's radii and speed errors are drawn together
from the bin's selected survey stars (so errors follow the survey's at the same
radii); true speeds follow p(v | r) ∝ v² f(Φ(r) + v²/2) down to below v_min;
observed speeds add a Gaussian error of the star's σ_v; stars are kept if
v_min ≤ v_obs < v_max until the bin's star count is reached. Radius errors are
not modelled. Units: km/s, kpc.

The fits are independent: :func:`run_calibration` maps them over local
processes, or over a ``dask.distributed`` cluster when a scheduler address is
given (``parallel.map_jobs``). Their statistics (bias, coverage, corrections) are in :mod:`coverage`.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.mock import TruthGalaxy, halo_df
from milkyway_mass.galaxy.parallel import map_jobs
from milkyway_mass.galaxy.tail.coverage import score_posterior
from milkyway_mass.galaxy.tail.fit import (
    FitTask,
    SamplerSettings,
    choose_k_range,
    fit_bins,
    k_range_label,
    kept_samples,
    prior_and_start,
    task_seed,
)
from milkyway_mass.galaxy.tail.likelihood import TailData

logger = logging.getLogger(__name__)

__all__ = [
    "CalibrationJob",
    "Estimator",
    "build_jobs",
    "energy_df",
    "fit_realisation",
    "fit_realisations",
    "job_batches",
    "observe_bin",
    "results_table",
    "run_calibration",
    "sample_speeds",
]

N_RADII = 80  # radii of the tabulated inverse CDFs per bin
N_SPEEDS = 6000  # speeds per inverse CDF, dense towards v_esc


def energy_df(variant: str, galaxy: TruthGalaxy, tracer: dict | None = None):
    """f(E) of a DF variant (arbitrary normalisation), vectorised; zero for E ≥ E_b.

    ``variant`` is ``sharp`` or ``smooth`` (Eddington inversion of ``tracer``,
    ``{"scale_kpc", "inner_slope", "outer_slope"}``, see :func:`halo_df`) or
    ``power_<n>`` (``tracer`` unused).
    """
    e_b = float(galaxy.phi(galaxy.r_boundary)[0])
    if variant.startswith("power_"):
        n = float(variant.removeprefix("power_"))

        def shape(energy):
            return np.abs(e_b - energy) ** n
    elif variant in ("sharp", "smooth"):
        if tracer is None:
            raise ValueError(f"DF variant {variant!r} needs a tracer density")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            eddington = halo_df(galaxy, tracer)
            eddington._ensure_fE_interp()
        vo2 = galaxy.vo**2

        def edd(energy):
            return np.asarray(eddington._fE_interp(energy / vo2))

        f_edge = float(edd(e_b * (1 + 1e-9))) if variant == "smooth" else 0.0  # E_b < 0: just inside

        def shape(energy):
            return edd(energy) - f_edge
    else:
        raise ValueError(f"unknown DF variant {variant!r}: use sharp, smooth or power_<n>")

    def f(energy):
        energy = np.asarray(energy, dtype=float)
        return np.where(energy < e_b, np.clip(shape(energy), 0.0, None), 0.0)

    return f


def sample_speeds(galaxy: TruthGalaxy, f, r: np.ndarray, v_lo: float, rng: np.random.Generator) -> np.ndarray:
    """True speeds v ≥ v_lo at radii ``r`` [kpc] from p(v | r) ∝ v² f(Φ(r) + v²/2).

    Inverse CDFs are tabulated on ``N_RADII`` radii spanning ``r`` (each star uses
    the nearest tabulated radius at or above its own, scaled to its own v_esc).
    """
    r = np.asarray(r, dtype=float)
    r_grid = np.geomspace(r.min(), r.max() * (1 + 1e-9), N_RADII)
    vesc = galaxy.vesc(r_grid)
    if np.any(vesc <= v_lo):
        raise ValueError(
            f"v_esc <= {v_lo:.1f} km/s somewhere in {r.min():.2f}-{r.max():.2f} kpc: no bound star can be drawn"
        )
    u = np.unique(np.concatenate([1.0 - np.geomspace(1e-7, 1.0, N_SPEEDS // 2), np.linspace(0.0, 1.0, N_SPEEDS // 2)]))
    u_lo = v_lo / vesc[:, None]
    x_grid = u_lo + (1.0 - u_lo) * u[None, :]  # v / v_esc(r_grid) from v_lo to v_esc, per row
    v = x_grid * vesc[:, None]
    p = v**2 * f(galaxy.phi(r_grid)[:, None] + 0.5 * v**2)
    cdf = np.concatenate(
        [np.zeros((N_RADII, 1)), np.cumsum(0.5 * (p[:, 1:] + p[:, :-1]) * np.diff(v, axis=1), axis=1)], axis=1
    )
    if np.any(cdf[:, -1] <= 0):
        raise ValueError("the DF has no bound stars above v_lo at some radius of the bin")
    cdf /= cdf[:, -1:]
    row = np.clip(np.searchsorted(r_grid, r), 0, N_RADII - 1)  # r_grid[row] >= r: x·v_esc(r) ≥ v_lo
    q = rng.uniform(size=r.size)
    x = np.empty(r.size)
    for i in np.unique(row):
        sel = row == i
        x[sel] = np.interp(q[sel], cdf[i], x_grid[i])
    return x * galaxy.vesc(r)


def observe_bin(
    galaxy: TruthGalaxy,
    f,
    survey_r: np.ndarray,
    survey_sigma: np.ndarray,
    n: int,
    v_min: float,
    v_max: float,
    with_errors: bool,
    rng: np.random.Generator,
) -> dict:
    """One realisation of a bin: ``n`` selected stars with true and observed speeds.

    Radii and speed errors σ_v are drawn in pairs from the survey stars of the bin
    (``survey_r``, ``survey_sigma``). Noise-free (``with_errors=False``): v_obs =
    v_true ≥ v_min, σ = 0. With errors: true speeds start 5 max(σ) below v_min,
    v_obs = v_true + N(0, σ), kept if v_min ≤ v_obs < v_max; draws repeat until
    ``n`` stars are kept. Returns arrays r, v, sigma (selected) and the scalars
    r0 (median r) and vesc_true = v_esc(r0).
    """
    survey_r = np.asarray(survey_r, dtype=float)
    survey_sigma = np.asarray(survey_sigma, dtype=float)
    kept_r, kept_v, kept_s = [], [], []
    n_have, n_draw = 0, n
    v_lo = max(v_min - 5.0 * float(survey_sigma.max()), 0.25 * v_min) if with_errors else v_min
    for _ in range(50):
        pick = rng.integers(0, survey_r.size, n_draw)
        r = survey_r[pick]
        v_true = sample_speeds(galaxy, f, r, v_lo, rng)
        if with_errors:
            sigma = survey_sigma[pick]
            v_obs = v_true + sigma * rng.standard_normal(r.size)
            keep = (v_obs >= v_min) & (v_obs < v_max)
        else:
            sigma = np.zeros(r.size)
            v_obs = v_true
            keep = v_obs < v_max
        kept_r.append(r[keep])
        kept_v.append(v_obs[keep])
        kept_s.append(sigma[keep])
        n_have += int(keep.sum())
        if n_have >= n:
            break
        n_draw = int(2 * n * r.size / max(n_have, 1))
    else:
        raise RuntimeError(f"observe_bin: only {n_have} of {n} stars survive the selection v_min={v_min} ≤ v < {v_max}")
    r, v, sigma = (np.concatenate(a)[:n] for a in (kept_r, kept_v, kept_s))
    r0 = float(np.median(r))
    return {"r": r, "v": v, "sigma": sigma, "r0": r0, "vesc_true": float(galaxy.vesc(r0)[0])}


@dataclass(frozen=True)
class CalibrationJob:
    """One estimator on one realisation: a fit per k range, then the model choice (picklable)."""

    key: tuple
    tasks: tuple[FitTask, ...]
    labels: tuple[str, ...]
    tie_tolerance: float
    vesc_true: float


@dataclass(frozen=True)
class Estimator:
    """A tail estimator as ``escape_velocity`` runs it: likelihood, k ranges (one fit each, then the model choice) and their start values."""

    name: str
    likelihood: str
    k_ranges: tuple[tuple[float, float], ...]
    k_init: tuple[float, ...]

    def __post_init__(self):
        if len(self.k_ranges) != len(self.k_init) or not self.k_ranges:
            raise ValueError(
                f"estimator {self.name!r}: need one k_init per k range, got {self.k_ranges} and {self.k_init}"
            )


def build_jobs(
    galaxy: TruthGalaxy,
    dfs: dict,
    bins: pd.DataFrame,
    survey_stars: pd.DataFrame,
    estimators: list[Estimator],
    n_realisations: int,
    error_settings: tuple[str, ...],
    fit: dict,
    sampler: SamplerSettings,
    seed: int,
) -> list[CalibrationJob]:
    """Every (estimator, error setting, DF, bin, realisation) fit of a calibration.

    ``dfs`` maps DF names to ``{"variant", "tracer"}`` (see :func:`energy_df`);
    ``bins`` has columns binning, bin, v_min, n_stars; ``survey_stars`` the
    selected survey stars (binning, bin, r_gc, sigma_v_gc) whose radii and speed
    errors each realisation resamples; ``error_settings`` ⊆ {"none", "survey"};
    ``fit`` holds the priors and start of ``escape_velocity`` (vesc_max_kms, gamma,
    f, b if any estimator has it, sigma_out_kms, v_max_kms, tie_lnL, init {vesc_kms, gamma, f}, init_scatter).
    Every realisation's sample is drawn once from ``seed`` and the ids, and shared
    by all estimators, so estimators are compared on the same stars.
    """
    unknown = set(error_settings) - {"none", "survey"}
    if unknown:
        raise ValueError(f"calibration error settings must be 'none' or 'survey', got {sorted(unknown)}")
    jobs = []
    for i_df, (df_name, spec) in enumerate(dfs.items()):
        f = energy_df(spec["variant"], galaxy, spec.get("tracer"))
        for i_bin, (_, b) in enumerate(bins.iterrows()):
            stars = survey_stars[(survey_stars["binning"] == b["binning"]) & (survey_stars["bin"] == b["bin"])]
            if stars.empty:
                raise ValueError(
                    f"calibration: no survey stars in {b['binning']} bin {b['bin']} to take radii and errors from"
                )
            for i_err, errors in enumerate(error_settings):
                for real in range(n_realisations):
                    rng = np.random.default_rng(task_seed(seed, i_df, i_bin, i_err, real))
                    sample = observe_bin(
                        galaxy,
                        f,
                        stars["r_gc"].to_numpy(),
                        stars["sigma_v_gc"].to_numpy(),
                        int(b["n_stars"]),
                        float(b["v_min"]),
                        fit["v_max_kms"],
                        errors == "survey",
                        rng,
                    )
                    data = TailData(
                        v=sample["v"],
                        r=sample["r"],
                        sigma=np.maximum(sample["sigma"], 1e-3),
                        v_min=np.full(sample["v"].size, float(b["v_min"])),
                        r0=sample["r0"],
                    )
                    for est in estimators:
                        tasks = []
                        for ik, (kr, k0) in enumerate(zip(est.k_ranges, est.k_init)):
                            prior, theta0, scatter = prior_and_start(
                                est.likelihood, b["v_min"], kr, k0, fit, fit["init"], fit["init_scatter"]
                            )
                            tasks.append(
                                FitTask(
                                    key=(
                                        est.name,
                                        errors,
                                        df_name,
                                        b["binning"],
                                        int(b["bin"]),
                                        real,
                                        k_range_label(kr),
                                    ),
                                    data=data,
                                    prior=prior,
                                    theta0=theta0,
                                    scatter=scatter,
                                    likelihood=est.likelihood,
                                    sigma_out=fit["sigma_out_kms"],
                                    sampler=sampler,
                                    seed=task_seed(seed, i_df, i_bin, i_err, real, ik),
                                )
                            )
                        jobs.append(
                            CalibrationJob(
                                key=(est.name, errors, df_name, b["binning"], int(b["bin"]), real),
                                tasks=tuple(tasks),
                                labels=tuple(k_range_label(kr) for kr in est.k_ranges),
                                tie_tolerance=fit["tie_lnL"],
                                vesc_true=sample["vesc_true"],
                            )
                        )
    return jobs


def fit_realisations(jobs: Sequence[CalibrationJob]) -> list[dict]:
    """Fit realisations (every k range of each, all sampled together by ``fit_bins``; the jobs
    must share the likelihood and sampler settings), choose a k range for each, and score the
    chosen posterior against the truth. A realisation's result does not depend on the others.

    Each result: the job's key, the chosen k range, v_esc median and 2.5/16/84/97.5
    percentiles [km/s], the pull (median − truth)/σ with σ the 68 % half-width on
    the truth's side, the rank of the truth (fraction of samples below it),
    convergence of the chosen fit, and the run time [s] (the batch's, shared equally).
    """
    t0 = time.perf_counter()
    fitted = iter(fit_bins([task for job in jobs for task in job.tasks]))
    results = []
    for job in jobs:
        fits = {label: next(fitted) for label in job.labels}
        chosen = choose_k_range(fits, job.tie_tolerance)
        fit = fits[chosen]
        results.append(
            {
                "key": job.key,
                "k_range": chosen,
                "n_stars": fit["n_stars"],
                **score_posterior(kept_samples(fit)[:, 0], job.vesc_true),
                "k_median": float(np.median(fit["chain"][fit["n_burn_stored"] :, :, 1])),
                "converged": fit["converged"],
                "tau_max": float(np.max(fit["tau"])),
            }
        )
    runtime = (time.perf_counter() - t0) / max(len(jobs), 1)
    return [r | {"runtime_s": runtime} for r in results]


def fit_realisation(job: CalibrationJob) -> dict:
    """One realisation (``fit_realisations`` of one job; the same result as in any batch)."""
    return fit_realisations([job])[0]


KEY_COLUMNS = ("estimator", "errors", "df", "binning", "bin", "realisation")


def results_table(results: list[dict]) -> pd.DataFrame:
    """The results of :func:`fit_realisation` as one row per realisation, the key split into ``KEY_COLUMNS``."""
    rows = [{**dict(zip(KEY_COLUMNS, r["key"])), **{k: v for k, v in r.items() if k != "key"}} for r in results]
    return pd.DataFrame(rows)


def job_batches(jobs: Sequence[CalibrationJob], batch_size: int) -> list[list[int]]:
    """Indices of ``jobs`` in batches sampled together (``fit_realisations``): jobs of one
    likelihood, at most ``batch_size`` fits (k ranges × realisations) per batch, in job order."""
    if int(batch_size) < 1:
        raise ValueError(f"calibration batch_size must be a positive integer, got {batch_size!r}")
    groups: dict[str, list[list[int]]] = {}
    for i, job in enumerate(jobs):
        batches = groups.setdefault(job.tasks[0].likelihood, [[]])
        if batches[-1] and (len(batches[-1]) + 1) * len(job.tasks) > int(batch_size):
            batches.append([])
        batches[-1].append(i)
    return [batch for batches in groups.values() for batch in batches]


def run_calibration(
    jobs: list[CalibrationJob],
    scheduler_address: str | None = None,
    n_workers: int = 2,
    progress: bool = True,
    batch_size: int = 16,
) -> list[dict]:
    """Run every job, in batches of at most ``batch_size`` fits (``job_batches``,
    ``fit_realisations``) through ``parallel.map_jobs``; results in job order, the same for
    any batching.

    ``scheduler_address`` sends the batches to an existing ``dask.distributed`` scheduler (a
    real cluster); otherwise they run on ``n_workers`` local processes. The progress bar
    counts finished batches.
    """
    batches = job_batches(jobs, batch_size)
    fitted = map_jobs(
        fit_realisations,
        [[jobs[i] for i in batch] for batch in batches],
        n_workers,
        labels=[", ".join(str(jobs[i].key) for i in batch) for batch in batches],
        scheduler_address=scheduler_address,
        desc=f"calibration ({len(jobs)} realisations, in batches of <= {batch_size} fits)",
        unit="batch",
        progress=progress,
    )
    results: list[dict] = [{}] * len(jobs)
    for batch, batch_results in zip(batches, fitted):
        for i, result in zip(batch, batch_results):
            results[i] = result
    return results
