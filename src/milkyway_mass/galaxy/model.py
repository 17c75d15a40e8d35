"""The mass model of every halo fit: a halo family + a baryon model, and what follows from it.

A fit samples θ = (halo parameters, baryon parameters). ``HALO_FAMILIES`` names
the halo parametrisations (NFW in (log10 M200, c200); Zhao and Einasto in
(log10 rho0, r_s, shape); ``<name>_oblate`` adds the axis ratio q), each with a
check of its prior box; ``MassModel`` builds the ``composite.GalaxyModel`` of W
parameter sets at once; ``build_prior`` makes the prior (flat box on the halo,
Gaussians on the baryons); ``derived_samples`` computes the reported quantities
(M200, r200, c200, total mass, v_esc and vc at R0, local dark-matter density).
A grid of fits (families × baryon models × constraint sets) is ``fit_grid``.

Units: kpc, km/s, Msun; dark-matter density in GeV / cm³. Circular and escape
speeds are evaluated in the Galactic plane (z = 0), the escape boundary is
``boundary_r200`` * r200 in the plane.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from milkyway_mass.galaxy.fitting import Prior, parse_box
from milkyway_mass.galaxy.potentials.baryons import (
    BARYON_MODELS,
    FixedBaryons,
    McMillanBaryons,
)
from milkyway_mass.galaxy.potentials.composite import (
    GalaxyModel,
    enclosed_mass,
    vc2_components,
)
from milkyway_mass.galaxy.potentials.halos import (
    ZHAO_ALPHA_MIN,
    EinastoHalo,
    NFWHalo,
    OblateHalo,
    SphericalHalo,
    ZhaoHalo,
    r_minus2,
)
from milkyway_mass.galaxy.potentials.monopole import monopole
from milkyway_mass.galaxy.units import OVERDENSITY, Cosmology, G

#: Radii [kpc] at which every fit (and the mock's truth) reports the total enclosed mass.
ENCLOSED_MASS_RADII_KPC = (20.0, 50.0, 100.0)

__all__ = [
    "ENCLOSED_MASS_RADII_KPC",
    "HALO_FAMILIES",
    "FitSpec",
    "HaloFamily",
    "MassModel",
    "build_prior",
    "component_enclosed_mass",
    "component_kz",
    "component_vc",
    "derived_samples",
    "fit_grid",
]


@dataclass(frozen=True)
class HaloFamily:
    """A halo family as sampled: parameter names, a builder from a dict of (W, 1)
    arrays, and a check of the prior box against the profile's valid range."""

    name: str
    parameter_names: tuple[str, ...]
    build: Callable[[Mapping[str, np.ndarray], Cosmology, float], SphericalHalo]
    check_box: Callable[[Mapping[str, Sequence[float]]], None]

    def __reduce__(self):
        """Pickled by name (its builders are lambdas), so models reach process pools."""
        return _family_named, (self.name,)


def _family_named(name: str) -> HaloFamily:
    return HALO_FAMILIES[name]


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
        0.0 <= box["gamma"][0] and box["gamma"][1] < 2.0,
        "zhao",
        f"gamma must lie in [0, 2) (so that r_-2 and c200 exist), got {box['gamma']}",
    )


def _check_einasto(box) -> None:
    _require(box["r_s_kpc"][0] > 0 and box["n"][0] > 0, "einasto", "r_s_kpc and n must be > 0")


_SPHERICAL_FAMILIES: dict[str, HaloFamily] = {
    "nfw": HaloFamily(
        "nfw",
        ("log10_M200", "c200"),
        lambda p, cosmo, delta: NFWHalo.from_m200_c200(
            10.0 ** p["log10_M200"], p["c200"], cosmology=cosmo, overdensity=delta
        ),
        _check_nfw,
    ),
    "zhao": HaloFamily(
        "zhao",
        ("log10_rho0_msun_kpc3", "r_s_kpc", "alpha", "beta", "gamma"),
        lambda p, cosmo, delta: ZhaoHalo(
            10.0 ** p["log10_rho0_msun_kpc3"],
            p["r_s_kpc"],
            p["alpha"],
            p["beta"],
            p["gamma"],
            cosmology=cosmo,
            overdensity=delta,
        ),
        _check_zhao,
    ),
    "einasto": HaloFamily(
        "einasto",
        ("log10_rho0_msun_kpc3", "r_s_kpc", "n"),
        lambda p, cosmo, delta: EinastoHalo(
            10.0 ** p["log10_rho0_msun_kpc3"], p["r_s_kpc"], p["n"], cosmology=cosmo, overdensity=delta
        ),
        _check_einasto,
    ),
}


def oblate(family: HaloFamily) -> HaloFamily:
    """The family flattened along z: its parameters plus the axis ratio q in (0, 1]."""

    def check_box(box) -> None:
        family.check_box(box)
        _require(
            0.0 < box["q"][0] and box["q"][1] <= 1.0, f"{family.name}_oblate", f"q must lie in (0, 1], got {box['q']}"
        )

    return HaloFamily(
        f"{family.name}_oblate",
        (*family.parameter_names, "q"),
        lambda p, cosmo, delta: OblateHalo(family.build(p, cosmo, delta), p["q"]),
        check_box,
    )


#: Halo families by name: nfw, zhao, einasto and their oblate versions.
HALO_FAMILIES: dict[str, HaloFamily] = {
    **_SPHERICAL_FAMILIES,
    **{f"{name}_oblate": oblate(family) for name, family in _SPHERICAL_FAMILIES.items()},
}


def build_prior(
    halo: HaloFamily,
    halo_box: Mapping[str, Any],
    baryon_names: Sequence[str],
    baryon_priors: Mapping[str, Any],
    tracer_box: Mapping[str, Any] | None = None,
) -> Prior:
    """Flat box on the halo parameters (``{name: [low, high]}``), per baryon parameter
    ``{mean, sigma, bounds: [low, high]}`` (a Gaussian truncated to the bounds; sigma
    null = flat), then flat boxes on the tracer parameters (``tracer_box``, in its order)."""
    missing, extra = set(halo.parameter_names) - set(halo_box), set(halo_box) - set(halo.parameter_names)
    if missing or extra:
        raise ValueError(
            f"{halo.name} halo priors must give [low, high] for exactly {halo.parameter_names}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    box = {n: parse_box(n, halo_box[n], f"{halo.name} halo") for n in halo.parameter_names}
    halo.check_box(box)
    rows = [(*box[n], np.nan, np.nan) for n in halo.parameter_names]
    for name in baryon_names:
        if name not in baryon_priors:
            raise ValueError(f"baryon prior of {name} missing (need mean, sigma, bounds)")
        spec = baryon_priors[name]
        lo, hi = parse_box(name, spec.get("bounds"), "baryons")
        sigma = spec.get("sigma")
        sigma = np.nan if sigma is None else float(sigma)
        if np.isfinite(sigma) and sigma <= 0:
            raise ValueError(f"baryon prior of {name}: sigma must be positive, got {sigma}")
        rows.append((lo, hi, float(spec.get("mean", np.nan)), sigma))
    tracer_box = dict(tracer_box or {})
    rows += [(*parse_box(n, box, "tracer"), np.nan, np.nan) for n, box in tracer_box.items()]
    lower, upper, mean, sigma = (np.array(c, dtype=float) for c in zip(*rows))
    return Prior((*halo.parameter_names, *baryon_names, *tracer_box), lower, upper, mean, sigma)


@dataclass(frozen=True, eq=False)
class MassModel:
    """A halo family + a baryon model: the galaxy of parameter vectors ``theta`` of
    shape (W, D), the halo parameters followed by the baryon parameters and the
    parameters of any tracer population sampled with them (``tracer_parameter_names``,
    passed on as the galaxy's ``tracer_params``)."""

    halo_family: HaloFamily
    baryons: FixedBaryons | McMillanBaryons
    cosmology: Cosmology = Cosmology()
    overdensity: float = OVERDENSITY
    tracer_parameter_names: tuple[str, ...] = ()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return (*self.halo_family.parameter_names, *self.baryons.parameter_names, *self.tracer_parameter_names)

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
        columns = self._columns(theta) if self.tracer_parameter_names else {}
        return GalaxyModel(tuple(parts.values()), halo, {n: columns[n] for n in self.tracer_parameter_names})

    def build_valid(self, theta) -> tuple[GalaxyModel, np.ndarray]:
        """(galaxy of the valid rows, mask of the valid rows of ``theta``): a row is valid if
        its halo has an r200 (its mean density reaches the threshold)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        galaxy = self.build(theta)
        valid = np.isfinite(np.broadcast_to(galaxy.halo.r200, (len(theta), 1))[:, 0])
        if not valid.all() and valid.any():
            galaxy = self.build(theta[valid])
        return galaxy, valid

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


def fit_grid(
    grid: Mapping[str, Sequence[str]], constraint_sets: Mapping[str, Sequence[str]], extra=()
) -> list[FitSpec]:
    """Every family x baryons x constraint set of ``grid``, then the ``extra`` fits
    (``{family, baryons, constraint_set}``), without duplicates."""
    entries = [
        (f, b, c)
        for f in grid.get("families", [])
        for b in grid.get("baryons", [])
        for c in grid.get("constraint_sets", [])
    ]
    entries += [(e["family"], e["baryons"], e["constraint_set"]) for e in extra]
    fits, seen = [], set()
    for family, baryons, cset in entries:
        if family not in HALO_FAMILIES:
            raise ValueError(f"unknown halo family {family!r}; expected one of {sorted(HALO_FAMILIES)}")
        if baryons not in BARYON_MODELS:
            raise ValueError(f"unknown baryon model {baryons!r}; expected one of {sorted(BARYON_MODELS)}")
        if cset not in constraint_sets:
            raise ValueError(f"unknown constraint set {cset!r}; defined: {sorted(constraint_sets)}")
        spec = FitSpec(family, baryons, cset, tuple(constraint_sets[cset]))
        if spec.name not in seen:
            seen.add(spec.name)
            fits.append(spec)
    if not fits:
        raise ValueError("the grid defines no fit")
    return fits


def derived_samples(
    model: MassModel,
    theta: np.ndarray,
    *,
    R0_kpc: float,
    boundary_r200: float,
    n_nodes: int = 256,
    n_grid: int = 256,
    chunk: int = 1000,
) -> dict[str, np.ndarray]:
    """Per-sample derived quantities for ``theta`` of shape (N, D), for every halo fit.

    Returns the sampled parameters and: M200_msun and r200_kpc (halo), log10_M200,
    c200 = r200 / r_-2, M_baryon_r200_msun (baryons inside the sphere r200),
    M_total_r200_msun, vesc_R0_kms and vc_R0_kms (model at (R0, 0); escape to the
    boundary), rho_dm_R0_gev_cm3 (halo density at (R0, 0)) and M_enclosed_<r>kpc_msun (all
    mass inside the spheres ``ENCLOSED_MASS_RADII_KPC``, r² dPhi0/dr / G of the monopole,
    Gauss's theorem). Halo quantities are
    evaluated ``chunk`` rows at a time; the baryon mass in one call for all rows.
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    parts = []
    R0 = np.array([float(R0_kpc)])
    radii = np.array(ENCLOSED_MASS_RADII_KPC)
    for start in range(0, len(theta), int(chunk)):
        t = theta[start : start + int(chunk)]
        galaxy = model.build(t)
        halo = galaxy.halo
        w = (len(t), 1)
        r200 = np.broadcast_to(halo.r200, w)[:, 0]
        parts.append(
            {
                "m200": np.broadcast_to(halo.m200, w)[:, 0],
                "r200": r200,
                "c200": r200 / np.broadcast_to(r_minus2(halo), w)[:, 0],
                "vesc": galaxy.escape_speed(R0, 0.0, boundary_r200)[:, 0],
                "vc": galaxy.circular_speed(R0)[:, 0],
                "rho": np.broadcast_to(halo.local_density_gev_cm3(float(R0_kpc)), w)[:, 0],
                "enclosed": np.broadcast_to(radii**2 * monopole(galaxy.components, radii)[1] / G, (len(t), radii.size)),
            }
        )
    q = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    m_baryon = model.baryon_mass_within(theta, q["r200"], n_nodes, n_grid)
    out = {n: theta[:, i] for i, n in enumerate(model.parameter_names)}
    out.update(
        {
            "M200_msun": q["m200"],
            "r200_kpc": q["r200"],
            "log10_M200": np.log10(q["m200"]),
            "c200": q["c200"],
            "M_baryon_r200_msun": m_baryon,
            "M_total_r200_msun": q["m200"] + m_baryon,
            "vesc_R0_kms": q["vesc"],
            "vc_R0_kms": q["vc"],
            "rho_dm_R0_gev_cm3": q["rho"],
        }
        | {f"M_enclosed_{r:g}kpc_msun": q["enclosed"][:, i] for i, r in enumerate(ENCLOSED_MASS_RADII_KPC)}
    )
    return out


def component_vc(model: MassModel, theta: np.ndarray, R) -> dict[str, np.ndarray]:
    """Signed circular-speed contribution sign(vc²) sqrt(|vc²|) of each component and
    the total [km/s] at radii R (shape (W, N))."""
    parts = model.components(theta)
    vc2 = vc2_components(parts, R)
    vc2["total"] = sum(vc2.values())
    return {k: np.sign(v) * np.sqrt(np.abs(v)) for k, v in vc2.items()}


def component_enclosed_mass(model: MassModel, theta: np.ndarray, r) -> dict[str, np.ndarray]:
    """Mass inside the sphere of radius r [kpc] of each component and the total [Msun]
    (shape (W, N)): r² dPhi0/dr / G of each component's monopole (Gauss's theorem)."""
    r = np.asarray(r, dtype=float)
    out = {k: r**2 * monopole((c,), r)[1] / G for k, c in model.components(theta).items()}
    out["total"] = sum(out.values())
    return out


def component_kz(model: MassModel, theta: np.ndarray, R, z: float) -> dict[str, np.ndarray]:
    """K_z = dPhi/dz of each component and the total [(km/s)² / kpc] at (R, z) (shape (W, N))."""
    parts = model.components(theta)
    out = {k: c.dphi_dz(np.asarray(R, dtype=float), z) for k, c in parts.items()}
    out["total"] = sum(out.values())
    return out
