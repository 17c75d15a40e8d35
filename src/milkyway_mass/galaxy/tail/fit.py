"""emcee fits of the high-velocity tail, one radial bin and one k range at a time (METHOD.md §4).

A fit samples θ = (v_esc(r0) [km/s], k, γ, f), plus b for ``df_power_exp``, through
:mod:`milkyway_mass.galaxy.fitting` (the likelihood of :mod:`milkyway_mass.galaxy.tail.likelihood`
as the one term of the posterior), then records its diagnostics: acceptance fraction, integrated autocorrelation time τ per parameter,
whether the kept chain is longer than ``n_tau`` × max τ, the maximum likelihood
L_max (best chain sample, optionally polished by a bounded Nelder–Mead search) and
AIC = 2·n_params − 2 ln L_max.
Independent fits are sampled in batches, one emcee run per batch (``fitting.run_emcee_blocks``),
and the batches run in parallel (``parallel.map_jobs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from milkyway_mass.galaxy.fitting import Posterior, Prior, initial_ball, run_emcee_blocks
from milkyway_mass.galaxy.parallel import map_jobs
from milkyway_mass.galaxy.tail.likelihood import (
    PARAMETER_NAMES,
    TailData,
    TailLikelihood,
    TailLikelihoodStack,
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

    @classmethod
    def from_config(cls, sampler: dict, store_every: int = 1) -> SamplerSettings:
        """From a ``sampler`` parameter block (n_walkers, n_burn, n_keep, n_tau, polish, polish_max_iter)."""
        keys = ("n_walkers", "n_burn", "n_keep", "n_tau", "polish", "polish_max_iter")
        missing = [k for k in keys if k not in sampler]
        if missing:
            raise ValueError(f"sampler settings lack {missing}")
        return cls(**{k: sampler[k] for k in keys}, store_every=store_every)

    def __post_init__(self):
        if self.n_walkers < 2 * len(PARAMETER_NAMES):
            raise ValueError(
                f"n_walkers must be >= {2 * len(PARAMETER_NAMES)} for emcee's stretch move, got {self.n_walkers}"
            )
        if self.n_burn < 0 or self.n_keep < 1 or self.store_every < 1:
            raise ValueError(f"need n_burn >= 0, n_keep >= 1, store_every >= 1; got {self}")


@dataclass(frozen=True)
class FitTask:
    """Everything one worker needs to fit one bin with one k range (picklable)."""

    key: tuple
    data: TailData
    prior: Prior
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


def tail_prior(likelihood: str, v_min: float, k_range, priors: dict) -> Prior:
    """The §4 prior of one fit: v_esc(r0) ∝ 1/v_esc on [v_min, vesc_max_kms] [km/s]; k on
    ``k_range``, γ and f (and b where the likelihood has it) uniform on their ranges."""
    names = parameter_names(likelihood)
    ranges = {"v_esc": (float(v_min), priors["vesc_max_kms"]), "k": k_range, "gamma": priors["gamma"], "f": priors["f"]}
    ranges |= {n: priors[n] for n in names if n not in PARAMETER_NAMES}
    prior = Prior.box(names, ranges, where=f"{likelihood} tail fit", log_uniform=("v_esc",))
    lo, hi = dict(zip(names, prior.lower)), dict(zip(names, prior.upper))
    if lo["k"] < 0 or lo["f"] <= 0 or hi["f"] > 1:
        raise ValueError(
            f"tail prior outside the physical range (k >= 0, 0 < f <= 1): k {list(k_range)}, f {priors['f']}"
        )
    return prior


def prior_and_start(
    likelihood: str, v_min: float, k_range, k_init: float, priors: dict, init: dict, scatter: dict
) -> tuple[Prior, tuple, tuple]:
    """Prior, start θ0 and start scatter of one fit, from ``escape_velocity``-style settings.

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
    theta0 = (init["vesc_kms"], k_init, init["gamma"], init["f"], *(init[n] for n in extra))
    widths = (scatter["vesc_kms"], scatter["k"], scatter["gamma"], scatter["f"], *(scatter[n] for n in extra))
    return tail_prior(likelihood, v_min, k_range, priors), theta0, widths


def maximise_likelihood(likelihood: TailLikelihood, prior: Prior, start, max_iter: int):
    """Bounded Nelder–Mead maximum of ln L (not the posterior: L_max of the AIC) within
    the prior box from ``start``; returns (θ, ln L).

    Works in coordinates scaled to the prior box, with f on a log scale.
    """
    lo, hi = prior.lower.copy(), prior.upper.copy()
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
    res = minimize(
        neg_ln_l,
        x0,
        method="Nelder-Mead",
        bounds=[(0.0, 1.0)] * lo.size,
        options={"maxiter": max_iter, "xatol": 1e-7, "fatol": 1e-7},
    )
    return from_unit(res.x), -float(res.fun)


def fit_bins(tasks: Sequence[FitTask], progress: bool = False) -> list[dict]:
    """Sample several fits in one emcee run (``fitting.run_emcee_blocks``: the fits' tail
    likelihoods as one ``TailLikelihoodStack``, each fit's walkers started in a ball around its
    θ0, the burn-in kept), then record each fit's diagnostics. A fit's result depends only on
    its own task (seed, data, settings), not on the other tasks of the batch; the tasks must
    share the sampler settings and likelihood.

    Keys of each result: chain (n_stored, W, P), log_prob (n_stored, W), n_burn_stored,
    store_every, acceptance_fraction, tau (P,), converged, n_tau_required,
    ln_l_max (over every step, optionally polished by ``maximise_likelihood``),
    theta_max (P,), aic, runtime_s (the batch's wall time shared equally among its fits),
    parameter_names (P), plus the task's key, k_range, likelihood, seed and n_stars.
    """
    t_start = time.perf_counter()
    if not tasks:
        return []
    s = tasks[0].sampler
    if any(t.sampler != s or t.likelihood != tasks[0].likelihood for t in tasks):
        raise ValueError("fit_bins: the tasks of one batch must share the sampler settings and the likelihood")
    starts, seeds, likelihoods = [], [], []
    for task in tasks:
        rng = np.random.default_rng(task.seed)
        like = TailLikelihood(task.data, task.sigma_out, task.likelihood)
        if task.prior.names != like.parameter_names:
            raise ValueError(
                f"{task.likelihood} likelihood has parameters {like.parameter_names}; the prior has {task.prior.names}"
            )
        n_params = len(like.parameter_names)
        if s.n_walkers < 2 * n_params:
            raise ValueError(
                f"{task.likelihood} likelihood has {n_params} parameters: n_walkers must be >= "
                f"{2 * n_params}, got {s.n_walkers}"
            )
        post = Posterior(None, task.prior, (like,))
        starts.append(initial_ball(task.theta0, post, s.n_walkers, task.scatter, rng))
        seeds.append(int(rng.integers(2**32)))
        likelihoods.append(like)
    priors = [t.prior for t in tasks]
    runs = run_emcee_blocks(
        Posterior(None, Prior.stack(priors), (TailLikelihoodStack(likelihoods),)),
        priors,
        np.stack(starts),
        n_burn=s.n_burn,
        n_keep=s.n_keep,
        seeds=seeds,
        progress=progress,
        label=f"{len(tasks)} tail fits",
        keep_burn_in=True,
        n_tau=s.n_tau,
    )
    results = []
    for task, like, run in zip(tasks, likelihoods, runs):
        chain, log_prob, diag = run["chain"], run["log_prob"], run["diagnostics"]
        n_params = chain.shape[-1]
        ln_l = log_prob - task.prior.log_prob(chain.reshape(-1, n_params)).reshape(log_prob.shape)
        best = np.unravel_index(np.argmax(ln_l), ln_l.shape)
        theta_max, ln_l_max = chain[best], float(ln_l[best])
        if s.polish:
            theta_pol, ln_l_pol = maximise_likelihood(like, task.prior, theta_max, s.polish_max_iter)
            if ln_l_pol > ln_l_max:
                theta_max, ln_l_max = theta_pol, ln_l_pol
        results.append(
            {
                "key": task.key,
                "k_range": (float(task.prior.lower[1]), float(task.prior.upper[1])),
                "likelihood": task.likelihood,
                "seed": task.seed,
                "n_stars": task.data.n,
                "parameter_names": like.parameter_names,
                "chain": chain[:: s.store_every].astype(np.float32),
                "log_prob": log_prob[:: s.store_every].astype(np.float32),
                "n_burn_stored": -(-s.n_burn // s.store_every),
                "store_every": s.store_every,
                "acceptance_fraction": diag["acceptance_mean"],
                "tau": np.array(list(diag["autocorr_time"].values())),
                "n_tau_required": diag["n_tau_required"],
                "converged": diag["converged"],
                "ln_l_max": ln_l_max,
                "theta_max": np.asarray(theta_max, dtype=float),
                "aic": aic(ln_l_max, n_params),
            }
        )
    runtime = (time.perf_counter() - t_start) / len(tasks)
    return [r | {"runtime_s": runtime} for r in results]


def fit_bin(task: FitTask, progress: bool = False) -> dict:
    """One fit (``fit_bins`` of one task; the same result as in any batch)."""
    return fit_bins([task], progress)[0]


def kept_samples(fit: dict) -> np.ndarray:
    """Post-burn-in samples of one :func:`fit_bin` result, flattened to (n, n_params)."""
    return fit["chain"][fit["n_burn_stored"] :].reshape(-1, fit["chain"].shape[-1])


def batches(tasks: Sequence[FitTask], batch_size: int) -> list[list[FitTask]]:
    """The tasks in batches of at most ``batch_size`` fits sampled together (``fit_bins``), the
    largest bins first and dealt round-robin so that batches hold similar numbers of stars."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ordered = sorted(tasks, key=lambda t: -t.data.n)
    n_batches = -(-len(ordered) // int(batch_size))
    return [ordered[i::n_batches] for i in range(n_batches)]


def run_fits(tasks: list[FitTask], n_workers: int = 2, progress: bool = True, batch_size: int = 12) -> dict:
    """Run independent fits in batches of ``batch_size`` (``fit_bins``) through ``parallel.map_jobs``
    on ``n_workers`` processes (serially if 1); returns {key: result}. The results do not depend
    on the batching or the number of workers; the progress bar counts finished batches; a plain
    script calling this needs an ``if __name__ == "__main__":`` guard.
    """
    groups = batches(tasks, batch_size)
    fitted = map_jobs(
        fit_bins,
        groups,
        n_workers,
        labels=[", ".join(str(t.key) for t in g) for g in groups],
        desc=f"tail fits ({len(tasks)}, in batches of <= {batch_size})",
        unit="batch",
        progress=progress,
    )
    results = {res["key"]: res for batch in fitted for res in batch}
    for key, res in results.items():
        logger.info(
            "fit %s: N=%d, ln L_max=%.2f, acceptance=%.2f, max tau=%.0f (%s)",
            key,
            res["n_stars"],
            res["ln_l_max"],
            res["acceptance_fraction"],
            np.max(res["tau"]),
            "converged" if res["converged"] else "chain shorter than n_tau*tau",
        )
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
