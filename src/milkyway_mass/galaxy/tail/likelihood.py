"""Likelihood of the high-velocity tail in one radial bin (METHOD.md §4).

Model for star i with speed v_i ≥ v_min,i [km/s] at radius r_i [kpc]:

    p_i(v) = (1 − f)·p_bound(v | v_esc,i, k) + f·p_out(v | σ_i),
    v_esc,i = v_esc(r0)·(r_i / r0)^(−γ/2),

with both terms normalised over v ≥ v_min,i for each star. Four bound terms:

* ``published`` — the Leonard & Tremaine power law (v_esc,i − v)^k on
  [v_min,i, v_esc,i), zero above v_esc,i.
* ``convolved`` — the same power law in the *true* speed (extended below v_min,
  where it describes the stars that errors scatter into the sample), convolved
  with star i's Gaussian speed error σ_i and renormalised over observed
  v ≥ v_min,i. In units of σ_i it is exact:

      p_bound(v) = (k + 1)·I_k(μ_v) / (σ_i·I_{k+1}(μ_min)),
      I_k(μ) = ∫_0^∞ t^k φ(t − μ) dt,  μ_v = (v_esc,i − v)/σ_i,  μ_min = (v_esc,i − v_min,i)/σ_i,

  (φ the standard normal density; the normalisation uses d I_{k+1}/dμ = (k+1) I_k).
  It tends to the published density as σ_i → 0. log I_k(μ) is computed once on a
  grid by Gauss–Jacobi quadrature with weight t^k (exact treatment of the hard
  edge at v_esc), interpolated with cubic Hermite polynomials in μ (exact
  derivatives) and cubic Lagrange polynomials in k, and continued by asymptotic
  series beyond the grid; |error of log I_k| < 1e-6.
* ``df_consistent`` — the speed distribution of an isotropic halo whose
  distribution function is a power law in binding energy near the escape energy,
  f ∝ (E_b − E)^k (METHOD.md §8):

      p_bound(v) = v² (v_esc,i² − v²)^k / N_i  on [v_min,i, v_esc,i),
      N_i = ½ v_esc,i^(2k+3) J_k(1 − v_min,i²/v_esc,i²),  J_k(y) = ∫_0^y t^k (1 − t)^½ dt,

  i.e. the regularised incomplete beta function, J_k(y) = B(k+1, 3/2)·I_y(k+1, 3/2).
  log J_k is tabulated once (scipy's betainc) and interpolated like log I_k, with
  its exact derivative t^k (1 − t)^½ / J_k; |error of log J_k| < 1e-7. Near the
  edge it reduces to the published form, which drops the factor v² (v_esc + v)^k.
* ``df_power_exp`` — a DF that is a power law times an exponential in binding
  energy, f ∝ ε^k exp(b·ε̃), ε̃ = 2ε / v_esc(r0)², which follows an equilibrium
  halo's f(E) beyond the immediate neighbourhood of the escape energy (b = 0 is
  ``df_consistent``; b > 0 lets f steepen into the bound population):

      p_bound(v) = v² (v_esc,i² − v²)^k exp(b (v_esc,i² − v²)/v_esc(r0)²) / N_i  on [v_min, v_esc,i),
      N_i = ½ v_esc,i^(2k+3) y_i^(k+1) H(k, y_i, b_i) / (k + 1),  y_i = 1 − v_min²/v_esc,i²,
      H(k, y, b') = (k + 1) ∫_0^1 s^k (1 − y s)^½ exp(b' y s) ds,  b_i = b v_esc,i²/v_esc(r0)²

  (:func:`log_power_exp_integral` also takes higher powers of y s in the exponent).

  H is smooth and bounded; it is computed by product integration (the smooth
  factor expanded in Legendre polynomials at fixed nodes, each integrated against
  s^k exactly) at Chebyshev nodes in ln(r/r0) spanning the bin's stars (one
  evaluation per walker and node, not per star) and interpolated to every star
  by a fixed Lagrange matrix. It needs one v_min for all stars of a bin.

The outlier term is a Gaussian in v of width sqrt(σ_i² + σ_out²) centred on 0.
Parameters θ = (v_esc(r0) [km/s], k, γ, f), plus b for ``df_power_exp``
(:func:`parameter_names`); every function takes θ as an (n_walkers, n_params)
array and is vectorised over walkers × stars. The special functions and their
tables (log I_k, log J_k, log H) are in :mod:`milkyway_mass.galaxy.tail.special`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import log_ndtr

from milkyway_mass.galaxy.tail.special import (
    chebyshev_interpolation_matrix,
    log_incomplete_beta,
    log_normal_moment,
    log_power_exp_integral,
)

PARAMETER_NAMES = ("v_esc", "k", "gamma", "f")
LIKELIHOODS = ("published", "convolved", "df_consistent", "df_power_exp")
EXTRA_PARAMETERS = {"df_power_exp": ("b",)}

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_N_CHEB = 9  # Chebyshev nodes in ln(r/r0) at which H is evaluated per walker


def parameter_names(kind: str) -> tuple[str, ...]:
    """Names of θ's columns for a likelihood: v_esc, k, gamma, f, then any extra shape parameters."""
    if kind not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {kind!r}")
    return PARAMETER_NAMES + EXTRA_PARAMETERS.get(kind, ())


# --------------------------------------------------------------------------- densities


def log_outlier_density(v, sigma, v_min, sigma_out: float):
    """log of the outlier density exp(−v²/2s²), s² = σ² + σ_out², normalised over v ≥ v_min [1/(km/s)]."""
    s = np.sqrt(np.square(sigma) + sigma_out**2)
    log_norm = np.log(s) + _LOG_SQRT_2PI + log_ndtr(-v_min / s)
    out = -0.5 * np.square(v / s) - log_norm
    return np.where(v >= v_min, out, -np.inf)


def log_bound_published(v, vesc, k, v_min):
    """log of (k+1)(v_esc − v)^k / (v_esc − v_min)^(k+1) on [v_min, v_esc), −inf elsewhere."""
    gap = vesc - v
    width = vesc - v_min
    inside = (gap > 0) & (v >= v_min)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log1p(k) + k * np.log(gap) - (k + 1.0) * np.log(width)
    return np.where(inside, out, -np.inf)


def log_bound_convolved(v, vesc, k, v_min, sigma):
    """log of the power law convolved with N(0, σ) and normalised over v ≥ v_min.

    ``k`` is a scalar or has shape (W,); the other arguments broadcast to an array
    whose leading axis is the walker axis W. σ must be > 0 [km/s].
    """
    k = np.atleast_1d(np.asarray(k, dtype=float))
    mu_v = (vesc - v) / sigma
    mu_min = (vesc - v_min) / sigma
    ndim = max(np.ndim(mu_v), np.ndim(mu_min), 1)
    shape = np.broadcast_shapes(np.shape(mu_v), np.shape(mu_min), (k.size,) + (1,) * (ndim - 1))
    log_num = log_normal_moment(k, np.broadcast_to(mu_v, shape).reshape(k.size, -1))
    log_den = log_normal_moment(k + 1.0, np.broadcast_to(mu_min, shape).reshape(k.size, -1))
    out = (np.log1p(k)[:, None] + log_num - log_den).reshape(shape) - np.log(sigma)
    return np.where(v >= v_min, out, -np.inf)


def log_bound_df_consistent(v, vesc, k, v_min):
    """log of v² (v_esc² − v²)^k / N on [v_min, v_esc), −inf elsewhere (N: normalisation over v ≥ v_min).

    ``k`` is a scalar or has shape (W,); the other arguments broadcast to an array
    whose leading axis is the walker axis W [km/s]. Where v_esc ≤ v_min the star
    cannot belong to the bound population (density −inf).
    """
    k = np.atleast_1d(np.asarray(k, dtype=float))
    vesc = np.asarray(vesc, dtype=float)
    ndim = max(np.ndim(v), np.ndim(vesc), np.ndim(v_min), 1)
    shape = np.broadcast_shapes(np.shape(v), np.shape(vesc), np.shape(v_min), (k.size,) + (1,) * (ndim - 1))
    kk = k.reshape((k.size,) + (1,) * (ndim - 1))
    y = 1.0 - np.square(v_min / vesc)
    reachable = y > 0
    y_flat = np.broadcast_to(np.where(reachable, y, 0.5), shape).reshape(k.size, -1)
    log_j = log_incomplete_beta(k, y_flat).reshape(shape)
    log_norm = (2.0 * kk + 3.0) * np.log(vesc) - np.log(2.0) + log_j
    gap2 = np.square(vesc) - np.square(v)
    inside = (gap2 > 0) & (v >= v_min) & reachable
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.0 * np.log(v) + kk * np.log(gap2) - log_norm
    return np.where(inside, out, -np.inf)


def log_bound_df_power_exp(v, vesc, k, coeffs, v_min, log_h=None):
    """log of v² (v_esc² − v²)^k exp(Σ_m c_m t^m) / N on [v_min, v_esc), t = 1 − v²/v_esc²; −inf elsewhere.

    N = ½ v_esc^(2k+3) y^(k+1) H(k, y, c) / (k + 1), y = 1 − v_min²/v_esc², is the
    normalisation over v ≥ v_min (:func:`log_power_exp_integral`). ``k`` is a
    scalar or has shape (W,); ``v``, ``vesc``, ``v_min`` and each of ``coeffs`` =
    (c_1, c_2, …) broadcast to an array whose leading axis is the walker axis W
    [km/s]. For ``df_power_exp``, c_1 = b·v_esc²/v_esc(r0)² (the exponent in
    units of the star's own v_esc²). ``log_h``, if given, is log H at each star
    (as :class:`TailLikelihood` interpolates it); otherwise H is computed here.
    Where v_esc ≤ v_min the star cannot belong to the bound population (−inf).
    """
    k = np.atleast_1d(np.asarray(k, dtype=float))
    vesc = np.asarray(vesc, dtype=float)
    ndim = max(np.ndim(v), np.ndim(vesc), np.ndim(v_min), *(np.ndim(c) for c in coeffs), 1)
    kk = k.reshape((k.size,) + (1,) * (ndim - 1))
    y = 1.0 - np.square(v_min / vesc)
    reachable = y > 0
    y_safe = np.where(reachable, y, 0.5)
    if log_h is None:
        shape = np.broadcast_shapes(np.shape(y), *(np.shape(c) for c in coeffs), (k.size,) + (1,) * (ndim - 1))
        flat = (k.size, -1)
        log_h = log_power_exp_integral(
            k, np.broadcast_to(y_safe, shape).reshape(flat), [np.broadcast_to(c, shape).reshape(flat) for c in coeffs]
        ).reshape(shape)
    log_norm = (2.0 * kk + 3.0) * np.log(vesc) - np.log(2.0) + (kk + 1.0) * np.log(y_safe) - np.log1p(kk) + log_h
    gap2 = np.square(vesc) - np.square(v)
    inside = (gap2 > 0) & (v >= v_min) & reachable
    with np.errstate(divide="ignore", invalid="ignore"):
        t = gap2 / np.square(vesc)
        out = 2.0 * np.log(v) + kk * np.log(gap2) + sum(c * t ** (m + 1) for m, c in enumerate(coeffs)) - log_norm
    return np.where(inside, out, -np.inf)


# --------------------------------------------------------------------------- model


def local_vesc(vesc0, gamma, log_r):
    """The in-bin law v_esc,i = v_esc(r0)·(r_i/r0)^(−γ/2) [km/s], with ``log_r`` = ln(r_i/r0)."""
    return vesc0 * np.exp(-0.5 * gamma * log_r)


@dataclass(frozen=True)
class TailData:
    """Stars of one bin: speed v, radius r, speed error sigma, threshold v_min (arrays, km/s and kpc); pivot r0 [kpc]."""

    v: np.ndarray
    r: np.ndarray
    sigma: np.ndarray
    v_min: np.ndarray
    r0: float

    def __post_init__(self):
        arrays = {name: np.asarray(getattr(self, name), dtype=float) for name in ("v", "r", "sigma", "v_min")}
        n = arrays["v"].size
        for name, a in arrays.items():
            if a.ndim != 1 or a.size != n:
                raise ValueError(f"TailData: '{name}' must be 1-D with {n} entries, got shape {a.shape}")
            bad = ~np.isfinite(a)
            if bad.any():
                raise ValueError(f"TailData: {bad.sum()} non-finite value(s) in '{name}'")
            object.__setattr__(self, name, a)
        checks = {"r": arrays["r"] > 0, "sigma": arrays["sigma"] >= 0, "v": arrays["v"] >= arrays["v_min"]}
        for name, ok in checks.items():
            if not ok.all():
                rule = {"r": "r > 0", "sigma": "sigma >= 0", "v": "v >= v_min"}[name]
                raise ValueError(f"TailData: {np.sum(~ok)} star(s) violate {rule} (column '{name}')")
        if not (np.isfinite(self.r0) and self.r0 > 0):
            raise ValueError(f"TailData: r0 must be a positive finite radius, got {self.r0}")

    @property
    def n(self) -> int:
        return self.v.size


class TailLikelihood:
    """ln L(θ) of one bin for θ of shape (n_walkers, n_params), columns :func:`parameter_names` of ``kind``.

    A constraint term of ``fitting.Posterior`` (``name``, ``log_likelihood``) that scores θ itself."""

    name = "tail"

    def __init__(self, data: TailData, sigma_out: float, kind: str = "published"):
        self.parameter_names = parameter_names(kind)
        if kind == "convolved" and not (data.sigma > 0).all():
            raise ValueError(f"convolved likelihood needs sigma > 0; {np.sum(data.sigma <= 0)} star(s) have sigma <= 0")
        if kind == "df_power_exp" and data.n and np.ptp(data.v_min) > 0:
            raise ValueError(
                f"df_power_exp likelihood needs one v_min for all stars of a bin; got "
                f"{data.v_min.min()}..{data.v_min.max()} km/s"
            )
        self.data = data
        self.kind = kind
        self.sigma_out = float(sigma_out)
        self._log_out = log_outlier_density(data.v, data.sigma, data.v_min, self.sigma_out)
        self._log_r = np.log(data.r / data.r0)
        if kind == "df_power_exp":
            self._node_log_r, self._lagrange = chebyshev_interpolation_matrix(self._log_r, _N_CHEB)

    @cached_property
    def _stack(self) -> TailLikelihoodStack:
        return TailLikelihoodStack((self,))

    def _vesc(self, theta):
        """v_esc,i per walker and star, shape (W, N) [km/s] (:func:`local_vesc`)."""
        return local_vesc(theta[:, :1], theta[:, 2:3], self._log_r[None, :])

    def _power_exp_terms(self, theta, vesc):
        """b_rel = b·(v_esc,i/v_esc(r0))² and log H(k, y_i, b_rel) per walker and star, shapes (W, N);
        ``vesc`` is :meth:`_vesc` of θ.

        log H is evaluated at the Chebyshev nodes in ln(r/r0) and interpolated to the stars.
        """
        vesc0, k, gamma, b = theta[:, :1], theta[:, 1], theta[:, 2:3], theta[:, 4:5]
        u2_nodes = np.exp(-gamma * self._node_log_r[None, :])
        y_nodes = np.clip(1.0 - np.square(self.data.v_min[0] / vesc0) / u2_nodes, 0.0, 1.0)
        log_h = log_power_exp_integral(k, y_nodes, (b * u2_nodes,)) @ self._lagrange.T
        return b * np.square(vesc / vesc0), log_h

    def log_bound(self, theta):
        """log p_bound per walker and star, shape (W, N)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        d = self.data
        v = d.v[None, :]
        vesc = self._vesc(theta)
        k = theta[:, 1]
        if self.kind == "published":
            return log_bound_published(v, vesc, k[:, None], d.v_min[None, :])
        if self.kind == "df_consistent":
            return log_bound_df_consistent(v, vesc, k, d.v_min[None, :])
        if self.kind == "df_power_exp":
            b_rel, log_h = self._power_exp_terms(theta, vesc)
            return log_bound_df_power_exp(v, vesc, k, (b_rel,), d.v_min[None, :], log_h)
        return log_bound_convolved(v, vesc, k, d.v_min[None, :], d.sigma[None, :])

    def per_star(self, theta):
        """log p_i(v_i | θ), shape (W, N)."""
        return self._stack.per_star(np.atleast_2d(np.asarray(theta, dtype=float))[None])

    def __call__(self, theta):
        """ln L, shape (W,)."""
        return self._stack(np.atleast_2d(np.asarray(theta, dtype=float))[None])[0]

    log_likelihood = __call__

    def model_curves(self, theta, v_grid):
        """Summed per-star densities on a speed grid: (bound, outlier) each (W, G), in stars per km/s.

        bound = (1 − f)·Σ_i p_bound,i(v), outlier = f·Σ_i p_out,i(v).
        """
        theta = np.atleast_2d(theta)
        d = self.data
        v = np.asarray(v_grid, dtype=float)
        vesc = self._vesc(theta)[:, :, None]
        k = theta[:, 1]
        vv = v[None, None, :]
        vmin = d.v_min[None, :, None]
        if self.kind == "published":
            lb = log_bound_published(vv, vesc, k[:, None, None], vmin)
        elif self.kind == "df_consistent":
            lb = log_bound_df_consistent(vv, vesc, k, vmin)
        elif self.kind == "df_power_exp":
            b_rel, log_h = self._power_exp_terms(theta, vesc[:, :, 0])
            lb = log_bound_df_power_exp(vv, vesc, k, (b_rel[:, :, None],), vmin, log_h[:, :, None])
        else:
            lb = log_bound_convolved(vv, vesc, k, vmin, d.sigma[None, :, None])
        bound = (1.0 - theta[:, 3:4]) * np.exp(lb).sum(axis=1)
        lo = log_outlier_density(vv[0], d.sigma[:, None], d.v_min[:, None], self.sigma_out)
        outlier = theta[:, 3:4] * np.exp(lo).sum(axis=0)[None, :]
        return bound, outlier


class TailLikelihoodStack:
    """ln L of B fits at once (each a ``TailLikelihood`` of one bin, all of one kind), for θ of
    shape (B, n, P): n walkers per fit, columns :func:`parameter_names`. Returns (B, n).

    The stars of all fits are laid end to end and every walker's parameters are carried to
    its fit's stars, so one vectorised evaluation scores every walker of every fit (the
    published power law entirely; the kinds with tabulated special functions take their
    bound term fit by fit); a fit's ln L is the sum over its own stars and does not depend
    on the other fits. This is how ``TailLikelihood`` evaluates a single bin too (B = 1).
    """

    name = "tail"

    def __init__(self, likelihoods):
        likelihoods = tuple(likelihoods)
        kinds = {like.kind for like in likelihoods}
        if len(kinds) != 1:
            raise ValueError(f"TailLikelihoodStack needs fits of one likelihood kind, got {sorted(kinds)}")
        self.kind = kinds.pop()
        self.parameter_names = parameter_names(self.kind)
        sizes = np.array([like.data.n for like in likelihoods])
        self.n_fits = len(likelihoods)
        self._owner = np.repeat(np.arange(self.n_fits), sizes)
        self._sizes = sizes
        self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[sizes > 0]  # of the fits with stars

        def joined(get):
            return np.concatenate([np.asarray(get(like), dtype=float) for like in likelihoods])

        self._v = joined(lambda like: like.data.v)
        self._v_min = joined(lambda like: like.data.v_min)
        self._log_out = joined(lambda like: like._log_out)
        self._p_out = np.exp(self._log_out)
        self._log_r = joined(lambda like: like._log_r)
        self._likelihoods = likelihoods
        edges = np.cumsum(np.concatenate([[0], sizes]))
        self._columns = [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]

    def _per_star(self, values):
        """Per-fit values of shape (B, n, ...) carried to every star: (n, N, ...)."""
        return np.swapaxes(values, 0, 1)[:, self._owner]

    def _per_star_published(self, theta):
        """``per_star`` of the published kind, the mixture summed in linear space (four
        transcendental functions per walker and star instead of six; the same density as
        ``log_bound_published`` with the outlier term)."""
        walker = self._per_star(theta)
        f = walker[..., 3]
        vesc = local_vesc(walker[..., 0], walker[..., 2], self._log_r)
        width = vesc - self._v_min
        gap = vesc - self._v
        k = walker[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (1.0 - f) * (k + 1.0) / width * np.exp(k * np.log(gap / width))
            return np.log(np.where(gap > 0, bound, 0.0) + f * self._p_out)

    def per_star(self, theta, inside=None):
        """log p_i(v_i | θ) per walker and star, shape (n, N), for θ of shape (B, n, P). Rows where
        the mask ``inside`` (B, n) is False are placeholders: the kinds with tabulated special
        functions skip their bound term, the published power law is evaluated at the θ given."""
        theta = np.asarray(theta, dtype=float)
        if self.kind == "published":
            return self._per_star_published(theta)
        # tabulated special functions: fit by fit (``TailLikelihood`` interpolates them once per walker)
        inside = np.ones(theta.shape[:2], bool) if inside is None else np.asarray(inside, bool)
        log_bound = np.full((theta.shape[1], self._v.size), -np.inf)
        for like, cols, fit, rows in zip(self._likelihoods, self._columns, theta, inside):
            if rows.any():
                log_bound[rows, cols] = like.log_bound(fit[rows])
        f = theta[..., 3]
        with np.errstate(divide="ignore"):
            return np.logaddexp(self._per_star(np.log1p(-f)) + log_bound, self._per_star(np.log(f)) + self._log_out)

    def __call__(self, theta, inside=None):
        """ln L of every fit and walker, shape (B, n) (``per_star`` for ``inside``)."""
        theta = np.asarray(theta, dtype=float)
        out = np.zeros(theta.shape[:2])
        if self._owner.size:
            out[self._sizes > 0] = np.add.reduceat(self.per_star(theta, inside), self._starts, axis=1).T
        return out

    log_likelihood = __call__
