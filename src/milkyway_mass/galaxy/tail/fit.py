"""emcee fits of the high-velocity tail, one radial bin and one k range at a time (METHOD.md §4).

A fit samples θ = (v_esc(r0) [km/s], k, γ, f), plus b for ``df_power_exp``, with
the vectorised posterior of :mod:`milkyway_mass.galaxy.tail.likelihood`, then records its
diagnostics: acceptance fraction, integrated autocorrelation time τ per parameter,
whether the kept chain is longer than ``n_tau`` × max τ, the maximum likelihood
L_max (best chain sample, optionally polished by a bounded Nelder–Mead search) and
AIC = 2·n_params − 2 ln L_max.
Independent fits run in a process pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import emcee
import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from milkyway_mass.galaxy.tail.likelihood import (
    PARAMETER_NAMES,
    PriorBounds,
    TailData,
    TailLikelihood,
    TailPosterior,
    parameter_names,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplerSettings:
    """emcee and diagnostic settings of one fit."""

    n_walkers: int = 50
    n_burn: int = 2000
    n_keep: int = 3000
    n_tau: float = 50.0
    polish: bool = True
    polish_max_iter: int = 2000
    store_every: int = 1

    def __post_init__(self):
        if self.n_walkers < 2 * len(PARAMETER_NAMES):
            raise ValueError(f"n_walkers must be >= {2 * len(PARAMETER_NAMES)} for emcee's stretch move, "
                             f"got {self.n_walkers}")
        if self.n_burn < 0 or self.n_keep < 1 or self.store_every < 1:
            raise ValueError(f"need n_burn >= 0, n_keep >= 1, store_every >= 1; got {self}")


@dataclass(frozen=True)
class FitTask:
    """Everything one worker needs to fit one bin with one k range (picklable)."""

    key: tuple
    data: TailData
    bounds: PriorBounds
    theta0: tuple
    scatter: tuple
    likelihood: str
    sigma_out: float
    sampler: SamplerSettings
    seed: int


def k_range_label(k_range) -> str:
    """Label of a k range, e.g. [0.1, 2.5] → 'k0.1-2.5'."""
    lo, hi = k_range
    return f"k{lo:g}-{hi:g}"


def task_seed(base_seed: int, *ids: int) -> int:
    """A reproducible, independent 32-bit seed per fit from the base seed and integer ids."""
    return int(np.random.SeedSequence([int(base_seed), *map(int, ids)]).generate_state(1)[0])


def aic(ln_l_max: float, n_params: int) -> float:
    """Akaike information criterion 2s − 2 ln L_max."""
    return 2.0 * n_params - 2.0 * ln_l_max


def prior_and_start(likelihood: str, v_min: float, k_range, k_init: float, priors: dict, init: dict,
                    scatter: dict) -> tuple[PriorBounds, tuple, tuple]:
    """Prior box, start θ0 and start scatter of one fit, from ``escape_velocity``-style settings.

    ``priors`` has vesc_max_kms, gamma, f [lo, hi] (and b for likelihoods with b);
    ``init`` and ``scatter`` have vesc_kms, gamma, f (and b); scatter also k. The
    v_esc(r0) prior starts at the bin's v_min [km/s].
    """
    names = parameter_names(likelihood)
    extra = [n for n in names if n not in PARAMETER_NAMES]
    for settings, what in ((priors, "priors"), (init, "init"), (scatter, "init_scatter")):
        missing = [n for n in extra if n not in settings]
        if missing:
            raise ValueError(f"{likelihood} likelihood needs escape_velocity.{what}.{missing[0]}")
    bounds = PriorBounds(float(v_min), priors["vesc_max_kms"], *k_range, *priors["gamma"], *priors["f"],
                         *(priors["b"] if extra else (None, None)))
    theta0 = (init["vesc_kms"], k_init, init["gamma"], init["f"], *(init[n] for n in extra))
    widths = (scatter["vesc_kms"], scatter["k"], scatter["gamma"], scatter["f"], *(scatter[n] for n in extra))
    return bounds, theta0, widths


def initial_walkers(theta0, scatter, bounds: PriorBounds, n_walkers: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian ball around θ0 with per-parameter widths, folded into the prior box; shape (W, n_params)."""
    lo, hi = bounds.lower, bounds.upper
    if not len(theta0) == len(scatter) == lo.size:
        raise ValueError(f"initial_walkers: theta0 ({len(theta0)}), scatter ({len(scatter)}) and the prior box "
                         f"({lo.size}) must have one entry per parameter")
    margin = 1e-6 * (hi - lo)
    start = np.clip(np.asarray(theta0, dtype=float), lo + margin, hi - margin)
    ball = start + np.asarray(scatter, dtype=float) * rng.standard_normal((n_walkers, lo.size))
    ball = np.where(ball < lo, 2 * lo - ball, ball)
    ball = np.where(ball > hi, 2 * hi - ball, ball)
    return np.clip(ball, lo + margin, hi - margin)


def maximise_likelihood(likelihood: TailLikelihood, bounds: PriorBounds, start, max_iter: int):
    """Bounded Nelder–Mead maximum of ln L from ``start``; returns (θ, ln L).

    Works in coordinates scaled to the prior box, with f on a log scale.
    """
    lo, hi = bounds.lower.copy(), bounds.upper.copy()
    lo[3], hi[3] = np.log(lo[3]), np.log(hi[3])

    def to_unit(theta):
        t = np.array(theta, dtype=float)
        t[3] = np.log(t[3])
        return (t - lo) / (hi - lo)

    def from_unit(x):
        t = lo + np.clip(x, 0.0, 1.0) * (hi - lo)
        t[3] = np.exp(t[3])
        return t

    def neg_ln_l(x):
        return -float(likelihood(from_unit(x)[None, :])[0])

    x0 = to_unit(start)
    res = minimize(neg_ln_l, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * lo.size,
                   options={"maxiter": max_iter, "xatol": 1e-7, "fatol": 1e-7})
    return from_unit(res.x), -float(res.fun)


def run_fit(task: FitTask, progress: bool = False) -> dict:
    """Sample one bin with one k range; returns the chain (float32) and its diagnostics.

    Keys: chain (n_stored, W, P), log_prob (n_stored, W), n_burn_stored,
    store_every, acceptance_fraction, tau (P,), converged, n_tau_required,
    ln_l_max, theta_max (P,), aic, runtime_s, parameter_names (P), plus the
    task's key, k_range, likelihood, seed and n_stars.
    """
    t_start = time.perf_counter()
    s = task.sampler
    rng = np.random.default_rng(task.seed)
    like = TailLikelihood(task.data, task.sigma_out, task.likelihood)
    post = TailPosterior(like, task.bounds)
    p0 = initial_walkers(task.theta0, task.scatter, task.bounds, s.n_walkers, rng)
    if s.n_walkers < 2 * p0.shape[1]:
        raise ValueError(f"{task.likelihood} likelihood has {p0.shape[1]} parameters: n_walkers must be >= "
                         f"{2 * p0.shape[1]}, got {s.n_walkers}")
    sampler = emcee.EnsembleSampler(s.n_walkers, p0.shape[1], post, vectorize=True)
    sampler.random_state = np.random.RandomState(task.seed).get_state()
    sampler.run_mcmc(p0, s.n_burn + s.n_keep, progress=progress)

    chain = sampler.get_chain()
    log_prob = sampler.get_log_prob()
    ln_l = sampler.get_blobs()
    kept = chain[s.n_burn:]
    tau = emcee.autocorr.integrated_time(kept, tol=0, quiet=True)
    best = np.unravel_index(np.argmax(ln_l), ln_l.shape)
    theta_max, ln_l_max = chain[best], float(ln_l[best])
    if s.polish:
        theta_pol, ln_l_pol = maximise_likelihood(like, task.bounds, theta_max, s.polish_max_iter)
        if ln_l_pol > ln_l_max:
            theta_max, ln_l_max = theta_pol, ln_l_pol
    n_tau_required = s.n_tau * float(np.max(tau))
    return {
        "key": task.key,
        "k_range": (float(task.bounds.k_lo), float(task.bounds.k_hi)),
        "likelihood": task.likelihood,
        "seed": task.seed,
        "n_stars": task.data.n,
        "parameter_names": like.parameter_names,
        "chain": chain[:: s.store_every].astype(np.float32),
        "log_prob": log_prob[:: s.store_every].astype(np.float32),
        "n_burn_stored": -(-s.n_burn // s.store_every),
        "store_every": s.store_every,
        "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
        "tau": tau,
        "n_tau_required": n_tau_required,
        "converged": bool(s.n_keep > n_tau_required),
        "ln_l_max": ln_l_max,
        "theta_max": np.asarray(theta_max, dtype=float),
        "aic": aic(ln_l_max, p0.shape[1]),
        "runtime_s": time.perf_counter() - t_start,
    }


def _run_fit_checked(task: FitTask) -> dict:
    try:
        return run_fit(task)
    except Exception as exc:
        raise RuntimeError(f"tail fit {task.key} failed: {exc}") from exc


def run_fits(tasks: list[FitTask], n_workers: int = 2, progress: bool = True) -> dict:
    """Run independent fits, in a process pool of ``n_workers`` (serially if 1); returns {key: result}.

    Largest bins are submitted first; the progress bar counts finished fits. The
    pool uses the 'spawn' start method (no fork of a threaded parent), so a plain
    script calling this needs an ``if __name__ == "__main__":`` guard.
    """
    if not tasks:
        return {}
    ordered = sorted(tasks, key=lambda t: -t.data.n)
    results = {}
    bar = tqdm(total=len(ordered), desc="tail fits", unit="fit", disable=not progress)
    if n_workers <= 1 or len(ordered) == 1:
        for task in ordered:
            results[task.key] = _run_fit_checked(task)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(n_workers, len(ordered)), mp_context=ctx) as pool:
            futures = {pool.submit(_run_fit_checked, task): task.key for task in ordered}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    bar.close()
    for key, res in results.items():
        logger.info("fit %s: N=%d, ln L_max=%.2f, acceptance=%.2f, max tau=%.0f (%s), %.1f s", key, res["n_stars"],
                    res["ln_l_max"], res["acceptance_fraction"], np.max(res["tau"]),
                    "converged" if res["converged"] else "chain shorter than n_tau*tau", res["runtime_s"])
    return results


def choose_k_range(fits: dict, tie_tolerance: float) -> str:
    """Pick the k range with the larger L_max (equivalently the smaller AIC, s being equal).

    ``fits`` maps k-range labels to fit results, in the order the ranges were
    configured. A later range replaces the current choice only if its ln L_max is
    higher by more than ``tie_tolerance``: the published ranges are nested, so a
    wider range can never have a truly lower maximum and ties keep the narrower one.
    """
    if not fits:
        raise ValueError("choose_k_range: no fits to choose from")
    labels = list(fits)
    chosen = labels[0]
    for label in labels[1:]:
        if fits[label]["ln_l_max"] > fits[chosen]["ln_l_max"] + tie_tolerance:
            chosen = label
    return chosen
