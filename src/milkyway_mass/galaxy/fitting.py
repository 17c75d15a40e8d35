"""One way to fit a posterior: prior, posterior, seeds, start, optimiser, emcee, diagnostics.

Every fit goes through here: the halo fits (``model.MassModel`` with the terms of
``constraints``) and the per-bin tail fits (``tail.fit``, the tail likelihood as the
one term). The posterior is the prior plus a sum of constraint terms, vectorised
over walkers; emcee only sees the callable.

- ``Prior``: a box on all parameters times Gaussians on some and 1/θ on others.
- ``Posterior``: ``Prior`` + Σ terms(model.build(θ)) (or Σ terms(θ) without a model).
- ``run_emcee``: burn-in then kept steps from given or prior-uniform walkers,
  with ``chain_diagnostics`` (acceptance, integrated autocorrelation time τ);
  ``run_emcee_blocks`` samples many small independent posteriors in one emcee run
  (``BlockStretchMove``: each fit by the stretch move among its own walkers, with its own
  random numbers, so its result does not depend on the batch).
- ``fit_posterior``: Nelder–Mead maximum (``maximise``), a ball of walkers around
  it (``initial_ball``), then ``run_emcee``; seeds per fit from ``fit_seed``.
- ``estimate``: median and interval of samples.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import emcee
import numpy as np
from scipy.optimize import minimize

from milkyway_mass.galaxy.parallel import progress_kwargs

__all__ = [
    "BlockStretchMove",
    "Posterior",
    "Prior",
    "chain_diagnostics",
    "convergence_warning",
    "estimate",
    "fit_posterior",
    "fit_seed",
    "initial_ball",
    "maximise",
    "parameters_at_prior_edge",
    "parse_box",
    "prior_edge_warning",
    "run_emcee",
    "run_emcee_blocks",
]

#: Outer fraction of a prior range counted as its edge, and the posterior mass there (twice
#: a flat posterior's) that marks a posterior truncated by the prior.
PRIOR_EDGE_WIDTH = 0.05
PRIOR_EDGE_MASS = 0.10
#: Mean acceptance fraction of a well-tuned stretch move.
ACCEPTANCE_RANGE = (0.15, 0.8)


@dataclass(frozen=True)
class Prior:
    """Box prior on all parameters times Gaussians on some (``mean``/``sigma`` NaN = flat)
    and 1/θ on the ``log_uniform`` ones (a scale prior, e.g. on v_esc).

    ``log_prob`` is -inf outside the box (bounds included) and omits the normalisation; it
    takes θ of shape (..., D). ``Prior.stack`` gives the priors of B fits that differ only in
    their boxes as one prior with bounds of shape (B, 1, D), for θ of shape (B, n, D)."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    mean: np.ndarray
    sigma: np.ndarray
    log_uniform: np.ndarray | None = None

    def __post_init__(self):
        mask = np.zeros(len(self.names), bool) if self.log_uniform is None else np.asarray(self.log_uniform, bool)
        object.__setattr__(self, "log_uniform", mask)
        object.__setattr__(self, "_gaussian", np.isfinite(self.sigma))
        if np.any(self.lower[..., mask] <= 0):
            raise ValueError(f"a 1/θ prior needs a positive lower bound: {dict(zip(self.names, self.lower))}")

    @classmethod
    def box(
        cls,
        names: Sequence[str],
        config: Mapping[str, Sequence[float]],
        where: str = "priors",
        log_uniform: Sequence[str] = (),
    ) -> Prior:
        """Flat prior from ``{name: [low, high]}`` (1/θ for the names in ``log_uniform``);
        the keys must be exactly ``names``."""
        missing, extra = set(names) - set(config), set(config) - set(names)
        if missing or extra:
            raise ValueError(
                f"{where} must give [low, high] for exactly {tuple(names)}; "
                f"missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        lower, upper = np.array([parse_box(n, config[n], where) for n in names], dtype=float).reshape(-1, 2).T
        flat = np.full(len(names), np.nan)
        return cls(tuple(names), lower, upper, flat, flat.copy(), np.isin(list(names), list(log_uniform)))

    @classmethod
    def stack(cls, priors: Sequence[Prior]) -> Prior:
        """The priors of B fits as one, with bounds of shape (B, 1, D) (for θ of shape (B, n, D));
        they must share names, Gaussian terms and 1/θ parameters."""
        first = priors[0]
        for p in priors[1:]:
            same = (
                p.names == first.names
                and np.array_equal(p.mean, first.mean, equal_nan=True)
                and np.array_equal(p.sigma, first.sigma, equal_nan=True)
                and np.array_equal(p.log_uniform, first.log_uniform)
            )
            if not same:
                raise ValueError("Prior.stack: the priors must differ only in their boxes")
        lower, upper = (np.stack([getattr(p, side) for p in priors])[:, None, :] for side in ("lower", "upper"))
        return cls(first.names, lower, upper, first.mean, first.sigma, first.log_uniform)

    @property
    def centre(self) -> np.ndarray:
        """Centre of the box."""
        return 0.5 * (self.lower + self.upper)

    def log_prob(self, theta):
        theta = np.atleast_2d(theta)
        inside = np.all((theta >= self.lower) & (theta <= self.upper), axis=-1)
        log_p = np.zeros(inside.shape)
        if self._gaussian.any():
            g = self._gaussian
            log_p -= 0.5 * np.sum(((theta[..., g] - self.mean[g]) / self.sigma[g]) ** 2, axis=-1)
        if self.log_uniform.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                log_p -= np.sum(np.log(theta[..., self.log_uniform]), axis=-1)
        return np.where(inside, log_p, -np.inf)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform draws in the box (``run_emcee``'s default start)."""
        return rng.uniform(self.lower, self.upper, size=(n, len(self.names)))


def parse_box(name: str, value, where: str) -> tuple[float, float]:
    """``[low, high]`` of a prior as floats with low < high; errors name ``where`` and the parameter."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: prior of {name} must be [low, high], got {value!r}") from None
    if not lo < hi:
        raise ValueError(f"{where}: prior of {name} needs low < high, got [{lo}, {hi}]")
    return lo, hi


@dataclass(frozen=True, eq=False)
class Posterior:
    """log prior + sum of the terms' log likelihoods, vectorised over walkers.

    Each term has a ``name`` and ``log_likelihood(x)`` returning shape (W,). ``x`` is
    what ``model.build_valid(θ)`` builds from parameter vectors θ of shape (W, D)
    (``model.MassModel``: the galaxy; rows it cannot build, e.g. a halo without r200,
    get -inf), or θ itself when ``model`` is None (e.g. a tail likelihood)."""

    model: Any
    prior: Prior
    terms: tuple

    def _build(self, theta):
        """(what the terms score, mask of the rows it holds) for in-prior ``theta``."""
        if self.model is None:
            return theta, np.ones(len(theta), bool)
        return self.model.build_valid(theta)

    def log_likelihood_terms(self, theta) -> dict[str, np.ndarray]:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        built, valid = self._build(theta)
        if valid.all():
            return {t.name: t.log_likelihood(built) for t in self.terms}
        out = {t.name: np.full(len(theta), -np.inf) for t in self.terms}
        if valid.any():
            for t in self.terms:
                out[t.name][valid] = t.log_likelihood(built)
        return out

    def __call__(self, theta):
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.ndim == 3:
            return self._blocks(theta)
        log_post = self.prior.log_prob(theta)
        ok = np.isfinite(log_post)
        if ok.all():
            log_post += sum(self.log_likelihood_terms(theta).values())
        elif ok.any():
            log_post[ok] += sum(self.log_likelihood_terms(theta[ok]).values())
        return np.where(np.isnan(log_post), -np.inf, log_post)

    def _blocks(self, theta):
        """B fits at once: θ of shape (B, n, D), ``Prior.stack`` priors, no model, terms whose
        ``log_likelihood(θ, inside)`` scores (B, n, D) → (B, n) (e.g.
        ``tail.likelihood.TailLikelihoodStack``), told which rows lie inside their fit's box
        (they may skip the others). Rows outside are passed at the box centre and get -inf."""
        if self.model is not None:
            raise ValueError("Posterior: fits in blocks (θ of shape (B, n, D)) take no model")
        log_post = self.prior.log_prob(theta)
        ok = np.isfinite(log_post)
        safe = theta if ok.all() else np.where(ok[..., None], theta, self.prior.centre)
        log_post = log_post + sum(t.log_likelihood(safe, ok) for t in self.terms)
        return np.where(ok & ~np.isnan(log_post), log_post, -np.inf)


def fit_seed(seed: int, name: str) -> int:
    """A per-fit seed from the configured seed and the fit's name (stable across grids)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0])


def maximise(posterior: Posterior, start: np.ndarray, optimizer: Mapping[str, Any], label: str = "") -> dict[str, Any]:
    """Nelder–Mead maximum of the posterior from ``start`` (within the prior box),
    restarted ``restarts`` times from its own result."""
    start = np.asarray(start, dtype=float)
    lp0 = float(posterior(start[None, :])[0])
    if not np.isfinite(lp0):
        raise ValueError(
            f"{label}: the optimizer start {dict(zip(posterior.prior.names, start.tolist()))} has zero posterior "
            "(outside the prior box or invalid halo); change the start in the parameters"
        )

    def negative(x):
        value = -posterior(x[None, :])[0]
        return value if np.isfinite(value) else np.inf

    bounds = list(zip(posterior.prior.lower, posterior.prior.upper))
    options = {
        "maxfev": int(optimizer["maxfev"]),
        "xatol": float(optimizer["xatol"]),
        "fatol": float(optimizer["fatol"]),
        "adaptive": bool(optimizer["adaptive"]),
    }
    x, n_eval, best = start, 0, -lp0
    result = None
    for _ in range(1 + int(optimizer["restarts"])):
        result = minimize(negative, x, method="Nelder-Mead", bounds=bounds, options=options)
        n_eval += int(result.nfev)
        improved = best - result.fun
        x, best = result.x, min(best, float(result.fun))
        if improved < float(optimizer["fatol"]):
            break
    return {
        "x": np.asarray(x, dtype=float),
        "log_posterior": float(-best),
        "start_log_posterior": lp0,
        "n_evaluations": n_eval,
        "success": bool(result.success),
        "message": str(result.message),
    }


def initial_ball(
    center,
    posterior: Posterior,
    n_walkers: int,
    widths,
    rng: np.random.Generator,
    max_rounds: int = 100,
) -> np.ndarray:
    """Walkers at ``center`` (moved into the prior box) + ``widths`` x N(0, 1) per parameter,
    reflected into the box; draws with zero posterior are redrawn."""
    prior = posterior.prior
    center = np.clip(np.asarray(center, dtype=float), prior.lower, prior.upper)
    widths = np.asarray(widths, dtype=float)
    if not center.shape == widths.shape == prior.lower.shape:
        raise ValueError(
            f"initial_ball: center {center.shape}, widths {widths.shape} and the prior box "
            f"{prior.lower.shape} need one entry per parameter {prior.names}"
        )
    pos = np.empty((n_walkers, len(center)))
    todo = np.arange(n_walkers)
    for _ in range(max_rounds):
        draw = center + widths * rng.standard_normal((todo.size, len(center)))
        draw = np.where(draw < prior.lower, 2 * prior.lower - draw, draw)
        draw = np.clip(np.where(draw > prior.upper, 2 * prior.upper - draw, draw), prior.lower, prior.upper)
        pos[todo] = draw
        todo = todo[~np.isfinite(posterior(pos[todo]))]
        if todo.size == 0:
            return pos
    raise ValueError(f"could not place {todo.size} walkers with finite posterior near {center.tolist()}")


def chain_diagnostics(
    chain: np.ndarray, acceptance_fraction: np.ndarray, names: Sequence[str], n_tau: float = 50.0
) -> dict[str, Any]:
    """Acceptance and integrated autocorrelation time τ of a chain of shape (steps, walkers, D).

    ``converged``: steps > ``n_tau`` × max τ (emcee's rule of thumb is 50). A chain too short
    or too stuck for τ (zero or not finite) gets NaN ratios and is not converged.
    """
    n_steps, n_walkers, _ = chain.shape
    tau = emcee.autocorr.integrated_time(chain, tol=0, quiet=True)
    tau_max = float(np.max(tau))
    if not (np.isfinite(tau_max) and tau_max > 0):
        tau_max = np.nan
    return {
        "n_walkers": int(n_walkers),
        "n_steps_kept": int(n_steps),
        "acceptance_mean": float(np.mean(acceptance_fraction)),
        "acceptance_min": float(np.min(acceptance_fraction)),
        "acceptance_max": float(np.max(acceptance_fraction)),
        "autocorr_time": {n: float(t) for n, t in zip(names, tau)},
        "steps_over_autocorr_time": float(n_steps / tau_max),
        "effective_samples": float(n_steps * n_walkers / tau_max),
        "n_tau_required": float(n_tau * tau_max),
        "converged": bool(n_steps > n_tau * tau_max),
    }


def parameters_at_prior_edge(samples: np.ndarray, lower, upper, names: Sequence[str]) -> dict[str, str]:
    """The parameters (columns of ``samples``, shape (n, len(names))) whose posterior piles up
    against a bound of the prior range [lower, upper], each with that bound in words (e.g.
    ``{"log10_M200": "upper bound 12.5"}``): at least ``PRIOR_EDGE_MASS`` of the samples lie
    within ``PRIOR_EDGE_WIDTH`` of the range's width from the bound."""
    x = np.asarray(samples, dtype=float)[:, : len(names)]
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    margin = PRIOR_EDGE_WIDTH * (hi - lo)
    near_lo = np.mean(x < lo + margin, axis=0)
    near_hi = np.mean(x > hi - margin, axis=0)
    return {
        n: f"upper bound {h:g}" if b >= a else f"lower bound {low:g}"
        for n, a, b, low, h in zip(names, near_lo, near_hi, lo, hi)
        if max(a, b) >= PRIOR_EDGE_MASS
    }


def convergence_warning(where: str, diagnostics: Mapping[str, Any]) -> str | None:
    """The warning about a chain (``chain_diagnostics``) that misses the convergence criteria:
    kept steps > ``n_tau`` × max τ, and mean acceptance within ``ACCEPTANCE_RANGE``; None if
    it meets them."""
    problems = []
    if not diagnostics["converged"]:
        problems.append(
            f"its {diagnostics['n_steps_kept']} kept steps are not more than n_tau x tau = "
            f"{diagnostics['n_tau_required']:.0f}"
        )
    lo, hi = ACCEPTANCE_RANGE
    if not lo <= diagnostics["acceptance_mean"] <= hi:
        problems.append(f"mean acceptance {diagnostics['acceptance_mean']:.2f} is outside [{lo}, {hi}]")
    if not problems:
        return None
    return f"{where}: chain not converged ({'; '.join(problems)}); lengthen the sampler before using the result"


def prior_edge_warning(where: str, edge: Mapping[str, str]) -> str:
    """The warning about the parameters ``edge`` (``parameters_at_prior_edge``: name → bound) of the fit ``where``."""
    at = ", ".join(f"{name} against its {bound}" for name, bound in edge.items())
    return (
        f"{where}: posterior piles up at the edge of its prior range: {at} "
        "(truncated there: widen the prior unless the bound is physical)"
    )


def _check_sampler_sizes(n_walkers, n_burn, n_keep, n_dim: int) -> None:
    for name, value in (("n_walkers", n_walkers), ("n_burn", n_burn), ("n_keep", n_keep)):
        if int(value) != value or value < 0:
            raise ValueError(f"sampler {name} must be a non-negative integer, got {value!r}")
    if n_walkers < 2 * n_dim or n_keep < 1:
        raise ValueError(f"need n_walkers >= {2 * n_dim} (2 x parameters) and n_keep >= 1; got {n_walkers}, {n_keep}")


def _sample(sampler: emcee.EnsembleSampler, state, n_burn: int, n_keep: int, keep_burn_in: bool, progress, label):
    """Burn-in and kept steps of an emcee sampler (the burn-in dropped unless ``keep_burn_in``):
    (chain, log_prob, acceptance_fraction)."""
    if keep_burn_in:
        sampler.run_mcmc(
            state, int(n_burn + n_keep), progress=progress, progress_kwargs=progress_kwargs(f"{label} sampling".strip())
        )
    else:
        if n_burn:
            state = sampler.run_mcmc(
                state, int(n_burn), progress=progress, progress_kwargs=progress_kwargs(f"{label} burn-in".strip())
            )
            sampler.reset()
        sampler.run_mcmc(
            state, int(n_keep), progress=progress, progress_kwargs=progress_kwargs(f"{label} sampling".strip())
        )
    return sampler.get_chain(), sampler.get_log_prob(), sampler.acceptance_fraction


def _run_result(prior: Prior, chain, log_p, acceptance, n_burn: int, seed: int, keep_burn_in: bool, n_tau: float):
    """The result of one sampled posterior (``run_emcee``): chain, log posterior, acceptance,
    and the diagnostics of its kept steps."""
    kept = chain[int(n_burn) :] if keep_burn_in else chain
    return {
        "parameter_names": list(prior.names),
        "chain": chain,
        "log_prob": log_p,
        "acceptance_fraction": acceptance,
        "n_burn": int(n_burn),
        "seed": int(seed),
        "diagnostics": chain_diagnostics(kept, acceptance, prior.names, n_tau),
    }


def run_emcee(
    log_prob: Callable[[np.ndarray], np.ndarray],
    prior: Prior,
    *,
    n_walkers: int,
    n_burn: int,
    n_keep: int,
    seed: int,
    progress: bool = True,
    initial: np.ndarray | None = None,
    label: str = "",
    keep_burn_in: bool = False,
    n_tau: float = 50.0,
) -> dict[str, Any]:
    """Sample with emcee (vectorised over walkers), walkers started at ``initial``
    (shape (n_walkers, D)) or, by default, uniformly in the prior box; ``label``
    prefixes the progress bars.

    Runs ``n_burn`` steps, then ``n_keep`` steps. Returns the chain, its log posterior
    and the diagnostics of the kept steps (``chain_diagnostics`` with ``n_tau``). The
    chain is the kept steps (n_keep, n_walkers, D), or with ``keep_burn_in`` every
    step (n_burn + n_keep, n_walkers, D; acceptance then counts every step).
    """
    n_dim = len(prior.names)
    _check_sampler_sizes(n_walkers, n_burn, n_keep, n_dim)
    rng = np.random.default_rng(seed)
    sampler = emcee.EnsembleSampler(int(n_walkers), n_dim, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(rng.integers(2**32)).get_state()
    state = prior.sample(rng, int(n_walkers)) if initial is None else np.array(initial, dtype=float)
    if state.shape != (n_walkers, n_dim):
        raise ValueError(f"initial walker positions must have shape ({n_walkers}, {n_dim}), got {state.shape}")
    chain, log_p, acceptance = _sample(sampler, state, n_burn, n_keep, keep_burn_in, progress, label)
    return _run_result(prior, chain, log_p, acceptance, n_burn, seed, keep_burn_in, n_tau)


class BlockStretchMove(emcee.moves.Move):
    """emcee's stretch move (Goodman & Weare 2010, scale ``a``) on B independent ensembles
    sampled as one: the sampler's walkers are the B blocks of W walkers one after another
    (row b·W + i is walker i of block b). Each step splits every block at random into two
    halves; a walker is stretched towards a walker of the other half of its own block and
    accepted with the stretch move's probability: each block follows the rule of emcee's
    ``StretchMove`` on that block alone. Every block draws its random numbers from its own generator
    (``seeds``), so a block's chain does not depend on which other blocks share the run.
    Proposals are scored by the sampler's vectorised log-probability function directly (it
    must return -inf, not NaN, where the density is zero), not through emcee's per-walker
    bookkeeping of blobs.
    """

    def __init__(self, seeds: Sequence[int], a: float = 2.0):
        self.generators = [np.random.default_rng(int(s)) for s in seeds]
        self.a = float(a)

    def propose(self, model, state):
        n_blocks = len(self.generators)
        n_dim = state.coords.shape[1]
        coords = state.coords.reshape(n_blocks, -1, n_dim).copy()
        log_prob = state.log_prob.reshape(n_blocks, -1).copy()
        n_walkers = coords.shape[1]
        u = np.stack([g.random((4, n_walkers)) for g in self.generators])  # split, stretch, partner, accept
        order = np.argsort(u[:, 0], axis=1)
        half = (n_walkers + 1) // 2
        rows = np.arange(n_blocks)[:, None]
        accepted = np.zeros((n_blocks, n_walkers), bool)
        for active, other, cols in (
            (order[:, :half], order[:, half:], slice(0, half)),
            (order[:, half:], order[:, :half], slice(half, n_walkers)),
        ):
            z = ((self.a - 1.0) * u[:, 1, cols] + 1.0) ** 2 / self.a
            partner = other[rows, (u[:, 2, cols] * other.shape[1]).astype(int)]
            s, c = coords[rows, active], coords[rows, partner]
            proposal = c + z[..., None] * (s - c)
            new_log_prob = np.asarray(model.log_prob_fn(proposal.reshape(-1, n_dim))).reshape(active.shape)
            with np.errstate(divide="ignore"):
                ok = np.log(u[:, 3, cols]) < (n_dim - 1) * np.log(z) + new_log_prob - log_prob[rows, active]
            block, walker = np.broadcast_to(rows, active.shape)[ok], active[ok]
            coords[block, walker] = proposal[ok]
            log_prob[block, walker] = new_log_prob[ok]
            accepted[block, walker] = True
        state.coords, state.log_prob = coords.reshape(-1, n_dim), log_prob.ravel()
        return state, accepted.ravel()


def run_emcee_blocks(
    log_prob: Callable[[np.ndarray], np.ndarray],
    priors: Sequence[Prior],
    initial: np.ndarray,
    *,
    n_burn: int,
    n_keep: int,
    seeds: Sequence[int],
    progress: bool = True,
    label: str = "",
    keep_burn_in: bool = False,
    n_tau: float = 50.0,
) -> list[dict[str, Any]]:
    """``run_emcee`` for B independent posteriors at once (``BlockStretchMove``): one emcee
    step advances every fit, so emcee's per-step cost is paid once for all of them.

    ``log_prob`` maps θ of shape (B, n, D) to (B, n) (e.g. a ``Posterior`` of ``Prior.stack``
    priors); ``priors[b]`` names fit b's parameters (the same D for all); ``initial`` has
    shape (B, W, D); fit b draws its random numbers from ``seeds[b]``, and its result does not
    depend on the other fits as long as ``log_prob`` scores each fit on its own. Returns one
    ``run_emcee``-style result per fit (chain (steps, W, D), log_prob, acceptance_fraction,
    diagnostics).
    """
    initial = np.array(initial, dtype=float)
    if initial.ndim != 3 or not len(priors) == len(seeds) == initial.shape[0]:
        raise ValueError(
            f"run_emcee_blocks: initial must have shape (fits, walkers, D) with one prior and seed per fit; "
            f"got {initial.shape}, {len(priors)}, {len(seeds)}"
        )
    n_blocks, n_walkers, n_dim = initial.shape
    if any(len(p.names) != n_dim for p in priors):
        raise ValueError(f"run_emcee_blocks: every prior needs {n_dim} parameters")
    _check_sampler_sizes(n_walkers, n_burn, n_keep, n_dim)

    def flat_log_prob(theta):
        return np.asarray(log_prob(theta.reshape(n_blocks, -1, n_dim))).ravel()

    move = BlockStretchMove(seeds)
    sampler = emcee.EnsembleSampler(n_blocks * n_walkers, n_dim, flat_log_prob, moves=move, vectorize=True)
    sampler.random_state = np.random.RandomState(0).get_state()  # unused by the move: each fit has its own stream
    chain, log_p, acceptance = _sample(
        sampler, initial.reshape(-1, n_dim), n_burn, n_keep, keep_burn_in, progress, label
    )
    chain = chain.reshape(chain.shape[0], n_blocks, n_walkers, n_dim)
    log_p = log_p.reshape(log_p.shape[0], n_blocks, n_walkers)
    acceptance = acceptance.reshape(n_blocks, n_walkers)
    return [
        _run_result(prior, chain[:, b], log_p[:, b], acceptance[b], n_burn, seed, keep_burn_in, n_tau)
        for b, (prior, seed) in enumerate(zip(priors, seeds))
    ]


def fit_posterior(
    posterior: Posterior,
    start: np.ndarray,
    optimizer: Mapping[str, Any],
    sampler: Mapping[str, Any],
    seed: int,
    label: str = "",
) -> dict[str, Any]:
    """Nelder–Mead, then emcee (``n_walkers``, ``n_steps`` of which the first
    ``burn_fraction`` are discarded) from a ball (``init_scale``) around the maximum.

    Returns ``run_emcee``'s result (chain thinned by ``store_thin`` for storage; the
    diagnostics use every kept step) plus ``optimizer`` and ``max_posterior``: the
    better of the stored chain's best sample and the optimiser's result (``x``,
    ``log_posterior``).
    """
    best = maximise(posterior, start, optimizer, label)
    n_steps, n_walkers = int(sampler["n_steps"]), int(sampler["n_walkers"])
    fraction = float(sampler["burn_fraction"])
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"burn_fraction must be in [0, 1), got {fraction}")
    n_burn = int(round(fraction * n_steps))
    rng = np.random.default_rng(seed)
    width = posterior.prior.upper - posterior.prior.lower
    initial = initial_ball(best["x"], posterior, n_walkers, float(sampler["init_scale"]) * width, rng)
    result = run_emcee(
        posterior,
        posterior.prior,
        n_walkers=n_walkers,
        n_burn=n_burn,
        n_keep=n_steps - n_burn,
        seed=int(rng.integers(2**32)),
        progress=bool(sampler["progress"]),
        initial=initial,
        label=label,
    )
    thin = int(sampler["store_thin"])
    result["chain"] = result["chain"][::thin]
    result["log_prob"] = result["log_prob"][::thin]
    flat = result["chain"].reshape(-1, result["chain"].shape[-1])
    candidates = np.vstack([flat[np.argmax(np.ravel(result["log_prob"]))], best["x"]])
    lp = posterior(candidates)
    result.update(
        seed=int(seed),
        store_thin=thin,
        optimizer=best | {"x": best["x"].tolist()},
        max_posterior={"x": candidates[int(np.argmax(lp))], "log_posterior": float(np.max(lp))},
    )
    return result


def estimate(values: np.ndarray, percentiles: Sequence[float], weights: np.ndarray | None = None) -> dict[str, float]:
    """Median and the interval ``percentiles`` (lo, hi) with err_minus / err_plus; with
    ``weights``, the weighted percentiles (inverse of the weighted empirical CDF)."""
    q = [float(percentiles[0]), 50.0, float(percentiles[1])]
    if weights is None:
        q_lo, med, q_hi = np.percentile(values, q)
    else:
        q_lo, med, q_hi = np.percentile(values, q, weights=np.asarray(weights, float), method="inverted_cdf")
    return {
        "median": float(med),
        "lo": float(q_lo),
        "hi": float(q_hi),
        "err_minus": float(med - q_lo),
        "err_plus": float(q_hi - med),
    }
