"""Constraint terms of the halo fits, one per data set, vectorised over walkers.

A term maps a ``composite.GalaxyModel`` holding W parameter sets to a
log-likelihood of shape (W,) (``log_likelihood``); ``make_terms`` builds the
named ones from ``ConstraintData``:

- ``vesc_curve`` (``EscapeVelocityTerm``): each bin's model v_esc at (R = r0, z = 0)
  scored against that bin's v_esc density (``vesc_curve``);
- ``vc_R0`` (``CircularSpeedTerm``): Gaussian circular speed at R0;
- ``rotation_curve`` (``RotationCurveTerm``): split-normal circular speeds with a
  fractional systematic;
- ``vertical_force`` (``VerticalForceTerm``): Gaussian K_z at the measured height;
- ``globular_clusters`` (``globular_clusters.likelihood.GlobularClusterTerm``): the
  clusters' phase-space draws under a double-power-law DF in actions, whose
  parameters the fit samples with the potential's.

Units: kpc, km/s, K_z in (km/s)² / kpc. The Gaussian log-likelihood functions
below take model values of shape (W, N) (W walkers, N data points; or (N,)
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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.constraints.vesc_curve import EscapeVelocityCurve
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws
from milkyway_mass.galaxy.globular_clusters.likelihood import GlobularClusterTerm
from milkyway_mass.galaxy.potentials.composite import GalaxyModel, dphi_dz

__all__ = [
    "CONSTRAINTS",
    "CircularSpeedTerm",
    "ConstraintData",
    "EscapeVelocityTerm",
    "RotationCurveTerm",
    "VerticalForceTerm",
    "gaussian_loglike",
    "make_terms",
    "rotation_curve_loglike",
    "term_goodness",
    "vertical_force_loglike",
]

#: Constraint names usable in a constraint set.
CONSTRAINTS = ("vesc_curve", "vc_R0", "rotation_curve", "vertical_force", "globular_clusters")

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
    return _gaussian_sum(_model(names[0], model, observed.size), observed, sigma)


def _gaussian_sum(model: np.ndarray, observed: np.ndarray, sigma: np.ndarray):
    """The sum of :func:`gaussian_loglike` for data already validated (terms check theirs once)."""
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


@dataclass(frozen=True)
class EscapeVelocityTerm:
    """Sum over bins of log p_bin(model v_esc at (R = r0, z = 0)), boundary ``boundary_r200`` * r200."""

    curve: EscapeVelocityCurve
    boundary_r200: float = 2.0
    name: str = "vesc_curve"

    def log_likelihood(self, model: GalaxyModel):
        v = model.escape_speed(self.curve.r0, 0.0, self.boundary_r200)
        return np.sum(self.curve.log_density(v), axis=-1)


@dataclass(frozen=True)
class CircularSpeedTerm:
    """Gaussian likelihood of the in-plane circular speed at radii ``R_kpc`` [km/s]."""

    R_kpc: np.ndarray
    vc_kms: np.ndarray
    err_kms: np.ndarray
    name: str = "vc"

    def __post_init__(self):
        vc = _data("vc_kms", np.atleast_1d(self.vc_kms))
        object.__setattr__(self, "R_kpc", _data("R_kpc", np.atleast_1d(self.R_kpc), vc.size))
        object.__setattr__(self, "vc_kms", vc)
        object.__setattr__(self, "err_kms", _errors("vc_err_kms", np.atleast_1d(self.err_kms), vc.size))

    def prediction(self, model: GalaxyModel):
        return model.circular_speed(self.R_kpc)

    def log_likelihood(self, model: GalaxyModel):
        return _gaussian_sum(self.prediction(model), self.vc_kms, self.err_kms)

    def chi2(self, model: GalaxyModel):
        return np.sum(((self.prediction(model) - self.vc_kms) / self.err_kms) ** 2, axis=-1)


@dataclass(frozen=True)
class RotationCurveTerm:
    """Rotation curve: model circular speed in the plane at R [kpc] against vc [km/s]
    with upper/lower errors (split normal) and a fractional systematic in quadrature."""

    R_kpc: np.ndarray
    vc_kms: np.ndarray
    err_up_kms: np.ndarray
    err_down_kms: np.ndarray
    frac_systematic: float = 0.0
    name: str = "rotation_curve"

    def prediction(self, model: GalaxyModel):
        return model.circular_speed(self.R_kpc)

    def log_likelihood(self, model: GalaxyModel):
        return rotation_curve_loglike(
            self.prediction(model), self.vc_kms, self.err_up_kms, self.err_down_kms, self.frac_systematic
        )

    def chi2(self, model: GalaxyModel):
        v = self.prediction(model)
        sigma = np.where(v > self.vc_kms, self.err_up_kms, self.err_down_kms)
        sigma = np.hypot(sigma, self.frac_systematic * self.vc_kms)
        return np.sum(((v - self.vc_kms) / sigma) ** 2, axis=-1)


@dataclass(frozen=True)
class VerticalForceTerm:
    """K_z = dPhi/dz [(km/s)² / kpc] at (R [kpc], z_kpc) against measurements (Gaussian)."""

    R_kpc: np.ndarray
    z_kpc: float
    kz: np.ndarray
    kz_err: np.ndarray
    name: str = "vertical_force"

    def __post_init__(self):
        kz = _data("kz_obs", self.kz)
        object.__setattr__(self, "R_kpc", _data("R_kpc", self.R_kpc, kz.size))
        object.__setattr__(self, "kz", kz)
        object.__setattr__(self, "kz_err", _errors("kz_err", self.kz_err, kz.size))

    def prediction(self, model: GalaxyModel):
        return dphi_dz(model.components, self.R_kpc, self.z_kpc)

    def log_likelihood(self, model: GalaxyModel):
        return _gaussian_sum(self.prediction(model), self.kz, self.kz_err)

    def chi2(self, model: GalaxyModel):
        return np.sum(((self.prediction(model) - self.kz) / self.kz_err) ** 2, axis=-1)


@dataclass(frozen=True)
class ConstraintData:
    """The data a fit may use: escape-velocity curve, vc(R0) ± error [kpc, km/s], and
    optionally a rotation curve (``data.ROTATION_CURVE_COLUMNS``), a K_z table
    (``data.KZ_COLUMNS``) and globular-cluster draws with the DF's rotation scale."""

    vesc_curve: EscapeVelocityCurve
    R0_kpc: float
    vc_R0_kms: float
    vc_R0_err_kms: float
    rotation_curve: pd.DataFrame | None = None
    vertical_force: pd.DataFrame | None = None
    globular_clusters: ClusterDraws | None = None
    gc_rotation_scale: float = 1.0


def make_terms(
    constraints: Sequence[str], data: ConstraintData, *, boundary_r200: float, frac_systematic: float = 0.0
) -> tuple:
    """Likelihood terms for the named constraints (see CONSTRAINTS)."""
    unknown = [c for c in constraints if c not in CONSTRAINTS]
    if unknown or not constraints:
        raise ValueError(f"constraints must be a non-empty subset of {CONSTRAINTS}; unknown {unknown}")
    optional = ("rotation_curve", "vertical_force", "globular_clusters")
    missing = [c for c in optional if c in constraints and getattr(data, c) is None]
    if missing:
        raise ValueError(f"constraints {missing} need their data, which this fit was not given")
    terms = []
    for name in constraints:
        if name == "vesc_curve":
            terms.append(EscapeVelocityTerm(data.vesc_curve, boundary_r200))
        elif name == "vc_R0":
            terms.append(
                CircularSpeedTerm(
                    np.array([data.R0_kpc]), np.array([data.vc_R0_kms]), np.array([data.vc_R0_err_kms]), name="vc_R0"
                )
            )
        elif name == "rotation_curve":
            rc = data.rotation_curve
            terms.append(
                RotationCurveTerm(
                    *(rc[c].to_numpy(dtype=float) for c in ("R_kpc", "vc_kms", "vc_err_up_kms", "vc_err_down_kms")),
                    frac_systematic=float(frac_systematic),
                )
            )
        elif name == "globular_clusters":
            terms.append(GlobularClusterTerm(data.globular_clusters, float(data.gc_rotation_scale)))
        else:
            kz = data.vertical_force
            heights = np.unique(kz["z_kpc"].to_numpy(dtype=float))
            if heights.size != 1:
                raise ValueError(f"the K_z table must be at a single height; found z = {heights.tolist()} kpc")
            terms.append(
                VerticalForceTerm(
                    kz["R_kpc"].to_numpy(dtype=float),
                    float(heights[0]),
                    kz["kz_kms2_kpc"].to_numpy(dtype=float),
                    kz["kz_err_kms2_kpc"].to_numpy(dtype=float),
                )
            )
    return tuple(terms)


def term_goodness(term, galaxy: GalaxyModel) -> dict[str, float]:
    """Log-likelihood of one parameter set's ``galaxy`` under ``term``, with chi² for the
    Gaussian terms and the number of data points."""
    out = {"log_likelihood": float(np.ravel(term.log_likelihood(galaxy))[0])}
    if isinstance(term, EscapeVelocityTerm):
        return out | {"n_points": int(term.curve.r0.size)}
    if isinstance(term, GlobularClusterTerm):
        return out | {"n_points": term.draws.n_clusters}
    return out | {"chi2": float(np.ravel(term.chi2(galaxy))[0]), "n_points": int(np.size(term.R_kpc))}
