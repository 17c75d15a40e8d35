"""The monopole (spherical average) of a galaxy's potential, tabulated for fast evaluation.

Phi0(r) = (1 / 4 pi) ∮ Phi(r, Omega) dOmega and dPhi0/dr, the spherical average of the
radial force. A component gives its own monopole through a ``monopole(r)`` method
returning (Phi0, dPhi0/dr) (spherical halos and the Plummer sphere: their potential;
tabulated baryons: their unit tables); any other component is averaged over
mu = cos(theta) with Gauss–Legendre nodes (``angular_average``; kept for the next call when
the component's parameters are scalars, as for fixed baryons).

``MonopoleTable`` holds Phi0 of W parameter sets on a grid uniform in ln r and
interpolates it with cubic Hermite polynomials in ln r (relative error ~1e-9 with the
default grid); inside the grid's first radius Phi0 is taken as constant, beyond its
last radius as a point mass, Phi0(r) = Phi0(r_max) r_max / r.

Units: kpc, (km/s)², (km/s)² / kpc.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

__all__ = ["MonopoleTable", "angular_average", "monopole"]

#: Gauss–Legendre nodes in mu = cos(theta) on [0, 1] for ``angular_average``.
N_ANGLE = 64


def angular_average(component, r, n_nodes: int = N_ANGLE):
    """(Phi0, dPhi0/dr) of an axisymmetric component, symmetric about the plane, at radii
    r (shape (n,)), by Gauss–Legendre quadrature over mu = cos(theta) in [0, 1]."""
    r = np.asarray(r, dtype=float)[:, None]
    t, w = np.polynomial.legendre.leggauss(n_nodes)
    mu, w = 0.5 * (t + 1.0), 0.5 * w
    R, z = (r * np.sqrt(1.0 - mu**2)).ravel(), (r * mu).ravel()
    shape = (*np.shape(component.potential(R[:1], z[:1]))[:-1], r.shape[0], n_nodes)
    phi = np.reshape(component.potential(R, z), shape)
    dphi_dr = np.reshape((R * component.dphi_dR(R, z) + z * component.dphi_dz(R, z)) / r.repeat(n_nodes), shape)
    return np.sum(w * phi, axis=-1), np.sum(w * dphi_dr, axis=-1)


@lru_cache(maxsize=32)
def _fixed_angular_average(component, r_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``angular_average`` of a component with scalar (hashable) parameters at the radii
    ``np.frombuffer(r_bytes)``, kept for the next call (read-only arrays)."""
    phi, dphi = angular_average(component, np.frombuffer(r_bytes))
    phi.setflags(write=False)
    dphi.setflags(write=False)
    return phi, dphi


def _average(component, r):
    """``angular_average``, from the cache for components with scalar parameters (fixed
    baryons: the same every likelihood call)."""
    try:
        hash(component)
    except TypeError:
        return angular_average(component, r)
    return _fixed_angular_average(component, np.ascontiguousarray(r, dtype=float).tobytes())


def monopole(components, r):
    """(Phi0, dPhi0/dr) of the sum of ``components`` at radii r (shape (n,)); shape (W, n)
    for components with parameters of shape (W, 1)."""
    phi, dphi = 0.0, 0.0
    for c in components:
        p, d = c.monopole(r) if hasattr(c, "monopole") else _average(c, r)
        phi, dphi = phi + p, dphi + d
    return phi, dphi


@dataclass(frozen=True, eq=False)
class MonopoleTable:
    """Phi0 [(km/s)²] of W parameter sets on radii exp(ln_r_min + i d_ln_r), i = 0 … n - 1
    [kpc], as the coefficients of the cubic Hermite polynomial in tau = (ln r - ln r_i) / d_ln_r
    on each interval (array (W, n - 1, 4), constant term first)."""

    ln_r_min: float
    d_ln_r: float
    coefficients: np.ndarray

    @classmethod
    def from_components(cls, components, r_min_kpc: float = 1e-3, r_max_kpc: float = 1e4, n: int = 512):
        """Tabulate the monopole of ``components`` on ``n`` radii log-spaced over [r_min, r_max]."""
        r = np.geomspace(r_min_kpc, r_max_kpc, int(n))
        phi, dphi = monopole(components, r)
        return cls.from_arrays(r, phi, dphi)

    @classmethod
    def from_arrays(cls, r, phi, dphi_dr):
        """From Phi0 and dPhi0/dr (shape (n,) or (W, n)) on log-spaced radii r (shape (n,))."""
        r = np.asarray(r, dtype=float)
        ln_r = np.log(r)
        step = np.diff(ln_r)
        if r.ndim != 1 or r.size < 4 or not np.allclose(step, step[0], rtol=1e-9, atol=0):
            raise ValueError("the monopole table needs at least 4 log-spaced radii")
        phi = np.atleast_2d(np.asarray(phi, dtype=float))
        slope = np.atleast_2d(np.asarray(dphi_dr, dtype=float) * r) * step[0]
        p0, p1, m0, m1 = phi[:, :-1], phi[:, 1:], slope[:, :-1], slope[:, 1:]
        coefficients = np.stack([p0, m0, 3.0 * (p1 - p0) - 2.0 * m0 - m1, 2.0 * (p0 - p1) + m0 + m1], axis=-1)
        return cls(float(ln_r[0]), float(step[0]), coefficients)

    def walkers(self, rows: slice) -> MonopoleTable:
        """The table of the walkers ``rows``."""
        return MonopoleTable(self.ln_r_min, self.d_ln_r, self.coefficients[rows])

    @property
    def ln_r_max(self) -> float:
        return self.ln_r_min + self.d_ln_r * self.coefficients.shape[1]

    def potential(self, r):
        """Phi0 at radii r [kpc] of shape (..., W, N) or (N,) (every walker at the same radii);
        result (..., W, N)."""
        with np.errstate(divide="ignore"):
            return self.potential_ln_r(np.log(np.asarray(r, dtype=float)))

    def potential_ln_r(self, ln_r, walker=None):
        """Phi0 at ln r [ln kpc] (shapes as for ``potential``), or, with ``walker`` (integer
        array shaped like ``ln_r``), each point in the potential of its walker."""
        ln_r = np.asarray(ln_r, dtype=float)
        n_walkers, n_intervals, _ = self.coefficients.shape
        u = np.clip((ln_r - self.ln_r_min) * (1.0 / self.d_ln_r), 0.0, float(n_intervals))
        i = np.minimum(u.astype(np.intp), n_intervals - 1)
        tau = u - i
        rows = np.arange(n_walkers)[:, None] if walker is None else np.asarray(walker)
        flat = i + rows * n_intervals
        c0, c1, c2, c3 = self._flat_coefficients
        value = np.take(c3, flat)
        value = np.take(c2, flat) + tau * value
        value = np.take(c1, flat) + tau * value
        value = np.take(c0, flat) + tau * value
        outside = ln_r > self.ln_r_max
        if outside.any():
            phi_max = self.coefficients[:, -1, :].sum(axis=-1)[rows]
            value = np.where(outside, phi_max * np.exp(self.ln_r_max - ln_r), value)
        return value

    @cached_property
    def _flat_coefficients(self) -> tuple[np.ndarray, ...]:
        """The four coefficient arrays, each flattened over (walker, interval)."""
        return tuple(np.ascontiguousarray(self.coefficients[..., k]).ravel() for k in range(4))
