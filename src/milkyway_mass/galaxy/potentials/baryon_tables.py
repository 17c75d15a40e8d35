"""Unit tables of the McMillan (2017)-type baryon components (``baryons.McMillanBaryons``).

Every component is tabulated once per unit mass and scaled by its free parameters.

- Thin and thick disks, rho = Sigma0 / (2 z_d) exp(-R / R_d - |z| / z_d) with z_d
  fixed: tables on a grid in (ln R_d, ln(R / R_d)) from galpy's exact
  ``DoubleExponentialDiskPotential``; Sigma0 enters linearly (mass 2 pi Sigma0 R_d²)
  and R_d through bicubic interpolation (in these variables the tables depend on
  R_d only through z_d / R_d). With the default grid the interpolation error is
  < 3e-6 in vc² and Phi and < 3e-5 in K_z(1.1 kpc) for R = 4-25 kpc.
- Bulge, rho0 (1 + m/r0)^-alpha exp(-(m/r_cut)²) with m² = R² + (z/q)²: fixed
  shape, so one table in ln R from exact one-dimensional homoeoid integrals
  (``spheroid_*``); rho0 enters linearly.
- H I and H2 disks, Sigma0 exp(-R_m / R - R / R_d) sech²(z / 2 z_d) / (4 z_d): fixed,
  tabulated from galpy's ``DiskSCFPotential`` with McMillan17's expansion settings.

Tables hold vc², Phi and K_z divided by their point-mass values (G M / R, -G M / R
and G M z / r³), which tend to 1 at large R, and the monopole (the spherical
average: enclosed mass fraction and Phi0 / (-G M / r), from the density's integral over
spheres) for actions in the spherical approximation; beyond the table's outer radius
the component is treated as a point mass (error ~ (R_d / R)²). Circular speed
and potential are tabulated in the plane and K_z at the heights
``kz_heights_kpc``; other heights raise a ``ValueError``. Building the tables
takes ~30 s on one core (two thirds of it galpy's SCF expansion of the gas); they
are kept per process and on disk (joblib) in ``$MILKYWAY_MASS_CACHE`` (default
``~/.cache/milkyway_mass``; ``off`` for none), in a folder named by a hash of this
module's source and galpy's version, so a change of either builds them anew.

Units: kpc, Msun, (km/s)², (km/s)² / kpc; published densities keep their units
in the names (``*_msun_pc2``, ``*_msun_pc3``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache, wraps
from pathlib import Path
from typing import Any

import galpy
import joblib
import numpy as np
from galpy.potential import DiskSCFPotential, DoubleExponentialDiskPotential
from scipy import special
from scipy.interpolate import CubicSpline, RectBivariateSpline

from milkyway_mass.galaxy.units import MSUN_PC2, G

#: Environment variable naming the directory of the on-disk table cache ("off": none).
CACHE_ENV = "MILKYWAY_MASS_CACHE"


def table_cache_dir() -> Path | None:
    """Directory of this version's on-disk table cache (None if ``$MILKYWAY_MASS_CACHE`` is "off")."""
    root = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "milkyway_mass")
    if root.lower() == "off":
        return None
    code = hashlib.sha256(Path(__file__).read_bytes() + galpy.__version__.encode()).hexdigest()[:16]
    return Path(root) / "baryon_tables" / code


def _disk_cached(build: Callable) -> Callable:
    """``build`` through the on-disk cache of ``table_cache_dir()`` (read at each call)."""

    @wraps(build)
    def cached(*args):
        directory = table_cache_dir()
        return build(*args) if directory is None else joblib.Memory(directory, verbose=0).cache(build)(*args)

    return cached


# --- homoeoidal (oblate) spheroids -------------------------------------------------


def _eccentricity(q: float) -> float:
    if not 0.0 < q <= 1.0:
        raise ValueError(f"spheroid axis ratio q must be in (0, 1], got {q}")
    return float(np.sqrt(1.0 - q**2))


def _composite_gauss(lo, hi, n_segments: int = 160, n_nodes: int = 8):
    """Nodes and weights of composite Gauss–Legendre rules on [lo, hi] (arrays of shape (n,))
    as arrays of shape (n, n_segments * n_nodes)."""
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    t = ((np.arange(n_segments)[:, None] + 0.5 * (x + 1.0)) / n_segments).ravel()
    wt = np.tile(0.5 * w / n_segments, n_segments)
    lo, hi = np.asarray(lo, dtype=float)[:, None], np.asarray(hi, dtype=float)[:, None]
    return lo + (hi - lo) * t, (hi - lo) * wt


def spheroid_mass(density: Callable, q: float) -> float:
    """Total mass 4 pi q int rho(m) m² dm of rho(m), m² = R² + z²/q² [density units × kpc³]."""
    _eccentricity(q)
    ln_m, w = _composite_gauss([np.log(1e-8)], [np.log(1e8)], n_segments=320)
    m = np.exp(ln_m)
    return float(4.0 * np.pi * q * np.sum(w * density(m) * m**3))


def spheroid_sphere_mass(density: Callable, q: float, r) -> np.ndarray:
    """Mass inside spheres of radius r (shape (n,)) of rho(m), m² = R² + z²/q²:
    4 pi int_0^r s² <rho>(s) ds with <rho>(s) = int_0^1 rho(s sqrt(1 - mu² + mu²/q²)) dmu,
    in ln s from 1e-8 kpc [density units × kpc³]."""
    _eccentricity(q)
    r = np.atleast_1d(np.asarray(r, dtype=float))
    ln_s, w = _composite_gauss(np.full(r.size, np.log(1e-8)), np.log(r), n_segments=160)
    mu, w_mu = np.polynomial.legendre.leggauss(32)
    mu, w_mu = 0.5 * (mu + 1.0), 0.5 * w_mu
    s = np.exp(ln_s)[..., None]
    shell = np.sum(w_mu * density(s * np.sqrt(1.0 - mu**2 + (mu / q) ** 2)), axis=-1)
    return 4.0 * np.pi * np.sum(w * s[..., 0] ** 3 * shell, axis=-1)


def spheroid_forces(density: Callable, q: float, R, z: float) -> tuple[np.ndarray, np.ndarray]:
    """(dPhi/dR, dPhi/dz) / G of an oblate homoeoid rho(m) at radii R and height z.

    dPhi/dR = 2 pi G q R int_0^inf rho(m(tau)) / ((1 + tau)² sqrt(q² + tau)) dtau,
    dPhi/dz = 2 pi G q z int_0^inf rho(m(tau)) / ((1 + tau) (q² + tau)^(3/2)) dtau,
    m² = R² / (1 + tau) + z² / (q² + tau) (Binney & Tremaine 2008, eq. 2.129),
    integrated in v = ln(1 + tau) over [0, 40] (composite Gauss–Legendre).
    """
    _eccentricity(q)
    R = np.atleast_1d(np.asarray(R, dtype=float))
    v, w = _composite_gauss(np.zeros(R.size), np.full(R.size, 40.0))
    tau = np.expm1(v)
    rho = density(np.sqrt(R[:, None] ** 2 / (1.0 + tau) + z**2 / (q**2 + tau)))
    common = w * rho / np.sqrt(q**2 + tau)  # dtau = e^v dv
    dR = 2.0 * np.pi * q * R * np.sum(common * np.exp(-v), axis=-1)
    dz = 2.0 * np.pi * q * z * np.sum(common / (q**2 + tau), axis=-1)
    return dR, dz


def spheroid_potential_plane(density: Callable, q: float, R) -> np.ndarray:
    """Phi(R, z = 0) / G of an oblate homoeoid rho(m), zero at infinity.

    Phi = -2 pi G q [ int_0^R rho(s) s B(s/R) ds + B(1) int_R^inf rho(s) s ds ],
    B(y) = (2/e) arcsin(e y), e² = 1 - q² (B(y) = 2y for a sphere): Binney &
    Tremaine eq. 2.140 with the tau integral done analytically; both integrals in
    ln s (from 1e-8 kpc, and up to R e^40).
    """
    e = _eccentricity(q)
    R = np.atleast_1d(np.asarray(R, dtype=float))

    def B(y):
        return 2.0 * y if e < 1e-8 else 2.0 / e * np.arcsin(e * y)

    ln_s, w = _composite_gauss(np.full(R.size, np.log(1e-8)), np.log(R), n_segments=320)
    s = np.exp(ln_s)
    inside = np.sum(w * density(s) * s**2 * B(s / R[:, None]), axis=-1)
    ln_s, w = _composite_gauss(np.log(R), np.log(R) + 40.0)
    s = np.exp(ln_s)
    outside = np.sum(w * density(s) * s**2, axis=-1)
    return -2.0 * np.pi * q * (inside + B(1.0) * outside)


# --- unit tables -----------------------------------------------------------------


@dataclass(frozen=True)
class TableGrid:
    """Table grids: radii R [kpc] (bulge, gas), disk scale lengths R_d [kpc] and, for
    the disks, x = R / R_d covering R_min ... R_max for every R_d (all log-spaced,
    x with the spacing of R); K_z is tabulated at the heights ``kz_heights_kpc``."""

    R_min_kpc: float = 0.05
    R_max_kpc: float = 1000.0
    n_R: int = 121
    rd_min_kpc: float = 0.5
    rd_max_kpc: float = 8.0
    n_rd: int = 16
    kz_heights_kpc: tuple[float, ...] = (1.1,)

    @property
    def R(self) -> np.ndarray:
        return np.geomspace(self.R_min_kpc, self.R_max_kpc, self.n_R)

    @property
    def rd(self) -> np.ndarray:
        return np.geomspace(self.rd_min_kpc, self.rd_max_kpc, self.n_rd)

    @property
    def x(self) -> np.ndarray:
        x_min, x_max = self.R_min_kpc / self.rd_max_kpc, self.R_max_kpc / self.rd_min_kpc
        step = np.log(self.R_max_kpc / self.R_min_kpc) / (self.n_R - 1)
        return np.geomspace(x_min, x_max, int(np.ceil(np.log(x_max / x_min) / step)) + 1)


@dataclass(frozen=True, eq=False)
class UnitTable:
    """vc², Phi (z = 0) and K_z (z = heights) of one component per unit mass, divided
    by the point-mass values, on a grid ``radius`` in R [kpc] (arrays (n,)) or, for a
    disk table with scale lengths ``rd`` [kpc], in x = R / R_d (arrays (n_rd, n)); and its
    monopole on the same grid in the spherical radius r: the mass inside the sphere r
    as a fraction of the total (``mass_sphere``, = r² dPhi0/dr / G M) and Phi0 / (-G M / r)
    (``phi_sphere``)."""

    name: str
    radius: np.ndarray
    vc2: np.ndarray
    phi: np.ndarray
    kz: dict[float, np.ndarray]
    rd: np.ndarray | None = None
    mass_sphere: np.ndarray | None = None
    phi_sphere: np.ndarray | None = None

    @cached_property
    def _interpolators(self) -> dict:
        ln_r = np.log(self.radius)
        tables = {"vc2": self.vc2, "phi": self.phi, **{("kz", h): t for h, t in self.kz.items()}}
        if self.mass_sphere is not None:
            tables |= {"mass_sphere": self.mass_sphere, "phi_sphere": self.phi_sphere}
        if self.rd is None:
            return {k: CubicSpline(ln_r, t) for k, t in tables.items()}
        return {k: RectBivariateSpline(np.log(self.rd), ln_r, t) for k, t in tables.items()}

    def check_scale_lengths(self, rd) -> None:
        """Raise a ValueError unless every R_d [kpc] is inside the tabulated range."""
        rd = np.asarray(rd, dtype=float)
        if not np.all((rd >= self.rd[0]) & (rd <= self.rd[-1])):
            raise ValueError(
                f"{self.name}: scale length R_d outside the tabulated range "
                f"[{self.rd[0]:g}, {self.rd[-1]:g}] kpc (got {rd.min():g} ... {rd.max():g}); "
                "widen the table grid or bound the prior"
            )

    def __call__(self, kind, R, rd=None, checked: bool = False) -> np.ndarray:
        """Normalised value of ``kind`` ('vc2', 'phi' or ('kz', height)) at R [kpc]
        (and R_d [kpc] for disks; ``checked``: already known to be inside the table); 1
        (point mass) beyond the grid."""
        R = np.asarray(R, dtype=float)
        if self.rd is None:
            r = R
        else:
            rd = np.asarray(rd, dtype=float)
            if not checked:
                self.check_scale_lengths(rd)
            r = R / rd
        if np.any(r < self.radius[0]):
            low = self.radius[0] if self.rd is None else self.radius[0] * self.rd[-1]
            raise ValueError(f"{self.name}: R = {R.min():g} kpc is below the tabulated range (R >= {low:g} kpc)")
        ln_r = np.log(np.minimum(r, self.radius[-1]))
        spline = self._interpolators[kind]
        if self.rd is None:
            value = spline(ln_r)
        else:
            ln_rd, ln_r = np.broadcast_arrays(np.log(rd), ln_r)
            value = spline.ev(ln_rd.ravel(), ln_r.ravel()).reshape(ln_r.shape)
        return np.where(r <= self.radius[-1], value, 1.0)


@dataclass(frozen=True, eq=False)
class TabulatedComponent:
    """A component = unit table × total mass [Msun] (× scale length R_d [kpc] for disks)."""

    table: UnitTable
    mass_msun: Any
    rd_kpc: Any = None

    def __post_init__(self):
        if self.rd_kpc is not None:
            self.table.check_scale_lengths(self.rd_kpc)

    def _table(self, kind, R) -> np.ndarray:
        return self.table(kind, R, self.rd_kpc, checked=True)

    @staticmethod
    def _require_plane(z, what: str):
        if np.any(np.asarray(z) != 0.0):
            raise ValueError(f"{what} of a tabulated baryon component is only available in the plane (z = 0)")

    def potential(self, R, z):
        """Phi(R, z = 0) [(km/s)²]."""
        self._require_plane(z, "the potential")
        R = np.asarray(R, dtype=float)
        return -G * self.mass_msun / R * self._table("phi", R)

    def dphi_dR(self, R, z):
        """dPhi/dR at z = 0 [(km/s)² / kpc] (= vc² / R)."""
        self._require_plane(z, "dPhi/dR")
        R = np.asarray(R, dtype=float)
        return G * self.mass_msun / R**2 * self._table("vc2", R)

    def dphi_dz(self, R, z):
        """dPhi/dz = K_z [(km/s)² / kpc] at |z| in the tabulated heights (0 at z = 0)."""
        z_abs = np.abs(np.asarray(z, dtype=float))
        if not np.any(z_abs):
            return np.zeros(np.broadcast_shapes(np.shape(R), np.shape(self.mass_msun)))
        height = z_abs.flat[0]
        heights = [h for h in self.table.kz if abs(h - height) <= 1e-9]
        if np.any(z_abs != height) or not heights:
            raise ValueError(
                f"K_z of {self.table.name} is tabulated only at |z| = {sorted(self.table.kz)} kpc; got z = {z}"
            )
        R = np.asarray(R, dtype=float)
        point = G * self.mass_msun * np.asarray(z) / (R**2 + np.asarray(z) ** 2) ** 1.5
        return point * self._table(("kz", heights[0]), R)

    def monopole(self, r):
        """(Phi0, dPhi0/dr) of the spherical average at radii r [kpc] [(km/s)², (km/s)² / kpc].
        Inside the table's first radius r_1 the component is treated as a uniform core:
        Phi0 = Phi0(r_1) and dPhi0/dr = dPhi0/dr(r_1) r / r_1."""
        r = np.asarray(r, dtype=float)
        scale = 1.0 if self.rd_kpc is None else np.asarray(self.rd_kpc, dtype=float)
        first = self.table.radius[0] * scale * (1.0 + 1e-12)  # a margin for rounding in R / R_d
        clipped = np.maximum(r, first)
        core = np.minimum(r / first, 1.0)
        phi = -G * self.mass_msun / clipped * self._table("phi_sphere", clipped)
        dphi = G * self.mass_msun / clipped**2 * self._table("mass_sphere", clipped) * core
        return phi, dphi


def _normalise(R, mass, dphi_dR, phi, dphi_dz):
    """Divide (dPhi/dR at z=0, Phi at z=0, {h: dPhi/dz at z=h}) by point-mass values."""
    return (
        R**2 * dphi_dR / mass,
        -phi * R / mass,
        {h: kz * (R**2 + h**2) ** 1.5 / (mass * h) for h, kz in dphi_dz.items()},
    )


def sphere_mass_of_disk(r, surface_fraction: Callable, vertical: Callable, z_extent_kpc: float) -> np.ndarray:
    """Fraction of a disk's mass inside spheres of radius r [kpc] (any shape): a disk of
    density Sigma(R) zeta(z), with ``surface_fraction(a)`` the fraction of its mass inside the
    cylinder R < a and ``vertical(z)`` zeta normalised to 1 over all z, holds
    2 int_0^r zeta(z) surface_fraction(sqrt(r² - z²)) dz inside r (z up to ``z_extent_kpc``)."""
    r = np.asarray(r, dtype=float)
    flat = r.ravel()
    z, w = _composite_gauss(np.zeros(flat.size), np.minimum(flat, z_extent_kpc), n_segments=8, n_nodes=8)
    a = np.sqrt(np.maximum(flat[:, None] ** 2 - z**2, 0.0))
    return (2.0 * np.sum(w * vertical(z) * surface_fraction(a), axis=-1)).reshape(r.shape)


def sphere_potential(radius, mass_fraction) -> np.ndarray:
    """Phi0 / (-G M / r) = r int_r^inf m(r') / r'² dr' on log-spaced radii (arrays (n,)) from the
    enclosed-mass fraction m (taken as 1 beyond the last radius), by a cubic spline in ln r."""
    ln_r = np.log(radius)
    tail = CubicSpline(ln_r, mass_fraction * np.exp(-ln_r)).antiderivative()
    return radius * (tail(ln_r[-1]) - tail(ln_r) + 1.0 / radius[-1])


def _with_sphere(table: UnitTable, mass_fraction: np.ndarray) -> UnitTable:
    """``table`` with its monopole from the enclosed-mass fraction on its grid (rows: scale
    lengths; the normalised Phi0 is the same function of x = r / R_d as of r)."""
    phi = np.array([sphere_potential(table.radius, m) for m in np.atleast_2d(mass_fraction)])
    shape = np.shape(mass_fraction)
    return UnitTable(
        table.name,
        table.radius,
        table.vc2,
        table.phi,
        table.kz,
        rd=table.rd,
        mass_sphere=mass_fraction,
        phi_sphere=phi.reshape(shape),
    )


@lru_cache(maxsize=8)
@_disk_cached
def exponential_disk_table(z_d_kpc: float, grid: TableGrid) -> UnitTable:
    """Unit table in (R_d, R / R_d) of a double-exponential disk with scale height z_d,
    from galpy's ``DoubleExponentialDiskPotential`` (natural units, G = 1, kpc)."""
    x, rd_grid = grid.x, grid.rd
    vc2, phi = np.empty((rd_grid.size, x.size)), np.empty((rd_grid.size, x.size))
    kz = {h: np.empty((rd_grid.size, x.size)) for h in grid.kz_heights_kpc}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # galpy's quadrature overflows harmlessly
        for i, rd in enumerate(rd_grid):
            disk = DoubleExponentialDiskPotential(amp=1.0 / (2.0 * z_d_kpc), hr=rd, hz=z_d_kpc)
            R = rd * x
            dR = np.array([-disk.Rforce(r, 0.0) for r in R])
            dz = {h: np.array([-disk.zforce(r, h) for r in R]) for h in kz}
            vc2[i], phi[i], norm_kz = _normalise(R, 2.0 * np.pi * rd**2, dR, disk(R, 0.0 * R), dz)
            for h, table in kz.items():
                table[i] = norm_kz[h]
    table = UnitTable(f"exponential disk (z_d = {z_d_kpc:g} kpc)", x, vc2, phi, kz, rd=rd_grid)
    mass = np.array(
        [
            sphere_mass_of_disk(
                rd * x,
                lambda a, rd=rd: -np.expm1(-a / rd) - a / rd * np.exp(-a / rd),
                lambda z: np.exp(-z / z_d_kpc) / (2.0 * z_d_kpc),
                40.0 * z_d_kpc,
            )
            for rd in rd_grid
        ]
    )
    return _with_sphere(table, mass)


@dataclass(frozen=True)
class BulgeShape:
    """McMillan bulge rho0 (1 + m/r0)^-alpha exp(-(m/r_cut)²), m² = R² + (z/q)²."""

    alpha: float = 1.8
    r0_kpc: float = 0.075
    rcut_kpc: float = 2.1
    q: float = 0.5

    def density(self, m):
        """Density per unit rho0 at spheroidal radius m [kpc]."""
        return (1.0 + m / self.r0_kpc) ** (-self.alpha) * np.exp(-((m / self.rcut_kpc) ** 2))


@lru_cache(maxsize=8)
@_disk_cached
def bulge_table(shape: BulgeShape, grid: TableGrid) -> tuple[UnitTable, float]:
    """Unit table of the bulge and its mass per unit rho0 [kpc³]."""
    R = grid.R
    mass = spheroid_mass(shape.density, shape.q)
    dR, _ = spheroid_forces(shape.density, shape.q, R, 0.0)
    phi = spheroid_potential_plane(shape.density, shape.q, R)
    dz = {h: spheroid_forces(shape.density, shape.q, R, h)[1] for h in grid.kz_heights_kpc}
    vc2, ph, kz = _normalise(R, mass, dR, phi, dz)
    return _with_sphere(
        UnitTable("bulge", R, vc2, ph, kz), spheroid_sphere_mass(shape.density, shape.q, R) / mass
    ), mass


@dataclass(frozen=True)
class GasDisk:
    """Sigma0 exp(-R_m / R - R / R_d) sech²(z / (2 z_d)) / (4 z_d); Sigma0 in Msun/pc²."""

    sigma0_msun_pc2: float
    rd_kpc: float
    rhole_kpc: float
    z_d_kpc: float

    @property
    def mass_msun(self) -> float:
        """2 pi Sigma0 int R exp(-R_m/R - R/R_d) dR = 4 pi Sigma0 R_m R_d K_2(2 sqrt(R_m/R_d))."""
        ratio = np.sqrt(self.rhole_kpc / self.rd_kpc)
        return float(
            4.0 * np.pi * self.sigma0_msun_pc2 * MSUN_PC2 * self.rhole_kpc * self.rd_kpc * special.kv(2, 2.0 * ratio)
        )

    def surface_fraction(self, a):
        """Fraction of the disk's mass inside the cylinder R < a [kpc] (composite Gauss–Legendre
        in ln R from 1e-3 R_m, inside which the hole leaves no mass)."""
        a = np.asarray(a, dtype=float)
        lo = np.log(1e-3 * self.rhole_kpc)
        ln_a = np.log(np.maximum(a.ravel(), 1e-3 * self.rhole_kpc))
        ln_R, w = _composite_gauss(np.full(a.size, lo), ln_a, n_segments=32, n_nodes=8)
        R = np.exp(ln_R)
        surface = np.exp(-self.rhole_kpc / R - R / self.rd_kpc)
        mass = 2.0 * np.pi * self.sigma0_msun_pc2 * MSUN_PC2 * np.sum(w * R**2 * surface, axis=-1)
        return (mass / self.mass_msun).reshape(a.shape)

    def vertical(self, z):
        """sech²(z / 2 z_d) / (4 z_d), normalised to 1 over all z [1/kpc]."""
        return 1.0 / (4.0 * self.z_d_kpc * np.cosh(np.asarray(z) / (2.0 * self.z_d_kpc)) ** 2)

    def density(self, R, z):
        """Density [Msun/kpc³] (0 at R = 0)."""
        R = np.asarray(R, dtype=float)
        safe = np.where(R > 0, R, 1.0)
        surface = np.where(R > 0, np.exp(-self.rhole_kpc / safe - R / self.rd_kpc), 0.0)
        return self.sigma0_msun_pc2 * MSUN_PC2 * surface / (4.0 * self.z_d_kpc * np.cosh(z / (2.0 * self.z_d_kpc)) ** 2)


@dataclass(frozen=True)
class ScfSettings:
    """Expansion settings of galpy's DiskSCFPotential (McMillan17: N = L = 30, a = 2.5 × 8.21 kpc)."""

    N: int = 30
    L: int = 30
    a_kpc: float = 20.525


@lru_cache(maxsize=4)
@_disk_cached
def gas_table(disks: tuple[GasDisk, ...], scf: ScfSettings, grid: TableGrid) -> tuple[UnitTable, float]:
    """Unit table of the fixed gas disks (galpy ``DiskSCFPotential``, G = 1, kpc) and their mass [Msun]."""

    def density(R, z):
        return sum(d.density(R, z) for d in disks)

    sigma = [{"type": "exp", "h": d.rd_kpc, "amp": d.sigma0_msun_pc2 * MSUN_PC2, "Rhole": d.rhole_kpc} for d in disks]
    hz = [{"type": "sech2", "h": d.z_d_kpc} for d in disks]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'where' used without 'out'")  # inside galpy's SCF
        pot = DiskSCFPotential(dens=density, Sigma=sigma, hz=hz, a=scf.a_kpc, N=scf.N, L=scf.L)
        R = grid.R
        mass = sum(d.mass_msun for d in disks)
        dz = {h: -pot.zforce(R, np.full_like(R, h)) for h in grid.kz_heights_kpc}
        vc2, phi, kz = _normalise(R, mass, -pot.Rforce(R, 0.0 * R), pot(R, 0.0 * R), dz)
    sphere = sum(d.mass_msun * sphere_mass_of_disk(R, d.surface_fraction, d.vertical, 40.0 * d.z_d_kpc) for d in disks)
    return _with_sphere(UnitTable("gas", R, vc2, phi, kz), sphere / mass), mass
