"""Gaussian log-likelihood terms of Analysis B (METHOD.md §6), vectorised over walkers.

Each term takes model values of shape (W, N) (W walkers, N data points; or (N,)
for one model) and the data as 1-D arrays of length N, and returns the summed
log-likelihood of shape (W,) (or a scalar), including the normalisation
-ln(sqrt(2 pi) sigma). A walker whose model values are not all finite gets -inf
(its parameters lie outside the model's validity; the prior should exclude them).

- ``rotation_curve_loglike``: circular speeds in the plane [km/s] against a measured
  curve, with separate upper/lower errors (split normal: the upper error applies
  where the model lies above the data point; equal errors give the Gaussian) and an
  optional fractional systematic error added in quadrature.
- ``vertical_force_loglike``: K_z(R, |z|) [(km/s)²/kpc] against measurements (Gaussian).
"""

from __future__ import annotations

import numpy as np

_LN_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _data(name: str, values, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or (n is not None and arr.size != n):
        expected = "a 1-D array" if n is None else f"a 1-D array of length {n}"
        raise ValueError(f"{name} must be {expected}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite values at positions {np.flatnonzero(~np.isfinite(arr))[:5].tolist()}")
    return arr


def _errors(name: str, values, n: int) -> np.ndarray:
    arr = _data(name, values, n)
    if not np.all(arr > 0):
        raise ValueError(f"{name} must be positive; non-positive at positions {np.flatnonzero(arr <= 0)[:5].tolist()}")
    return arr


def _model(name: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] != n:
        raise ValueError(f"{name} must have the {n} data points on its last axis, got shape {arr.shape}")
    return arr


def _sum_finite(model: np.ndarray, terms: np.ndarray):
    """Sum ``terms`` over the data axis; -inf where the model row is not all finite."""
    finite = np.all(np.isfinite(model), axis=-1)
    total = np.sum(np.where(np.isfinite(model), terms, 0.0), axis=-1)
    return np.where(finite, total, -np.inf)


def gaussian_loglike(model, observed, sigma, names: tuple[str, str, str] = ("model", "observed", "sigma")):
    """sum_i ln N(observed_i | model_i, sigma_i) over the last axis of ``model``
    (``names`` label the three arguments in error messages)."""
    observed = _data(names[1], observed)
    sigma = _errors(names[2], sigma, observed.size)
    model = _model(names[0], model, observed.size)
    with np.errstate(invalid="ignore"):
        terms = -0.5 * ((model - observed) / sigma) ** 2 - np.log(sigma) - _LN_SQRT_2PI
    return _sum_finite(model, terms)


def rotation_curve_loglike(vc_model_kms, vc_obs_kms, err_up_kms, err_down_kms, frac_systematic: float = 0.0):
    """Log-likelihood of model circular speeds [km/s] against a rotation curve.

    Split normal per point: sigma = err_up where the model exceeds the data, else
    err_down; density 2 / (sqrt(2 pi) (s_up + s_down)) exp(-(v_model - v_obs)² / 2 sigma²).
    ``frac_systematic`` × v_obs is added in quadrature to both errors (Eilers et al.
    2019 quote 2–5 % systematics; 0 = statistical errors only).
    """
    observed = _data("vc_obs_kms", vc_obs_kms)
    up = _errors("err_up_kms", err_up_kms, observed.size)
    down = _errors("err_down_kms", err_down_kms, observed.size)
    if not (np.isfinite(frac_systematic) and frac_systematic >= 0):
        raise ValueError(f"frac_systematic must be finite and >= 0, got {frac_systematic}")
    up = np.hypot(up, frac_systematic * observed)
    down = np.hypot(down, frac_systematic * observed)
    model = _model("vc_model_kms", vc_model_kms, observed.size)
    with np.errstate(invalid="ignore"):
        sigma = np.where(model > observed, up, down)
        terms = -0.5 * ((model - observed) / sigma) ** 2 - np.log(0.5 * (up + down)) - _LN_SQRT_2PI
    return _sum_finite(model, terms)


def vertical_force_loglike(kz_model, kz_obs, kz_err):
    """Gaussian log-likelihood of model K_z [(km/s)²/kpc] against measurements."""
    return gaussian_loglike(kz_model, kz_obs, kz_err, names=("kz_model", "kz_obs", "kz_err"))
