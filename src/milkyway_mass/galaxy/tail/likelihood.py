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
array and is vectorised over walkers × stars.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.legendre import leggauss, legvander
from scipy.special import betainc, betaln, gammaln, log_ndtr, logsumexp, roots_jacobi

PARAMETER_NAMES = ("v_esc", "k", "gamma", "f")
LIKELIHOODS = ("published", "convolved", "df_consistent", "df_power_exp")
EXTRA_PARAMETERS = {"df_power_exp": ("b",)}

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)

# Grid of the tabulated log I_k(mu): numerical settings, not science choices.
_MU_LO, _MU_HI, _DMU = -30.0, 30.0, 0.1
_DK = 0.05
_K_TOP = 8.0
_N_NODES = 96
_DY = 0.002   # grid of log J_k(y) on y in [0, 1]
_N_QUAD = 48  # Gauss–Legendre nodes of the product integration of H(k, y, b')
_N_CHEB = 9   # Chebyshev nodes in ln(r/r0) at which H is evaluated per walker


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


def log_power_exp_integral(k, y, coeffs):
    """log H(k, y, c) = log (k + 1) ∫_0^1 s^k (1 − y s)^½ exp(Σ_m c_m (y s)^m) ds, for 0 ≤ y < 1.

    ``k`` has shape (W,); ``y`` and each of ``coeffs`` = (c_1, c_2, …) broadcast
    to (W, M). Product integration: the smooth factor g(s) = (1 − y s)^½ exp(…) is
    expanded in shifted Legendre polynomials from its values at fixed
    Gauss–Legendre nodes, and each polynomial is integrated against s^k exactly
    (:func:`_power_weights`). The error is that of a degree-47 polynomial fit of
    g: < 1e-8 in log H for y ≤ 0.99, −20 ≤ c_1 ≤ 40, |c_2| ≤ 20 and 0 ≤ k ≤ 8 (< 2e-7 up to k = 15).
    """
    k = np.asarray(k, dtype=float)
    y, *cs = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y, *coeffs)))
    nodes, weights = _power_weights(k)                      # (Q,), (W, Q)
    t = y[..., None] * nodes                                # (W, M, Q)
    exponent = sum(c[..., None] * t ** (m + 1) for m, c in enumerate(cs))
    g = np.sqrt(1.0 - t) * np.exp(exponent)
    return np.log(np.einsum("wmq,wq->wm", g, weights)) + np.log1p(k)[:, None]


@functools.cache
def _legendre_transform() -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes s_q on [0, 1] and the matrix mapping g(s_q) to shifted-Legendre coefficients."""
    x, w = leggauss(_N_QUAD)
    m = np.arange(_N_QUAD)
    return 0.5 * (x + 1.0), (m + 0.5)[:, None] * (legvander(x, _N_QUAD - 1) * w[:, None]).T


def _power_weights(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes s_q and weights ω_q(k) with Σ_q ω_q g(s_q) = ∫_0^1 s^k g(s) ds for g of degree < Q; shapes (Q,), (W, Q).

    Uses ∫_0^1 s^k P_m(2s − 1) ds = μ_m, μ_0 = 1/(k + 1), μ_m = μ_(m−1)·(k − m + 1)/(k + m + 1).
    """
    nodes, transform = _legendre_transform()
    m = np.arange(1, _N_QUAD)
    ratios = (k[:, None] - m + 1.0) / (k[:, None] + m + 1.0)
    mu = np.concatenate([np.ones((k.size, 1)), np.cumprod(ratios, axis=1)], axis=1) / (k[:, None] + 1.0)
    return nodes, mu @ transform


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
        log_h = log_power_exp_integral(k, np.broadcast_to(y_safe, shape).reshape(flat),
                                       [np.broadcast_to(c, shape).reshape(flat) for c in coeffs]).reshape(shape)
    log_norm = (2.0 * kk + 3.0) * np.log(vesc) - np.log(2.0) + (kk + 1.0) * np.log(y_safe) - np.log1p(kk) + log_h
    gap2 = np.square(vesc) - np.square(v)
    inside = (gap2 > 0) & (v >= v_min) & reachable
    with np.errstate(divide="ignore", invalid="ignore"):
        t = gap2 / np.square(vesc)
        out = 2.0 * np.log(v) + kk * np.log(gap2) + sum(c * t ** (m + 1) for m, c in enumerate(coeffs)) - log_norm
    return np.where(inside, out, -np.inf)


# ------------------------------------------------------------- tabulated special functions


@functools.cache
def _moment_table() -> tuple[np.ndarray, np.ndarray]:
    """log I_k(μ) and d/dμ log I_k(μ) on the grid k = 0.._K_TOP (step _DK) × μ = _MU_LO.._MU_HI.

    Gauss–Jacobi quadrature with weight t^k on [0, A(μ)], A chosen so that the
    Gaussian factor has fallen by e^−50 at A. d/dμ log I_k = I_{k+1}/I_k − μ.
    """
    mu = np.arange(_MU_LO, _MU_HI + 0.5 * _DMU, _DMU)
    ks = np.arange(0.0, _K_TOP + 0.5 * _DK, _DK)
    span = np.where(mu >= 0, mu + 10.0, np.sqrt(mu**2 + 100.0) + mu)
    log_f = np.empty((ks.size, mu.size))
    dlog_f = np.empty_like(log_f)
    for i, k in enumerate(ks):
        x, w = roots_jacobi(_N_NODES, 0.0, k)
        t = span[:, None] * (1.0 + x) / 2.0
        terms = np.log(w) + mu[:, None] * t - 0.5 * t**2
        base = (k + 1.0) * np.log(span / 2.0) - 0.5 * mu**2 - _LOG_SQRT_2PI
        log_f[i] = base + logsumexp(terms, axis=1)
        log_i_next = base + logsumexp(terms + np.log(t), axis=1)
        dlog_f[i] = np.exp(log_i_next - log_f[i]) - mu
    return log_f, dlog_f


def _asymptotic_high(k, mu):
    """log I_k(μ) for μ ≫ 1: μ^k·Σ_j C(k, 2j)(2j−1)!! μ^(−2j)."""
    m2 = mu**-2.0
    c1 = k * (k - 1) / 2
    c2 = c1 * (k - 2) * (k - 3) / 4
    c3 = c2 * (k - 4) * (k - 5) / 6
    return k * np.log(mu) + np.log1p(m2 * (c1 + m2 * (c2 + m2 * c3)))


def _asymptotic_low(k, mu):
    """log I_k(μ) for μ ≪ −1: φ(μ)Γ(k+1)|μ|^(−k−1)·Σ_j (−1)^j (k+1)_(2j) / (2^j j! μ^(2j))."""
    a = k + 1.0
    m2 = mu**-2.0
    c1 = -a * (a + 1) / 2
    c2 = -c1 * (a + 2) * (a + 3) / 4
    c3 = -c2 * (a + 4) * (a + 5) / 6
    return (-0.5 * mu**2 - _LOG_SQRT_2PI + gammaln(a) - a * np.log(-mu)
            + np.log1p(m2 * (c1 + m2 * (c2 + m2 * c3))))


def _interpolate_table(table: tuple[np.ndarray, np.ndarray], x_lo: float, dx: float, k, x) -> np.ndarray:
    """Evaluate a tabulated g(k, x) (rows k = 0, _DK, …; columns x = x_lo + j·dx) and its ∂g/∂x.

    ``k`` has shape (W,), ``x`` shape (W, M). Cubic Lagrange interpolation in k
    gives one table row per walker (only the columns this call needs), then cubic
    Hermite interpolation in x with the tabulated derivative. Points outside the
    x grid are clamped to its end cells; callers replace them.
    """
    log_f, dlog_f = table
    nk, nx = log_f.shape
    pos = (x - x_lo) / dx
    j = np.clip(np.floor(pos).astype(int), 0, nx - 2)
    t = pos - j
    j_lo = int(j.min()) if j.size else 0
    cols = slice(j_lo, int(j.max()) + 2 if j.size else 2)

    i0 = np.clip(np.floor(k / _DK).astype(int) - 1, 0, nk - 4)
    u = k / _DK - i0
    lag = np.stack([-(u - 1) * (u - 2) * (u - 3) / 6, u * (u - 2) * (u - 3) / 2,
                    -u * (u - 1) * (u - 3) / 2, u * (u - 1) * (u - 2) / 6], axis=1)
    idx = i0[:, None] + np.arange(4)
    row_f = np.einsum("wm,wmj->wj", lag, log_f[idx, cols])
    row_d = np.einsum("wm,wmj->wj", lag, dlog_f[idx, cols])

    flat = (j - j_lo) + row_f.shape[1] * np.arange(k.size)[:, None]
    f0, f1 = row_f.take(flat), row_f.take(flat + 1)
    d0, d1 = row_d.take(flat), row_d.take(flat + 1)
    t2 = t * t
    return f0 + t2 * (3.0 - 2.0 * t) * (f1 - f0) + dx * t * (1.0 - t) * ((1.0 - t) * d0 - t * d1)


def _check_k(name: str, k: np.ndarray) -> None:
    if k.size and not (k.min() >= 0 and k.max() <= _K_TOP - 2 * _DK):
        raise ValueError(f"{name}: k must lie in [0, {_K_TOP - 2 * _DK}], got [{k.min()}, {k.max()}]")


def log_normal_moment(k, mu):
    """log I_k(μ) = log ∫_0^∞ t^k φ(t − μ) dt = log E[(μ + Z)_+^k], Z ~ N(0, 1).

    ``k`` has shape (W,) with 0 ≤ k; ``mu`` has shape (W, M). Vectorised: the
    table rows are interpolated once per walker, then per element.
    """
    k = np.asarray(k, dtype=float)
    mu = np.asarray(mu, dtype=float)
    _check_k("log_normal_moment", k)
    out = _interpolate_table(_moment_table(), _MU_LO, _DMU, k, mu)
    high = mu > _MU_HI
    if high.any():
        out[high] = _asymptotic_high(np.broadcast_to(k[:, None], mu.shape)[high], mu[high])
    low = mu < _MU_LO
    if low.any():
        out[low] = _asymptotic_low(np.broadcast_to(k[:, None], mu.shape)[low], mu[low])
    return out


@functools.cache
def _incomplete_beta_table() -> tuple[np.ndarray, np.ndarray]:
    """log h_k(y) and d/dy log h_k(y) on k = 0.._K_TOP × y = 0..1, h_k(y) = (k + 1) J_k(y) / y^(k+1).

    h is smooth and bounded (h_k(0) = 1, h_k(1) = (k + 1) B(k + 1, 3/2)), which
    suits interpolation better than log J itself (→ −∞ at y = 0).
    """
    y = np.linspace(0.0, 1.0, int(round(1.0 / _DY)) + 1)
    ks = np.arange(0.0, _K_TOP + 0.5 * _DK, _DK)[:, None]
    yy = y[None, 1:]
    log_j = betaln(ks + 1.0, 1.5) + np.log(betainc(ks + 1.0, 1.5, yy))
    log_h = np.zeros((ks.size, y.size))
    dlog_h = np.empty_like(log_h)
    log_h[:, 1:] = np.log1p(ks) + log_j - (ks + 1.0) * np.log(yy)
    with np.errstate(divide="ignore"):  # (1 − y)^½ = 0 at y = 1
        dlog_h[:, 1:] = np.exp(ks * np.log(yy) + 0.5 * np.log1p(-yy) - log_j) - (ks + 1.0) / yy
    dlog_h[:, 0] = -0.5 * (ks[:, 0] + 1.0) / (ks[:, 0] + 2.0)
    return log_h, dlog_h


def log_incomplete_beta(k, y):
    """log J_k(y) = log ∫_0^y t^k (1 − t)^½ dt for 0 < y ≤ 1.

    ``k`` has shape (W,) with 0 ≤ k ≤ 7.9; ``y`` has shape (W, M).
    """
    k = np.asarray(k, dtype=float)
    y = np.asarray(y, dtype=float)
    _check_k("log_incomplete_beta", k)
    if y.size and not (y.min() > 0 and y.max() <= 1):
        raise ValueError(f"log_incomplete_beta: y must lie in (0, 1], got [{y.min()}, {y.max()}]")
    log_h = _interpolate_table(_incomplete_beta_table(), 0.0, _DY, k, y)
    return log_h + (k[:, None] + 1.0) * np.log(y) - np.log1p(k)[:, None]


# --------------------------------------------------------------------------- model


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
    """ln L(θ) of one bin for θ of shape (n_walkers, n_params), columns :func:`parameter_names` of ``kind``."""

    def __init__(self, data: TailData, sigma_out: float, kind: str = "published"):
        self.parameter_names = parameter_names(kind)
        if kind == "convolved" and not (data.sigma > 0).all():
            raise ValueError(f"convolved likelihood needs sigma > 0; {np.sum(data.sigma <= 0)} star(s) have sigma <= 0")
        if kind == "df_power_exp" and data.n and np.ptp(data.v_min) > 0:
            raise ValueError(f"df_power_exp likelihood needs one v_min for all stars of a bin; got "
                             f"{data.v_min.min()}..{data.v_min.max()} km/s")
        self.data = data
        self.kind = kind
        self.sigma_out = float(sigma_out)
        self._log_out = log_outlier_density(data.v, data.sigma, data.v_min, self.sigma_out)
        self._log_r = np.log(data.r / data.r0)
        if kind == "df_power_exp":
            self._node_log_r, self._lagrange = chebyshev_interpolation_matrix(self._log_r, _N_CHEB)

    def _vesc(self, theta):
        """v_esc,i = v_esc(r0)·(r_i/r0)^(−γ/2) per walker and star, shape (W, N) [km/s]."""
        return theta[:, :1] * np.exp(-0.5 * theta[:, 2:3] * self._log_r[None, :])

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
        theta = np.atleast_2d(theta)
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
        theta = np.atleast_2d(theta)
        f = theta[:, 3:4]
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log1p(-f) + self.log_bound(theta), np.log(f) + self._log_out[None, :])

    def __call__(self, theta):
        """ln L, shape (W,)."""
        return self.per_star(theta).sum(axis=1)

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


def chebyshev_interpolation_matrix(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n Chebyshev nodes (first kind) spanning [min x, max x] and the (len(x), n) matrix that
    interpolates values at the nodes to the points x (barycentric Lagrange formula).

    A single node (matrix of ones) if all x are equal.
    """
    x = np.asarray(x, dtype=float)
    lo, hi = (x.min(), x.max()) if x.size else (0.0, 0.0)
    if not hi > lo:
        return np.array([lo]), np.ones((x.size, 1))
    angles = (2.0 * np.arange(n) + 1.0) * np.pi / (2.0 * n)
    nodes = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(angles)
    weights = (-1.0) ** np.arange(n) * np.sin(angles)
    diff = x[:, None] - nodes[None, :]
    exact = diff == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = weights / diff
        matrix = terms / terms.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    matrix[hit] = exact[hit].astype(float)
    return nodes, matrix


@dataclass(frozen=True)
class PriorBounds:
    """Box of the §4 priors: v_esc(r0) ∈ [vesc_lo, vesc_hi] ∝ 1/v_esc, k, γ, f uniform;
    b uniform in [b_lo, b_hi] when the likelihood has it (``df_power_exp``), else both None."""

    vesc_lo: float
    vesc_hi: float
    k_lo: float
    k_hi: float
    gamma_lo: float
    gamma_hi: float
    f_lo: float
    f_hi: float
    b_lo: float | None = None
    b_hi: float | None = None

    def __post_init__(self):
        if (self.b_lo is None) != (self.b_hi is None):
            raise ValueError(f"prior range of b needs both bounds or neither, got [{self.b_lo}, {self.b_hi}]")
        for name in self._names:
            lo, hi = getattr(self, f"{name}_lo"), getattr(self, f"{name}_hi")
            if not lo < hi:
                raise ValueError(f"prior range of {name} is empty: [{lo}, {hi}]")
        if self.vesc_lo <= 0 or self.k_lo < 0 or self.f_lo <= 0 or self.f_hi > 1:
            raise ValueError(f"prior bounds outside the physical range: {self}")

    @property
    def _names(self) -> tuple[str, ...]:
        return ("vesc", "k", "gamma", "f") + (("b",) if self.b_lo is not None else ())

    @property
    def lower(self) -> np.ndarray:
        return np.array([getattr(self, f"{name}_lo") for name in self._names], dtype=float)

    @property
    def upper(self) -> np.ndarray:
        return np.array([getattr(self, f"{name}_hi") for name in self._names], dtype=float)

    def log_prior(self, theta):
        """Unnormalised ln prior, shape (W,): −ln v_esc inside the box, −inf outside."""
        theta = np.atleast_2d(theta)
        inside = np.all((theta >= self.lower) & (theta <= self.upper), axis=1)
        out = np.full(theta.shape[0], -np.inf)
        out[inside] = -np.log(theta[inside, 0])
        return out


class TailPosterior:
    """Vectorised log-posterior for emcee (``vectorize=True``).

    Called with θ (W, n_params), returns (W, 2): column 0 ln posterior, column 1 ln L
    (emcee stores it as a blob); ln L is only evaluated inside the prior box.
    """

    def __init__(self, likelihood: TailLikelihood, bounds: PriorBounds):
        if bounds.lower.size != len(likelihood.parameter_names):
            raise ValueError(f"{likelihood.kind} likelihood has parameters {likelihood.parameter_names} but the "
                             f"prior box has {bounds.lower.size} ranges (b_lo/b_hi are for df_power_exp only)")
        self.likelihood = likelihood
        self.bounds = bounds

    def __call__(self, theta):
        theta = np.atleast_2d(theta)
        lp = self.bounds.log_prior(theta)
        ll = np.full(theta.shape[0], -np.inf)
        ok = np.isfinite(lp)
        if ok.any():
            ll[ok] = self.likelihood(theta[ok])
        return np.column_stack([lp + ll, ll])
