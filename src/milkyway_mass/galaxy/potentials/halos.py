"""Dark-halo profiles (METHOD.md §5, §6): NFW, Zhao, Einasto, and any of them flattened.

Units: lengths in kpc, densities in Msun / kpc³, masses in Msun, potentials in
(km/s)², forces in (km/s)² / kpc. A halo is a component of
``composite.GalaxyModel`` (methods ``potential``, ``dphi_dR``, ``dphi_dz``) and
carries its halo radius and mass (``r200``, ``m200``) in the convention of
``units.Cosmology``.

Profiles (x = r / r_s):

- NFW:     rho = rho0 / (x (1 + x)²)                          (closed form)
- Zhao:    rho = rho0 x^-gamma (1 + x^alpha)^(-(beta - gamma) / alpha)
           (NFW is alpha = 1, beta = 3, gamma = 1); enclosed mass and potential by
           Gauss–Legendre quadrature on a logarithmic grid in x, vectorised over
           walkers, with power series for x below and above the grid.
- Einasto: rho = rho0 exp(-2n [x^(1/n) - 1]), r_s = r_-2 (logarithmic slope -2),
           index n (alpha_E = 1/n); closed forms with incomplete gamma functions.

The potential is zero at infinity (Zhao needs beta > 2 for that).
K_z(R, z) = dPhi/dz = G M(<r) z / r³ (positive above the plane).

``OblateHalo`` flattens any of them (METHOD.md §6, axis ratio q in (0, 1]):
rho(R, z) = rho_sph(m), m² = R² + z² / q², with potential and forces from the
one-dimensional integrals of Binney & Tremaine (2008, §2.5.2) evaluated by
Gauss–Legendre quadrature, vectorised over walkers.

Broadcasting follows ``composite``: give the parameters of W walkers shape (W, 1)
and N radii shape (N,) to get results of shape (W, N). Parameters are validated
when a halo is built (clear ``ValueError`` naming the parameter); the caller's
prior must keep walkers inside the valid ranges.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import special

from milkyway_mass.galaxy.units import (
    MSUN_KPC3_IN_GEV_CM3,
    OVERDENSITY,
    Cosmology,
    G,
    r200_from_m200,
)

__all__ = ["EinastoHalo", "NFWHalo", "OblateHalo", "SphericalHalo", "ZhaoHalo", "r_minus2"]

#: Zhao quadrature grid: x in [X_MIN, X_MAX], segments of width SEGMENT_DLNX in ln x,
#: N_GAUSS Gauss–Legendre nodes per segment, N_SERIES terms of the end-point series.
#: The integrands are analytic in ln t within pi / alpha of the real axis, so the rule is
#: exact to rounding for alpha <= 3 (1e-15 in M, 1e-12 in Phi against segments half as wide).
X_MIN, X_MAX = 1e-6, 1e6
SEGMENT_DLNX = 0.5
N_GAUSS = 8
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(N_GAUSS)
N_SERIES = 16
#: r200: points of the bracketing grid in ln r, then Newton steps in ln r until every
#: step is below R200_TOL (at most N_NEWTON).
N_R200_GRID = 97
R200_TOL = 1e-12
N_NEWTON = 8
#: Smallest Zhao steepness alpha for which the end-point series converge to ~1e-10.
ZHAO_ALPHA_MIN = 0.2


def _positive(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not ((arr > 0).all() and (arr < np.inf).all()):  # NaN fails both
        bad = ~(np.isfinite(arr) & (arr > 0))
        raise ValueError(f"halo parameter {name} must be positive and finite; got {arr[bad].ravel()[:5]}")
    return arr


def _radius(R, z) -> np.ndarray:
    return np.sqrt(np.asarray(R, dtype=float) ** 2 + np.asarray(z, dtype=float) ** 2)


class HaloBase:
    """What spherical and oblate halos share; subclasses give ``_params``,
    ``potential``, ``dphi_dR``, ``dphi_dz``, ``r200`` and ``m200``."""

    _params: tuple

    @property
    def _shape(self) -> tuple:
        """Broadcast shape of the parameters (e.g. (W, 1) for W walkers)."""
        return np.broadcast_shapes(*(np.shape(v) for v in self._params))


class SphericalHalo(HaloBase):
    """Common methods of the spherical halos; subclasses set ``rho0``, ``r_s`` and
    ``_params`` and give ``density``, ``enclosed_mass`` and ``_potential_r``
    (Phi(r), zero at infinity). K_z(R, z) = G M(<r) z / r³."""

    rho0: np.ndarray
    r_s: np.ndarray

    def __init__(self, cosmology: Cosmology, overdensity: float):
        self.cosmology = cosmology
        self.overdensity = float(overdensity)

    def density(self, r):  # pragma: no cover - abstract
        raise NotImplementedError

    def enclosed_mass(self, r):  # pragma: no cover - abstract
        raise NotImplementedError

    def _potential_r(self, r):  # pragma: no cover - abstract
        raise NotImplementedError

    def potential(self, R, z):
        """Phi(R, z) [(km/s)²], zero at infinity."""
        return self._potential_r(_radius(R, z))

    def _dphi_dr_over_r(self, R, z):
        r = _radius(R, z)
        safe = np.where(r > 0, r, 1.0)
        return np.where(r > 0, G * self.enclosed_mass(safe) / safe**3, 0.0)

    def dphi_dR(self, R, z):
        """dPhi/dR [(km/s)² / kpc] (= vc² / R in the plane)."""
        return self._dphi_dr_over_r(R, z) * R

    def monopole(self, r):
        """(Phi(r), dPhi/dr) [(km/s)², (km/s)² / kpc]: a spherical halo is its own monopole."""
        return self._potential_r(np.asarray(r, dtype=float)), self._dphi_dr_over_r(r, 0.0) * r

    def dphi_dz(self, R, z):
        """dPhi/dz = K_z [(km/s)² / kpc], positive above the plane."""
        return self._dphi_dr_over_r(R, z) * z

    def _excess(self, ln_r, ln_target):
        """ln M(<r) - ln((4 pi / 3) rho_200 r³): positive inside r200."""
        with np.errstate(divide="ignore"):
            return np.log(self.enclosed_mass(np.exp(ln_r))) - ln_target - 3.0 * ln_r

    def _r200_bracket(self, ln_target):
        """(lo, hi, valid): adjacent points of a grid in ln r (N_R200_GRID points over
        [10 X_MIN, X_MAX / 10] r_s, one evaluation of the mass on the whole grid) between which
        ln M(<r) - ln((4 pi / 3) rho_200 r³) changes sign (the mean density falls with r)."""
        ln_rs = np.broadcast_to(np.log(self.r_s), self._shape)
        ln_x = np.linspace(np.log(10.0 * X_MIN), np.log(0.1 * X_MAX), N_R200_GRID)
        ln_r = ln_rs + ln_x.reshape(-1, *([1] * ln_rs.ndim))
        inside = self._excess(ln_r, ln_target) > 0
        k = np.clip(np.sum(inside, axis=0) - 1, 0, N_R200_GRID - 2)[None]
        lo, hi = np.take_along_axis(ln_r, k, axis=0)[0], np.take_along_axis(ln_r, k + 1, axis=0)[0]
        return lo, hi, inside[0] & ~inside[-1]

    @cached_property
    def r200(self):
        """Radius [kpc] inside which the mean halo density is overdensity * rho_crit * Om.

        The root of ln M(<r) - ln((4 pi / 3) rho_200 r³) is bracketed within one grid step
        (0.24 in ln r; a quadrature segment, 0.5, for Zhao), then refined by Newton steps in
        ln r (dlnM/dlnr = 4 pi r³ rho / M), kept inside the bracket, until every step is below
        R200_TOL (at most N_NEWTON steps; quadratic convergence gets there in about four). NaN
        where the mean density does not cross the target inside [10 X_MIN, X_MAX / 10] r_s.
        """
        ln_target = np.log(4.0 * np.pi / 3.0 * self.cosmology.halo_density(self.overdensity))
        lo, hi, valid = self._r200_bracket(ln_target)
        ln_r200 = 0.5 * (lo + hi)
        for _ in range(N_NEWTON):
            r = np.exp(ln_r200)
            m = self.enclosed_mass(r)
            excess = np.log(m) - ln_target - 3.0 * ln_r200
            slope = 4.0 * np.pi * r**3 * self.density(r) / m - 3.0
            updated = np.clip(ln_r200 - excess / slope, lo, hi)
            converged = not np.any(np.abs(updated - ln_r200)[valid] > R200_TOL)
            ln_r200 = updated
            if converged:
                break
        return np.where(valid, np.exp(ln_r200), np.nan)

    @property
    def m200(self):
        """Halo mass inside r200 [Msun]."""
        return 4.0 * np.pi / 3.0 * self.cosmology.halo_density(self.overdensity) * self.r200**3

    def local_density_gev_cm3(self, R0_kpc: float, z0_kpc: float = 0.0):
        """Dark-matter density at (R0, z0) [GeV / cm³]."""
        return self.density(_radius(R0_kpc, z0_kpc)) * MSUN_KPC3_IN_GEV_CM3


class NFWHalo(SphericalHalo):
    """NFW halo with density normalisation rho0 [Msun/kpc³] and scale radius r_s [kpc]."""

    def __init__(self, rho0, r_s, *, cosmology: Cosmology = Cosmology(), overdensity: float = OVERDENSITY):
        super().__init__(cosmology, overdensity)
        self.rho0 = _positive("rho0", rho0)
        self.r_s = _positive("r_s", r_s)
        self._params = (self.rho0, self.r_s)

    @classmethod
    def from_m200_c200(cls, m200_msun, c200, *, cosmology: Cosmology = Cosmology(), overdensity: float = OVERDENSITY):
        """NFW halo of mass M200 [Msun] and concentration c200 = r200 / r_s; its r200
        is the closed form ``units.r200_from_m200`` (no root finding)."""
        m200 = _positive("m200_msun", m200_msun)
        c = _positive("c200", c200)
        r200 = r200_from_m200(m200, cosmology, overdensity)
        r_s = r200 / c
        rho0 = m200 / (4.0 * np.pi * r_s**3 * (np.log1p(c) - c / (1.0 + c)))
        halo = cls(rho0, r_s, cosmology=cosmology, overdensity=overdensity)
        halo.__dict__["r200"] = r200  # the closed form fills the cached property
        return halo

    def density(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        return self.rho0 / (x * (1.0 + x) ** 2)

    def enclosed_mass(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        return 4.0 * np.pi * self.rho0 * self.r_s**3 * (np.log1p(x) - x / (1.0 + x))

    def _potential_r(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        safe = np.where(x > 0, x, 1.0)
        ln_over_x = np.where(x > 0, np.log1p(safe) / safe, 1.0)
        return -4.0 * np.pi * G * self.rho0 * self.r_s**2 * ln_over_x


class EinastoHalo(SphericalHalo):
    """Einasto halo rho0 exp(-2n [(r/r_s)^(1/n) - 1]); r_s = r_-2 [kpc], rho0 = rho(r_s)."""

    def __init__(self, rho0, r_s, n, *, cosmology: Cosmology = Cosmology(), overdensity: float = OVERDENSITY):
        super().__init__(cosmology, overdensity)
        self.rho0 = _positive("rho0", rho0)
        self.r_s = _positive("r_s", r_s)
        self.n = _positive("n (Einasto index)", n)
        self._params = (self.rho0, self.r_s, self.n)

    @property
    def _h(self):
        """Scale h of the form rho = A exp(-(r/h)^(1/n)), h = r_s / (2n)^n [kpc]."""
        return self.r_s / (2.0 * self.n) ** self.n

    @property
    def _amp(self):
        """A = rho0 e^(2n) [Msun/kpc³]."""
        return self.rho0 * np.exp(2.0 * self.n)

    def density(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        return self.rho0 * np.exp(-2.0 * self.n * (x ** (1.0 / self.n) - 1.0))

    def enclosed_mass(self, r):
        s = (np.asarray(r, dtype=float) / self._h) ** (1.0 / self.n)
        total = 4.0 * np.pi * self._amp * self._h**3 * self.n * special.gamma(3.0 * self.n)
        return total * special.gammainc(3.0 * self.n, s)

    def _potential_r(self, r):
        r = np.asarray(r, dtype=float)
        x = r / self._h
        s = x ** (1.0 / self.n)
        safe = np.where(x > 0, x, 1.0)
        inner = np.where(x > 0, special.gamma(3.0 * self.n) * special.gammainc(3.0 * self.n, s) / safe, 0.0)
        outer = special.gamma(2.0 * self.n) * special.gammaincc(2.0 * self.n, s)
        return -4.0 * np.pi * G * self._amp * self._h**2 * self.n * (inner + outer)


class ZhaoHalo(SphericalHalo):
    """Zhao (alpha, beta, gamma) halo rho0 x^-gamma (1 + x^alpha)^(-(beta-gamma)/alpha).

    Valid ranges: alpha >= ZHAO_ALPHA_MIN, gamma < 3 (finite mass at the centre),
    beta > 2 (finite potential at infinity) and beta > gamma.

    With g(t) = (1 + t^alpha)^-p, p = (beta - gamma) / alpha:
    M(<r) = 4 pi rho0 r_s³ int_0^x t^(2-gamma) g dt and
    Phi(r) = -G M(<r) / r - 4 pi G rho0 r_s² int_x^inf t^(1-gamma) g dt.
    Both integrals are accumulated once per halo (per walker) over segments of
    width SEGMENT_DLNX in ln t on [X_MIN, X_MAX] with N_GAUSS Gauss–Legendre nodes;
    an evaluation adds the partial segment (same rule). Below X_MIN and above
    X_MAX the binomial series of g in t^alpha and t^-alpha are summed exactly.
    """

    def __init__(
        self, rho0, r_s, alpha, beta, gamma, *, cosmology: Cosmology = Cosmology(), overdensity: float = OVERDENSITY
    ):
        super().__init__(cosmology, overdensity)
        alpha, beta, gamma = (np.asarray(v, dtype=float) for v in (alpha, beta, gamma))
        checks = {
            "alpha": (alpha, alpha >= ZHAO_ALPHA_MIN),
            "gamma": (gamma, gamma < 3.0),
            "beta": (beta, (beta > 2.0) & (beta > gamma) & np.isfinite(beta)),
        }
        for name, (values, ok) in checks.items():
            if not np.all(ok):
                bad = np.broadcast_to(values, np.shape(ok))[~ok]
                raise ValueError(
                    f"Zhao parameter {name} out of range (alpha >= {ZHAO_ALPHA_MIN}, gamma < 3, "
                    f"beta > max(2, gamma)); bad values: {bad[:5]}"
                )
        self.rho0 = _positive("rho0", rho0)
        self.r_s = _positive("r_s", r_s)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self._params = (self.rho0, self.r_s, alpha, beta, gamma)

    @property
    def _p(self):
        return (self.beta - self.gamma) / self.alpha

    def density(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        return self.rho0 * x ** (-self.gamma) * (1.0 + x**self.alpha) ** (-self._p)

    def _trailing(self, value):
        """A parameter (or derived array) with a trailing axis for nodes or series terms."""
        return np.asarray(value, dtype=float)[..., None]

    def _integrands(self, ln_t):
        """t^(3-gamma) g and t^(2-gamma) g (integrands in d ln t) at ln_t (trailing axis)."""
        ln_g = -self._trailing(self._p) * np.logaddexp(0.0, self._trailing(self.alpha) * ln_t)
        mass = np.exp((3.0 - self._trailing(self.gamma)) * ln_t + ln_g)
        return mass, mass * np.exp(-ln_t)

    def _series_terms(self, exponents):
        """sum_j binom(-p, j) f(c_j) with c_j = exponents + alpha j: returns (coefficients, c)."""
        p = self._trailing(self._p)
        j = np.arange(N_SERIES - 1)
        coefficients = np.concatenate([np.ones_like(p), np.cumprod((-p - j) / (j + 1.0), axis=-1)], axis=-1)
        return coefficients, self._trailing(exponents) + self._trailing(self.alpha) * np.arange(N_SERIES)

    def _below_grid(self, x):
        """(int_0^x t^(2-gamma) g dt, int_X_MIN^x t^(1-gamma) g dt) for x <= X_MIN."""
        ln_ratio = np.log(x / X_MIN)[..., None]
        coefficients, c = self._series_terms(3.0 - self.gamma)
        mass = np.sum(coefficients * np.exp(c * np.log(x)[..., None]) / c, axis=-1)
        coefficients, c = self._series_terms(2.0 - self.gamma)
        small = np.abs(c) < 1e-12
        term = np.where(small, ln_ratio, X_MIN**c * np.expm1(c * ln_ratio) / np.where(small, 1.0, c))
        return mass, np.sum(coefficients * term, axis=-1)

    def _tail(self):
        """int_X_MAX^inf t^(1-gamma) g dt (series in t^-alpha)."""
        coefficients, c = self._series_terms(self.beta - 2.0)
        return np.sum(coefficients * X_MAX ** (-c) / c, axis=-1)

    @cached_property
    def _grid(self):
        """Segment edges in ln x, the two cumulative integrals at the edges, each of shape
        (*params, n_segments + 1), and the offset of each parameter set's row in their
        flattened arrays (shape of the parameters; row + segment = flat index)."""
        n_seg = int(np.ceil(np.log(X_MAX / X_MIN) / SEGMENT_DLNX))
        edges = np.linspace(np.log(X_MIN), np.log(X_MAX), n_seg + 1)
        h = edges[1] - edges[0]
        nodes, weights = _GL_NODES, _GL_WEIGHTS
        ln_t = (edges[:-1, None] + 0.5 * h * (nodes + 1.0)).ravel()
        w = np.tile(0.5 * h * weights, n_seg)
        with np.errstate(divide="ignore"):
            starts = self._below_grid(np.full(self._shape, X_MIN))
        cumulative = []
        for integrand, start in zip(self._integrands(ln_t), starts):
            weighted = np.broadcast_to(integrand * w, (*self._shape, ln_t.size))
            seg = weighted.reshape(*self._shape, n_seg, N_GAUSS).sum(axis=-1)
            first = start[..., None]
            cumulative.append(np.concatenate([first, first + np.cumsum(seg, axis=-1)], axis=-1))
        offsets = np.arange(int(np.prod(self._shape, dtype=int))).reshape(self._shape) * edges.size
        return edges, cumulative, offsets

    def _integrals(self, x):
        """(int_0^x t^(2-gamma) g dt, int_X_MIN^x t^(1-gamma) g dt), broadcast with the parameters."""
        edges, cumulative, offsets = self._grid
        x = np.asarray(x, dtype=float)
        if np.any(x > X_MAX):
            raise ValueError(f"Zhao halo evaluated at r > {X_MAX:g} r_s (beyond its quadrature grid)")
        below = x < X_MIN
        ln_x = np.log(np.maximum(x, X_MIN))
        k = np.clip(((ln_x - edges[0]) // (edges[1] - edges[0])).astype(int), 0, len(edges) - 2)
        half = 0.5 * (ln_x - edges[k])
        ln_t = (edges[k] + half)[..., None] + half[..., None] * _GL_NODES
        index = offsets + k
        out = []
        for table, integrand in zip(cumulative, self._integrands(ln_t)):
            out.append(table.ravel()[index] + half * (integrand @ _GL_WEIGHTS))
        if np.any(below):
            with np.errstate(divide="ignore"):
                series = self._below_grid(np.where(below, x, X_MIN))
            out = [np.where(below, s, v) for s, v in zip(series, out)]
        return out

    def _r200_bracket(self, ln_target):
        """(lo, hi, valid) from the cumulative mass at the quadrature segment edges."""
        edges, cumulative, _ = self._grid
        ln_r = np.log(self.r_s)[..., None] + edges
        mass = 4.0 * np.pi * self.rho0[..., None] * self.r_s[..., None] ** 3 * cumulative[0]
        with np.errstate(divide="ignore"):
            inside = np.log(mass) - ln_target - 3.0 * ln_r > 0
        ln_r = np.broadcast_to(ln_r, inside.shape)
        k = np.clip(np.sum(inside, axis=-1) - 1, 0, len(edges) - 2)
        lo = np.take_along_axis(ln_r, k[..., None], axis=-1)[..., 0]
        hi = np.take_along_axis(ln_r, k[..., None] + 1, axis=-1)[..., 0]
        return lo, hi, inside[..., 0] & ~inside[..., -1]

    def enclosed_mass(self, r):
        x = np.asarray(r, dtype=float) / self.r_s
        return 4.0 * np.pi * self.rho0 * self.r_s**3 * self._integrals(x)[0]

    def _potential_r(self, r):
        r = np.asarray(r, dtype=float)
        mass, pot = self._integrals(r / self.r_s)
        _, cumulative, _ = self._grid
        outer = cumulative[1][..., -1] + self._tail() - pot
        safe = np.where(r > 0, r, 1.0)
        inner = np.where(r > 0, 4.0 * np.pi * self.rho0 * self.r_s**3 * mass / safe, 0.0)
        return -G * inner - 4.0 * np.pi * G * self.rho0 * self.r_s**2 * outer


#: Gauss–Legendre nodes of the oblate-halo integrals over s in [0, 1], mapped by
#: s = t⁴ / (t⁴ + (1 − t)⁴), which clusters nodes at both ends (the cusp at s = 0, the
#: peak of width ~q² at s = 1): relative error < 1e-8 for Zhao gamma ≤ 1.9 and q ≥ 0.1.
N_OBLATE = 48


def _oblate_nodes() -> tuple[np.ndarray, np.ndarray]:
    """The N_OBLATE nodes s in [0, 1] and their weights (with the Jacobian of the map)."""
    t, w = np.polynomial.legendre.leggauss(N_OBLATE)
    t, w = 0.5 * (t + 1.0), 0.5 * w
    a, b = t**4, (1.0 - t) ** 4
    return a / (a + b), w * 4.0 * (t * (1.0 - t)) ** 3 / (a + b) ** 2


_OBLATE_S, _OBLATE_DS = _oblate_nodes()


class OblateHalo(HaloBase):
    """A spherical halo profile flattened along z with axis ratio q (0 < q ≤ 1).

    rho(R, z) = profile.density(m) with m² = R² + z²/q². With e² = 1 − q² and the
    substitution s = 1/sqrt(1 + tau) of the ellipsoidal integrals (BT08 eqs. 2.140,
    2.129):

        Phi(R, z)  = q ∫_0^1 [Phi_sph(m) + G M_sph(<m) / m] / sqrt(1 − e² s²) ds
        dPhi/dR    = 4 pi G q R ∫_0^1 rho(m) s² / sqrt(1 − e² s²) ds
        dPhi/dz    = 4 pi G q z ∫_0^1 rho(m) s² / (1 − e² s²)^(3/2) ds
        m²(s)      = s² (R² + z² / (1 − e² s²))

    where Phi_sph and M_sph are the spherical profile's potential and mass (the
    first line uses 2 ∫_m^∞ rho m' dm' = −[Phi_sph(m) + G M_sph(m) / m] / (2 pi G)).
    q = 1 gives back the spherical profile exactly.

    Overdensity mass: the spheroid of semi-major axis m holds q M_sph(<m) inside a
    volume q (4 pi / 3) m³, so its mean density is that of the spherical profile at
    radius m. ``r200`` is therefore the profile's r200 (a semi-major axis) and
    ``m200`` = q × the profile's M200. The local density is rho at (R0, z0).
    """

    def __init__(self, profile: SphericalHalo, q):
        self.profile = profile
        self.q = _positive("q", q)
        if np.any(self.q > 1.0):
            raise ValueError(f"halo parameter q must be <= 1 (oblate); got {self.q[self.q > 1.0].ravel()[:5]}")
        self.cosmology = profile.cosmology
        self.overdensity = profile.overdensity
        self.rho0, self.r_s = profile.rho0, profile.r_s
        self._params = (*profile._params, self.q)
        self._s, self._ds = _OBLATE_S, _OBLATE_DS

    def _nodes(self, R, z):
        """m(s) and 1 − e² s² at the quadrature nodes: shape (broadcast of R, z, parameters) + (N_OBLATE,)."""
        R = np.asarray(R, dtype=float)[..., None]
        z = np.asarray(z, dtype=float)[..., None]
        one_minus = 1.0 - (1.0 - self.q**2)[..., None] * self._s**2
        m = self._s * np.sqrt(R**2 + z**2 / one_minus)
        shape = (*np.broadcast_shapes(R.shape[:-1], z.shape[:-1], self._shape), self._s.size)
        return np.broadcast_to(m, shape), one_minus

    def _on_nodes(self, fn, m):
        """The profile's ``fn`` at m of shape S + (N_OBLATE,), with the parameters' (W, 1) layout
        broadcast by folding the node axis into the last axis of S."""
        if m.ndim == 1:
            return fn(m)
        return fn(m.reshape(*m.shape[:-2], m.shape[-2] * m.shape[-1])).reshape(m.shape)

    def density(self, R, z):
        """rho(R, z) [Msun / kpc³]."""
        return self.profile.density(
            np.sqrt(np.asarray(R, dtype=float) ** 2 + (np.asarray(z, dtype=float) / self.q) ** 2)
        )

    def potential(self, R, z):
        """Phi(R, z) [(km/s)²], zero at infinity."""
        m, one_minus = self._nodes(R, z)
        safe = np.where(m > 0, m, 1.0)
        g_term = np.where(m > 0, G * self._on_nodes(self.profile.enclosed_mass, safe) / safe, 0.0)
        integrand = (self._on_nodes(self.profile._potential_r, m) + g_term) / np.sqrt(one_minus)
        return self.q * np.sum(integrand * self._ds, axis=-1)

    def _force_integral(self, R, z, power: float):
        m, one_minus = self._nodes(R, z)
        rho = self._on_nodes(self.profile.density, np.where(m > 0, m, 1e-30))
        return np.sum(np.where(m > 0, rho, 0.0) * self._s**2 / one_minus**power * self._ds, axis=-1)

    def dphi_dR(self, R, z):
        """dPhi/dR [(km/s)² / kpc]."""
        return 4.0 * np.pi * G * self.q * np.asarray(R, dtype=float) * self._force_integral(R, z, 0.5)

    def dphi_dz(self, R, z):
        """dPhi/dz = K_z [(km/s)² / kpc], positive above the plane."""
        return 4.0 * np.pi * G * self.q * np.asarray(z, dtype=float) * self._force_integral(R, z, 1.5)

    @property
    def r200(self):
        """Semi-major axis [kpc] of the spheroid of mean density overdensity * rho_crit * Om."""
        return self.profile.r200

    @property
    def m200(self):
        """Halo mass inside the r200 spheroid [Msun] (q × the spherical profile's M200)."""
        return self.q * self.profile.m200

    def local_density_gev_cm3(self, R0_kpc: float, z0_kpc: float = 0.0):
        """Dark-matter density at (R0, z0) [GeV / cm³]."""
        return self.density(R0_kpc, z0_kpc) * MSUN_KPC3_IN_GEV_CM3


def r_minus2(halo: SphericalHalo | OblateHalo):
    """Radius where the logarithmic density slope is -2 [kpc]: r_s for NFW and Einasto,
    r_s ((2 - gamma) / (beta - 2))^(1/alpha) for Zhao; for an oblate halo, that of its
    profile (a semi-major axis, like its r200)."""
    if isinstance(halo, OblateHalo):
        halo = halo.profile
    if isinstance(halo, ZhaoHalo):
        return halo.r_s * ((2.0 - halo.gamma) / (halo.beta - 2.0)) ** (1.0 / halo.alpha)
    return halo.r_s
