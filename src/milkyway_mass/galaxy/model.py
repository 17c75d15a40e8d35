"""Analysis B (METHOD.md §6): one fit combining any of the escape-velocity curve,
vc(R0), a rotation curve and K_z(R, |z|), with an NFW, Zhao or Einasto halo
(spherical, or oblate with axis ratio q: families ``<name>_oblate``) and the fixed
(§5) or a McMillan (2017)-type baryon model.

Units: kpc, km/s, Msun; K_z in (km/s)² / kpc; dark-matter density in GeV / cm³.
Circular and escape speeds are evaluated in the Galactic plane (z = 0), the
escape boundary is ``boundary_r200`` * r200 in the plane, K_z at the measured
height. Halos come from ``halo_profiles``, baryons from ``baryon_models``; the
terms score a ``mass_model.GalaxyModel`` (baryons + halo) and return shape (W,)
for W walkers, so the escape-velocity and vc(R0) terms of Analysis A
(``mass_likelihood``) combine with the rotation-curve and K_z terms here.

Sampled parameters: the halo family's (``HALO_FAMILIES_B``), then the baryon
model's (none for the fixed model). Priors: flat on a box for the halo; Gaussian
(truncated to a box) or flat for the baryons. A fit maximises the posterior with
Nelder–Mead from a configured start, then runs emcee from a small ball around the
maximum and discards the first ``burn_fraction`` of the steps (METHOD: half).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from milkyway_mass.galaxy.potentials.baryons import (
    BARYON_MODELS,
    FixedBaryons,
    McMillanBaryons,
    vc2_components,
)
from milkyway_mass.galaxy.constraints.terms import (
    rotation_curve_loglike,
    vertical_force_loglike,
)
from milkyway_mass.galaxy.potentials.halos import (
    ZHAO_ALPHA_MIN,
    EinastoHalo,
    NFWHalo,
    OblateHalo,
    SphericalHalo,
    ZhaoHalo,
)
from milkyway_mass.galaxy.constraints.vesc_curve import (
    CircularSpeedTerm,
    EscapeVelocityCurve,
    EscapeVelocityTerm,
    run_emcee,
)
from milkyway_mass.galaxy.potentials.composite import (
    OVERDENSITY,
    Cosmology,
    GalaxyModel,
    dphi_dz,
    enclosed_mass,
)

#: Constraint names usable in a constraint set.
CONSTRAINTS = ("vesc_curve", "vc_R0", "rotation_curve", "vertical_force")


# --- halo families -----------------------------------------------------------------


@dataclass(frozen=True)
class HaloParametrisation:
    """A halo family as sampled: parameter names, a builder from a dict of (W, 1)
    arrays, and a check of the prior box against the profile's valid range."""

    name: str
    parameter_names: tuple[str, ...]
    build: Callable[[Mapping[str, np.ndarray], Cosmology, float], SphericalHalo]
    check_box: Callable[[Mapping[str, Sequence[float]]], None]


def _require(condition: bool, family: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{family} halo prior: {message}")


def _check_nfw(box) -> None:
    _require(box["c200"][0] > 0, "nfw", f"c200 must be > 0, got lower bound {box['c200'][0]}")


def _check_zhao(box) -> None:
    _require(box["r_s_kpc"][0] > 0, "zhao", "r_s_kpc must be > 0")
    _require(box["alpha"][0] >= ZHAO_ALPHA_MIN, "zhao", f"alpha must be >= {ZHAO_ALPHA_MIN}, got {box['alpha']}")
    _require(box["beta"][0] > 2.0, "zhao", f"beta must be > 2 (finite potential), got {box['beta']}")
    _require(
        0.0 <= box["gamma"][0] and box["gamma"][1] < 2.0, "zhao",
        f"gamma must lie in [0, 2) (so that r_-2 and c200 exist), got {box['gamma']}",
    )


def _check_einasto(box) -> None:
    _require(box["r_s_kpc"][0] > 0 and box["n"][0] > 0, "einasto", "r_s_kpc and n must be > 0")


_SPHERICAL_FAMILIES: dict[str, HaloParametrisation] = {
    "nfw": HaloParametrisation(
        "nfw", ("log10_M200", "c200"),
        lambda p, cosmo, delta: NFWHalo.from_m200_c200(
            10.0 ** p["log10_M200"], p["c200"], cosmology=cosmo, overdensity=delta
        ),
        _check_nfw,
    ),
    "zhao": HaloParametrisation(
        "zhao", ("log10_rho0_msun_kpc3", "r_s_kpc", "alpha", "beta", "gamma"),
        lambda p, cosmo, delta: ZhaoHalo(
            10.0 ** p["log10_rho0_msun_kpc3"], p["r_s_kpc"], p["alpha"], p["beta"], p["gamma"],
            cosmology=cosmo, overdensity=delta,
        ),
        _check_zhao,
    ),
    "einasto": HaloParametrisation(
        "einasto", ("log10_rho0_msun_kpc3", "r_s_kpc", "n"),
        lambda p, cosmo, delta: EinastoHalo(
            10.0 ** p["log10_rho0_msun_kpc3"], p["r_s_kpc"], p["n"], cosmology=cosmo, overdensity=delta
        ),
        _check_einasto,
    ),
}


def oblate(family: HaloParametrisation) -> HaloParametrisation:
    """The family flattened along z: its parameters plus the axis ratio q in (0, 1]."""

    def check_box(box) -> None:
        family.check_box(box)
        _require(0.0 < box["q"][0] and box["q"][1] <= 1.0, f"{family.name}_oblate", f"q must lie in (0, 1], got {box['q']}")

    return HaloParametrisation(
        f"{family.name}_oblate", (*family.parameter_names, "q"),
        lambda p, cosmo, delta: OblateHalo(family.build(p, cosmo, delta), p["q"]),
        check_box,
    )


#: Halo families of Analysis B by name: nfw, zhao, einasto and their oblate versions.
HALO_FAMILIES_B: dict[str, HaloParametrisation] = {
    **_SPHERICAL_FAMILIES,
    **{f"{name}_oblate": oblate(family) for name, family in _SPHERICAL_FAMILIES.items()},
}


def r_minus2(halo: SphericalHalo | OblateHalo):
    """Radius where the logarithmic density slope is -2 [kpc]: r_s for NFW and Einasto,
    r_s ((2 - gamma) / (beta - 2))^(1/alpha) for Zhao; for an oblate halo, that of its
    profile (a semi-major axis, like its r200)."""
    if isinstance(halo, OblateHalo):
        halo = halo.profile
    if isinstance(halo, ZhaoHalo):
        return halo.r_s * ((2.0 - halo.gamma) / (halo.beta - 2.0)) ** (1.0 / halo.alpha)
    return halo.r_s


# --- priors ------------------------------------------------------------------------


@dataclass(frozen=True)
class FitPrior:
    """Box prior on all parameters times Gaussians on some (``mean``/``sigma`` NaN = flat).

    ``log_prob`` is -inf outside the box and omits the normalisation."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    mean: np.ndarray
    sigma: np.ndarray

    def log_prob(self, theta):
        theta = np.atleast_2d(theta)
        inside = np.all((theta >= self.lower) & (theta <= self.upper), axis=-1)
        gaussian = np.isfinite(self.sigma)
        z = (theta[:, gaussian] - self.mean[gaussian]) / self.sigma[gaussian]
        return np.where(inside, -0.5 * np.sum(z**2, axis=-1), -np.inf)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform draws in the box (for ``run_emcee``'s default start)."""
        return rng.uniform(self.lower, self.upper, size=(n, len(self.names)))


def _box(name: str, value, where: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: prior of {name} must be [low, high], got {value!r}") from None
    if not lo < hi:
        raise ValueError(f"{where}: prior of {name} needs low < high, got [{lo}, {hi}]")
    return lo, hi


def build_prior(
    halo: HaloParametrisation, halo_box: Mapping[str, Any], baryon_names: Sequence[str], baryon_priors: Mapping[str, Any]
) -> FitPrior:
    """Flat box on the halo parameters (``{name: [low, high]}``) and, per baryon
    parameter, ``{mean, sigma, bounds: [low, high]}`` (a Gaussian truncated to the
    bounds; sigma null = flat)."""
    missing, extra = set(halo.parameter_names) - set(halo_box), set(halo_box) - set(halo.parameter_names)
    if missing or extra:
        raise ValueError(
            f"{halo.name} halo priors must give [low, high] for exactly {halo.parameter_names}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    box = {n: _box(n, halo_box[n], f"{halo.name} halo") for n in halo.parameter_names}
    halo.check_box(box)
    rows = [(*box[n], np.nan, np.nan) for n in halo.parameter_names]
    for name in baryon_names:
        if name not in baryon_priors:
            raise ValueError(f"baryon prior of {name} missing (need mean, sigma, bounds)")
        spec = baryon_priors[name]
        lo, hi = _box(name, spec.get("bounds"), "baryons")
        sigma = spec.get("sigma")
        sigma = np.nan if sigma is None else float(sigma)
        if np.isfinite(sigma) and sigma <= 0:
            raise ValueError(f"baryon prior of {name}: sigma must be positive, got {sigma}")
        rows.append((lo, hi, float(spec.get("mean", np.nan)), sigma))
    lower, upper, mean, sigma = (np.array(c, dtype=float) for c in zip(*rows))
    return FitPrior((*halo.parameter_names, *baryon_names), lower, upper, mean, sigma)


# --- model -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CombinedModel:
    """Halo family + baryon model; ``theta`` of shape (W, D) holds the halo parameters
    followed by the baryon parameters."""

    halo_family: HaloParametrisation
    baryons: FixedBaryons | McMillanBaryons
    cosmology: Cosmology = Cosmology()
    overdensity: float = OVERDENSITY

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return (*self.halo_family.parameter_names, *self.baryons.parameter_names)

    def _columns(self, theta) -> dict[str, np.ndarray]:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[-1] != len(self.parameter_names):
            raise ValueError(f"theta has {theta.shape[-1]} columns; the model needs {self.parameter_names}")
        return {n: theta[:, i : i + 1] for i, n in enumerate(self.parameter_names)}

    def components(self, theta) -> dict[str, Any]:
        """Named components (baryon components, then ``halo``) for W parameter sets."""
        p = self._columns(theta)
        halo = self.halo_family.build(p, self.cosmology, self.overdensity)
        baryons = self.baryons.components({n: p[n] for n in self.baryons.parameter_names})
        return {**baryons, "halo": halo}

    def build(self, theta) -> GalaxyModel:
        parts = self.components(theta)
        halo = parts.pop("halo")
        return GalaxyModel(tuple(parts.values()), halo)

    def baryon_mass_within(self, theta, r_kpc, n_nodes: int = 256, n_grid: int = 256) -> np.ndarray:
        """Baryon mass inside the spheres r_kpc (shape (W,)) [Msun].

        Fixed model: Gauss's theorem on ``n_grid`` log-spaced radii spanning r_kpc
        (``n_nodes`` quadrature nodes), interpolated linearly in ln r.
        McMillan model: the total mass of its components (exponential disks, bulge
        and gas hold < 1e-10 of their mass beyond 100 kpc)."""
        r = np.asarray(r_kpc, dtype=float)
        if isinstance(self.baryons, FixedBaryons):
            parts = tuple(self.baryons.components({}).values())
            grid = np.geomspace(r.min(), r.max() * (1 + 1e-12), n_grid)
            return np.interp(np.log(r), np.log(grid), enclosed_mass(parts, grid, n_nodes))
        p = self._columns(theta)
        parts = self.baryons.components({n: p[n] for n in self.baryons.parameter_names})
        total = sum(np.broadcast_to(c.mass_msun, (len(r), 1)) for c in parts.values())
        return total[:, 0]


def build_baryons(kind: str, fixed: Mapping[str, Any], models: Mapping[str, Any]) -> FixedBaryons | McMillanBaryons:
    """Baryon model ``kind``: 'fixed' from ``fixed`` (the §5 components of
    ``halo_mass.model.baryons``), others from ``models[kind]['model']``."""
    if kind not in BARYON_MODELS:
        raise ValueError(f"unknown baryon model {kind!r}; expected one of {sorted(BARYON_MODELS)}")
    if kind == "fixed":
        return BARYON_MODELS[kind](fixed)
    if kind not in models or "model" not in models[kind]:
        raise ValueError(f"baryon model {kind!r} needs settings under baryon_models.{kind}.model")
    return BARYON_MODELS[kind](models[kind]["model"])


# --- constraint terms ----------------------------------------------------------------


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

    def prediction(self, model: GalaxyModel):
        return dphi_dz(model.components, self.R_kpc, self.z_kpc)

    def log_likelihood(self, model: GalaxyModel):
        return vertical_force_loglike(self.prediction(model), self.kz, self.kz_err)

    def chi2(self, model: GalaxyModel):
        return np.sum(((self.prediction(model) - self.kz) / self.kz_err) ** 2, axis=-1)


@dataclass(frozen=True)
class ConstraintData:
    """The data a fit may use: escape-velocity curve, rotation curve (``constraint_data``
    ROTATION_CURVE_COLUMNS), K_z table (KZ_COLUMNS) and vc(R0) ± error [kpc, km/s]."""

    vesc_curve: EscapeVelocityCurve
    rotation_curve: pd.DataFrame
    vertical_force: pd.DataFrame
    R0_kpc: float
    vc_R0_kms: float
    vc_R0_err_kms: float


def make_terms(
    constraints: Sequence[str], data: ConstraintData, *, boundary_r200: float, frac_systematic: float = 0.0
) -> tuple:
    """Likelihood terms for the named constraints (see CONSTRAINTS)."""
    unknown = [c for c in constraints if c not in CONSTRAINTS]
    if unknown or not constraints:
        raise ValueError(f"constraints must be a non-empty subset of {CONSTRAINTS}; unknown {unknown}")
    terms = []
    for name in constraints:
        if name == "vesc_curve":
            terms.append(EscapeVelocityTerm(data.vesc_curve, boundary_r200))
        elif name == "vc_R0":
            terms.append(
                CircularSpeedTerm(np.array([data.R0_kpc]), np.array([data.vc_R0_kms]), np.array([data.vc_R0_err_kms]), name="vc_R0")
            )
        elif name == "rotation_curve":
            rc = data.rotation_curve
            terms.append(
                RotationCurveTerm(
                    *(rc[c].to_numpy(dtype=float) for c in ("R_kpc", "vc_kms", "vc_err_up_kms", "vc_err_down_kms")),
                    frac_systematic=float(frac_systematic),
                )
            )
        else:
            kz = data.vertical_force
            heights = np.unique(kz["z_kpc"].to_numpy(dtype=float))
            if heights.size != 1:
                raise ValueError(f"the K_z table must be at a single height; found z = {heights.tolist()} kpc")
            terms.append(
                VerticalForceTerm(
                    kz["R_kpc"].to_numpy(dtype=float), float(heights[0]),
                    kz["kz_kms2_kpc"].to_numpy(dtype=float), kz["kz_err_kms2_kpc"].to_numpy(dtype=float),
                )
            )
    return tuple(terms)


@dataclass(frozen=True, eq=False)
class CombinedPosterior:
    """log prior + sum of the terms' log likelihoods, vectorised over walkers.

    Parameter sets whose halo has no r200 (mean density never reaches the
    threshold) get -inf."""

    model: CombinedModel
    prior: FitPrior
    terms: tuple

    def _valid_model(self, theta):
        """(model of the valid rows, mask of valid rows) for in-prior ``theta``."""
        model = self.model.build(theta)
        valid = np.isfinite(np.broadcast_to(model.halo.r200, (len(theta), 1))[:, 0])
        if not valid.all() and valid.any():
            model = self.model.build(theta[valid])
        return model, valid

    def log_likelihood_terms(self, theta) -> dict[str, np.ndarray]:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        model, valid = self._valid_model(theta)
        out = {t.name: np.full(len(theta), -np.inf) for t in self.terms}
        if valid.any():
            for t in self.terms:
                out[t.name][valid] = t.log_likelihood(model)
        return out

    def __call__(self, theta):
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        log_post = self.prior.log_prob(theta)
        ok = np.flatnonzero(np.isfinite(log_post))
        if ok.size:
            log_post[ok] += sum(self.log_likelihood_terms(theta[ok]).values())
        return np.where(np.isnan(log_post), -np.inf, log_post)


# --- fit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FitSpec:
    """One fit of the grid: halo family, baryon model and a named set of constraints."""

    family: str
    baryons: str
    constraint_set: str
    constraints: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.family}.{self.baryons}.{self.constraint_set}"


def fit_grid(grid: Mapping[str, Sequence[str]], constraint_sets: Mapping[str, Sequence[str]], extra=()) -> list[FitSpec]:
    """Every family x baryons x constraint set of ``grid``, then the ``extra`` fits
    (``{family, baryons, constraint_set}``), without duplicates."""
    entries = [
        (f, b, c) for f in grid.get("families", []) for b in grid.get("baryons", []) for c in grid.get("constraint_sets", [])
    ]
    entries += [(e["family"], e["baryons"], e["constraint_set"]) for e in extra]
    fits, seen = [], set()
    for family, baryons, cset in entries:
        if family not in HALO_FAMILIES_B:
            raise ValueError(f"unknown halo family {family!r}; expected one of {sorted(HALO_FAMILIES_B)}")
        if baryons not in BARYON_MODELS:
            raise ValueError(f"unknown baryon model {baryons!r}; expected one of {sorted(BARYON_MODELS)}")
        if cset not in constraint_sets:
            raise ValueError(f"unknown constraint set {cset!r}; defined: {sorted(constraint_sets)}")
        spec = FitSpec(family, baryons, cset, tuple(constraint_sets[cset]))
        if spec.name not in seen:
            seen.add(spec.name)
            fits.append(spec)
    if not fits:
        raise ValueError("the Analysis B grid defines no fit")
    return fits


def fit_seed(seed: int, name: str) -> int:
    """A per-fit seed from the configured seed and the fit's name (stable across grids)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0])


def maximise(posterior: CombinedPosterior, start: np.ndarray, optimizer: Mapping[str, Any], label: str = "") -> dict[str, Any]:
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
        "maxfev": int(optimizer["maxfev"]), "xatol": float(optimizer["xatol"]),
        "fatol": float(optimizer["fatol"]), "adaptive": bool(optimizer["adaptive"]),
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
    center: np.ndarray, posterior: CombinedPosterior, n_walkers: int, scale: float, rng: np.random.Generator,
    max_rounds: int = 100,
) -> np.ndarray:
    """Walkers at ``center`` + scale x (prior box width) x N(0, 1), reflected into the box;
    draws with zero posterior are redrawn."""
    prior = posterior.prior
    width = prior.upper - prior.lower
    pos = np.empty((n_walkers, len(center)))
    todo = np.arange(n_walkers)
    for _ in range(max_rounds):
        draw = center + scale * width * rng.standard_normal((todo.size, len(center)))
        draw = np.where(draw < prior.lower, 2 * prior.lower - draw, draw)
        draw = np.clip(np.where(draw > prior.upper, 2 * prior.upper - draw, draw), prior.lower, prior.upper)
        pos[todo] = draw
        todo = todo[~np.isfinite(posterior(pos[todo]))]
        if todo.size == 0:
            return pos
    raise ValueError(f"could not place {todo.size} walkers with finite posterior near {center.tolist()}")


def run_fit(
    posterior: CombinedPosterior,
    start: np.ndarray,
    optimizer: Mapping[str, Any],
    sampler: Mapping[str, Any],
    seed: int,
    label: str = "",
) -> dict[str, Any]:
    """Nelder–Mead, then emcee (``n_walkers``, ``n_steps`` of which the first
    ``burn_fraction`` are discarded) from a ball (``init_scale``) around the maximum.

    Returns ``run_emcee``'s result (chain thinned by ``store_thin`` for storage; the
    diagnostics use every kept step) plus ``optimizer``.
    """
    best = maximise(posterior, start, optimizer, label)
    n_steps, n_walkers = int(sampler["n_steps"]), int(sampler["n_walkers"])
    fraction = float(sampler["burn_fraction"])
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"burn_fraction must be in [0, 1), got {fraction}")
    n_burn = int(round(fraction * n_steps))
    rng = np.random.default_rng(seed)
    initial = initial_ball(best["x"], posterior, n_walkers, float(sampler["init_scale"]), rng)
    result = run_emcee(
        posterior, posterior.prior, n_walkers=n_walkers, n_burn=n_burn, n_keep=n_steps - n_burn,
        seed=int(rng.integers(2**32)), progress=bool(sampler["progress"]), initial=initial, label=label,
    )
    thin = int(sampler["store_thin"])
    result["chain"] = result["chain"][::thin]
    result["log_prob"] = result["log_prob"][::thin]
    result.update(seed=int(seed), store_thin=thin, optimizer=best | {"x": best["x"].tolist()})
    return result


# --- derived quantities ------------------------------------------------------------------


def derived_samples(
    model: CombinedModel,
    theta: np.ndarray,
    *,
    R0_kpc: float,
    boundary_r200: float,
    n_nodes: int = 256,
    n_grid: int = 256,
    chunk: int = 1000,
) -> dict[str, np.ndarray]:
    """Per-sample derived quantities for ``theta`` of shape (N, D): the summaries of both
    analyses (Analysis A's model is an NFW ``CombinedModel`` with fixed baryons).

    Returns the sampled parameters and: M200_msun and r200_kpc (halo), log10_M200,
    c200 = r200 / r_-2, M_baryon_r200_msun (baryons inside the sphere r200),
    M_total_r200_msun, vesc_R0_kms and vc_R0_kms (model at (R0, 0); escape to the
    boundary) and rho_dm_R0_gev_cm3 (halo density at (R0, 0)). Halo quantities are
    evaluated ``chunk`` rows at a time; the baryon mass in one call for all rows.
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    parts = []
    R0 = np.array([float(R0_kpc)])
    for start in range(0, len(theta), int(chunk)):
        t = theta[start : start + int(chunk)]
        galaxy = model.build(t)
        halo = galaxy.halo
        w = (len(t), 1)
        r200 = np.broadcast_to(halo.r200, w)[:, 0]
        parts.append({
            "m200": np.broadcast_to(halo.m200, w)[:, 0],
            "r200": r200,
            "c200": r200 / np.broadcast_to(r_minus2(halo), w)[:, 0],
            "vesc": galaxy.escape_speed(R0, 0.0, boundary_r200)[:, 0],
            "vc": galaxy.circular_speed(R0)[:, 0],
            "rho": np.broadcast_to(halo.local_density_gev_cm3(float(R0_kpc)), w)[:, 0],
        })
    q = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    m_baryon = model.baryon_mass_within(theta, q["r200"], n_nodes, n_grid)
    out = {n: theta[:, i] for i, n in enumerate(model.parameter_names)}
    out.update({
        "M200_msun": q["m200"],
        "r200_kpc": q["r200"],
        "log10_M200": np.log10(q["m200"]),
        "c200": q["c200"],
        "M_baryon_r200_msun": m_baryon,
        "M_total_r200_msun": q["m200"] + m_baryon,
        "vesc_R0_kms": q["vesc"],
        "vc_R0_kms": q["vc"],
        "rho_dm_R0_gev_cm3": q["rho"],
    })
    return out


def component_vc(model: CombinedModel, theta: np.ndarray, R) -> dict[str, np.ndarray]:
    """Signed circular-speed contribution sign(vc²) sqrt(|vc²|) of each component and
    the total [km/s] at radii R (shape (W, N))."""
    parts = model.components(theta)
    vc2 = vc2_components(parts, R)
    vc2["total"] = sum(vc2.values())
    return {k: np.sign(v) * np.sqrt(np.abs(v)) for k, v in vc2.items()}


def component_kz(model: CombinedModel, theta: np.ndarray, R, z: float) -> dict[str, np.ndarray]:
    """K_z = dPhi/dz of each component and the total [(km/s)² / kpc] at (R, z) (shape (W, N))."""
    parts = model.components(theta)
    out = {k: c.dphi_dz(np.asarray(R, dtype=float), z) for k, c in parts.items()}
    out["total"] = sum(out.values())
    return out


def term_goodness(term, galaxy: GalaxyModel) -> dict[str, float]:
    """Log-likelihood of one parameter set's ``galaxy`` under ``term``, with chi² and
    the number of data points for the Gaussian terms."""
    out = {"log_likelihood": float(np.ravel(term.log_likelihood(galaxy))[0])}
    if isinstance(term, RotationCurveTerm | VerticalForceTerm):
        out.update(chi2=float(np.ravel(term.chi2(galaxy))[0]), n_points=int(np.size(term.R_kpc)))
    elif isinstance(term, CircularSpeedTerm):
        resid = (galaxy.circular_speed(np.atleast_1d(term.R_kpc)) - term.vc_kms) / term.err_kms
        out.update(chi2=float(np.sum(resid**2)), n_points=int(np.size(term.R_kpc)))
    elif isinstance(term, EscapeVelocityTerm):
        out.update(n_points=int(term.curve.r0.size))
    return out


def estimate(values: np.ndarray, percentiles: Sequence[float]) -> dict[str, float]:
    """Median and the interval ``percentiles`` (lo, hi) with err_minus / err_plus."""
    q_lo, med, q_hi = np.percentile(values, [float(percentiles[0]), 50.0, float(percentiles[1])])
    return {
        "median": float(med), "lo": float(q_lo), "hi": float(q_hi),
        "err_minus": float(med - q_lo), "err_plus": float(q_hi - med),
    }
