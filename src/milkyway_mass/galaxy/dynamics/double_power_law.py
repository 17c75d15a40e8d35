"""The double-power-law distribution function in actions (Posti et al. 2015; Vasiliev 2019).

    f(J) = 1 / (2 pi J0)³ · [1 + (J0 / h(J))^eta]^(Gamma / eta) · [1 + (g(J) / J0)^eta]^(-B / eta)
           · (1 + kappa tanh(J_phi / J_phi,0))

with h(J) = h_r J_r + h_z J_z + (3 - h_r - h_z) |J_phi|, g(J) likewise with the g
coefficients, and the rotation scale J_phi,0 = ``rotation_scale`` × (J_r + J_z + |J_phi|),
so that the rotation term is a function of J_phi / (J_r + J_z + |J_phi|) only and the
net rotation is roughly the same at every energy. Gamma (inner slope) < 3 < B
(outer slope), eta > 0 (steepness), the coefficients h_r, h_z, 3 - h_r - h_z (and the
g ones) positive, |kappa| ≤ 1; kappa > 0 rotates in the sense of positive J_phi = L_z.
The project's frame has the disk rotating with L_z < 0, so a system co-rotating with
the disk has kappa < 0.

Units: actions in kpc km/s; f in (kpc km/s)^-3 (the density in phase space of a
system of unit mass before normalisation). ``log_normalisation`` is
ln[(2 pi)³ ∫ f d³J], the phase-space integral of f, which does not depend on the
potential, on J0 (it scales out) or on kappa and the rotation scale (the rotation
term is odd in J_phi), so ln f - log_normalisation is a probability density in
phase space.

Every parameter broadcasts; W parameter sets are arrays of shape (W, 1), actions of
shape (N,) or (W, N), results (W, N) (``log_normalisation`` and ``valid``: (W, 1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["PARAMETER_NAMES", "DoublePowerLawDF"]

#: Parameter names as sampled: inner and outer slopes, steepness, ln J0 [ln(kpc km/s)],
#: the h and g coefficients of J_r and J_z, and the rotation amplitude kappa.
PARAMETER_NAMES = ("slope_in", "slope_out", "steepness", "ln_J0", "h_r", "h_z", "g_r", "g_z", "rotation")

# Normalisation quadrature (``log_normalisation``): the ratio rho = g / h on each side of the
# middle coefficient ratio (Gauss–Legendre in ln rho, N_RATIO_NODES nodes per side), times the
# scaled action t = h(J) / J0 (composite Gauss–Legendre in ln t over LN_T_RANGE, segments of
# width LN_T_SEGMENT with N_SEGMENT_NODES nodes each; the power-law tails beyond the range
# are integrated analytically to first order).
N_RATIO_NODES = 8
LN_T_RANGE = (-30.0, 30.0)
LN_T_SEGMENT = 1.0
N_SEGMENT_NODES = 6


@lru_cache(maxsize=1)
def _nodes():
    """(ratio nodes on [0, 1] and weights, ln t nodes and weights)."""
    x, w = np.polynomial.legendre.leggauss(N_RATIO_NODES)
    lo, hi = LN_T_RANGE
    edges = np.linspace(lo, hi, int(round((hi - lo) / LN_T_SEGMENT)) + 1)
    ts, ws = np.polynomial.legendre.leggauss(N_SEGMENT_NODES)
    half = 0.5 * np.diff(edges)[:, None]
    ln_t = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * ts).ravel()
    return 0.5 * (x + 1.0), 0.5 * w, ln_t, (half * ws).ravel()


def _log1p_exp(x):
    """ln(1 + e^x), accurate for any x."""
    return np.logaddexp(0.0, x)


def _tails(gamma, beta, eta, ln_h, ln_g):
    """∫ t² F dt below and above ``LN_T_RANGE`` for F(t h, t g) to first order in its small
    terms: below, F ≈ (t h)^-Gamma [1 + (Gamma/eta) (t h)^eta - (B/eta) (t g)^eta]; above,
    F ≈ (t g)^-B [1 + (Gamma/eta) (t h)^-eta - (B/eta) (t g)^-eta]."""
    lo, hi = LN_T_RANGE
    a_lo, a_hi = 3.0 - gamma, beta - 3.0
    below = np.exp(a_lo * lo - gamma * ln_h) * (
        1.0 / a_lo
        + (gamma / eta * np.exp(eta * ln_h) - beta / eta * np.exp(eta * ln_g)) * np.exp(eta * lo) / (a_lo + eta)
    )
    above = np.exp(-a_hi * hi - beta * ln_g) * (
        1.0 / a_hi
        + (gamma / eta * np.exp(-eta * ln_h) - beta / eta * np.exp(-eta * ln_g)) * np.exp(-eta * hi) / (a_hi + eta)
    )
    return below + above


@dataclass(frozen=True)
class DoublePowerLawDF:
    """The double-power-law DF (module docstring) for parameter arrays that broadcast
    (shape (W, 1) for W walkers); ``rotation_scale`` sets J_phi,0 (a setting, not sampled)."""

    slope_in: Any
    slope_out: Any
    steepness: Any
    ln_J0: Any
    h_r: Any
    h_z: Any
    g_r: Any
    g_z: Any
    rotation: Any
    rotation_scale: float = 1.0

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any], rotation_scale: float = 1.0) -> DoublePowerLawDF:
        """From a mapping holding every name of ``PARAMETER_NAMES``."""
        missing = [n for n in PARAMETER_NAMES if n not in params]
        if missing:
            raise ValueError(f"double-power-law DF parameters missing: {missing} (expected {list(PARAMETER_NAMES)})")
        if not (np.isfinite(rotation_scale) and rotation_scale > 0):
            raise ValueError(f"rotation_scale must be positive and finite, got {rotation_scale}")
        return cls(**{n: np.asarray(params[n], dtype=float) for n in PARAMETER_NAMES}, rotation_scale=rotation_scale)

    @property
    def h_phi(self):
        return 3.0 - self.h_r - self.h_z

    @property
    def g_phi(self):
        return 3.0 - self.g_r - self.g_z

    def valid(self):
        """True where the parameters define a normalisable DF: Gamma < 3 < B, eta > 0, all
        six coefficients positive, |kappa| ≤ 1, J0 finite."""
        coefficients = (self.h_r, self.h_z, self.h_phi, self.g_r, self.g_z, self.g_phi)
        ok = (self.slope_in < 3.0) & (self.slope_out > 3.0) & (self.steepness > 0) & (np.abs(self.rotation) <= 1.0)
        ok = ok & np.isfinite(self.ln_J0)
        for c in coefficients:
            ok = ok & (c > 0)
        return ok

    def _log_shape(self, ln_h, ln_g):
        """ln of the two power-law factors at ln h(J) / J0 and ln g(J) / J0."""
        eta = self.steepness
        return self.slope_in / eta * _log1p_exp(-eta * ln_h) - self.slope_out / eta * _log1p_exp(eta * ln_g)

    def log_f(self, J_r, J_z, J_phi):
        """ln f(J) [ln (kpc km/s)^-3] (unnormalised: see ``log_normalisation``)."""
        J_r, J_z, J_phi = (np.asarray(a, dtype=float) for a in (J_r, J_z, J_phi))
        a_phi = np.abs(J_phi)
        with np.errstate(divide="ignore"):
            ln_h = np.log(self.h_r * J_r + self.h_z * J_z + self.h_phi * a_phi) - self.ln_J0
            ln_g = np.log(self.g_r * J_r + self.g_z * J_z + self.g_phi * a_phi) - self.ln_J0
        total = J_r + J_z + a_phi
        ratio = np.divide(J_phi, self.rotation_scale * total, out=np.zeros_like(total), where=total > 0)
        rotation = np.log1p(self.rotation * np.tanh(ratio))
        return -3.0 * (np.log(2.0 * np.pi) + self.ln_J0) + self._log_shape(ln_h, ln_g) + rotation

    def log_normalisation(self):
        """ln[(2 pi)³ ∫ f d³J] (shape of the broadcast parameters), by fixed-node quadrature.

        In scaled actions x = J / J0 it is 2 ∫_octant F(h(x), g(x)) d³x (F: the two
        power-law factors; 2 for both signs of J_phi). Writing x = t y with h(y) = 1
        (y on the triangle with vertices e_i / h_i), the integral is
        ∫ mu(rho) R(rho) d rho with R(rho) = ∫_0^∞ t² F(t, rho t) dt and mu the
        distribution of rho = g(y) over the triangle: a tent on [min, max] of the
        ratios r_i = g_i / h_i, peaked at the middle one, of total mass
        1 / (2 h_r h_z h_phi). R is integrated in ln t, the tent in ln rho on each of
        its two sides (weights renormalised so a tent collapsing to a point is exact)."""
        x, w_x, ln_t, w_t = _nodes()
        shape = np.broadcast_shapes(*(np.shape(getattr(self, n)) for n in PARAMETER_NAMES))
        p = {n: np.broadcast_to(getattr(self, n), shape)[..., None] for n in PARAMETER_NAMES}
        h = np.stack(np.broadcast_arrays(p["h_r"], p["h_z"], 3.0 - p["h_r"] - p["h_z"]))
        g = np.stack(np.broadcast_arrays(p["g_r"], p["g_z"], 3.0 - p["g_r"] - p["g_z"]))
        with np.errstate(divide="ignore", invalid="ignore"):
            r_lo, r_mid, r_hi = np.sort(np.log(g / h), axis=0)
            ln_rho, weight = [], []
            for a, b, side in ((r_lo, r_mid, "rising"), (r_mid, r_hi, "falling")):
                nodes = a + (b - a) * x
                rho, rho_a, rho_b = np.exp(nodes), np.exp(a), np.exp(b)
                density = (rho - rho_a) if side == "rising" else (rho_b - rho)
                w = density * rho * (b - a) * w_x
                total = np.sum(w, axis=-1, keepdims=True)
                w = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / x.size)
                span = np.exp(r_hi) - np.exp(r_lo)
                fraction = np.where(span > 0, (rho_b - rho_a) / np.where(span > 0, span, 1.0), 0.5)
                ln_rho.append(nodes)
                weight.append(fraction * w)
        ln_rho, weight = np.concatenate(ln_rho, axis=-1), np.concatenate(weight, axis=-1)
        gamma, beta, eta = (p[n][..., None] for n in ("slope_in", "slope_out", "steepness"))
        ln_g = ln_rho[..., None] + ln_t
        log_shape = gamma / eta * _log1p_exp(-eta * ln_t) - beta / eta * _log1p_exp(eta * ln_g)
        radial = np.sum(w_t * np.exp(3.0 * ln_t + log_shape), axis=-1)
        radial += _tails(gamma[..., 0], beta[..., 0], eta[..., 0], 0.0, ln_rho)
        mass = 1.0 / (2.0 * h[0] * h[1] * h[2])
        return np.log(2.0 * mass[..., 0] * np.sum(weight * radial, axis=-1))
