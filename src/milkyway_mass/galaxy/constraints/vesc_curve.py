"""The escape-velocity curve as a constraint: per-bin summaries and log densities of v_esc.

A curve holds, per radial bin, r0 [kpc] and the v_esc [km/s] summary (median,
68 % and 95 % intervals: ``CURVE_TABLE_COLUMNS``), and a log density of v_esc that
``terms.EscapeVelocityTerm`` scores the model's escape speed at (R = r0, z = 0)
against. A measured curve is scored against a Gaussian kernel density estimate of each
bin's posterior chain, tabulated once on a fine grid and interpolated linearly in
log density; a published curve (median with asymmetric 68 % errors) is scored
with a split-normal density.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from scipy.stats import gaussian_kde

#: Columns of ``EscapeVelocityCurve.table`` (speeds in km/s, r0 in kpc): the names of
#: ``schemas.VESC_CURVE_COLUMNS`` plus the 95 % errors (NaN where a curve gives 68 % only).
CURVE_TABLE_COLUMNS = (
    "bin",
    "r0",
    "vesc_median",
    "vesc_err_minus",
    "vesc_err_plus",
    "vesc_err95_minus",
    "vesc_err95_plus",
)
_SPEED_COLUMNS = CURVE_TABLE_COLUMNS[2:]


def _bin_label(bin_id, r0) -> str:
    return f"bin {bin_id} (r0 = {float(r0):.2f} kpc)"


@dataclass(frozen=True)
class GridLogDensity:
    """Per-bin log densities tabulated on uniform grids (one row per bin).

    Row b covers x0[b] + dx[b] * [0, n_points[b] - 1]; beyond the grid the density
    continues as the Gaussian tail of the outermost kernel (width ``bandwidth``,
    centred on the extreme sample ``lo_anchor`` / ``hi_anchor``), so it stays finite
    and smooth everywhere. That tail is the KDE's, not the posterior's: a model
    beyond the range a chain sampled is penalised with the (narrow) kernel width.
    """

    x0: np.ndarray
    dx: np.ndarray
    n_points: np.ndarray
    logp: np.ndarray
    bandwidth: np.ndarray
    lo_anchor: np.ndarray
    hi_anchor: np.ndarray

    def __call__(self, v):
        """log density of v with shape (..., n_bins)."""
        v = np.asarray(v, dtype=float)
        u = (v - self.x0) / self.dx
        i = np.clip(np.floor(u), 0, self.n_points - 2).astype(int)
        w = u - i
        rows = np.broadcast_to(np.arange(self.logp.shape[0]), i.shape)
        inside = (1.0 - w) * self.logp[rows, i] + w * self.logp[rows, i + 1]
        x_end = self.x0 + self.dx * (self.n_points - 1)
        two_h2 = 2.0 * self.bandwidth**2
        below = self.logp[:, 0] - ((v - self.lo_anchor) ** 2 - (self.x0 - self.lo_anchor) ** 2) / two_h2
        last = self.logp[np.arange(self.logp.shape[0]), self.n_points - 1]
        above = last - ((v - self.hi_anchor) ** 2 - (x_end - self.hi_anchor) ** 2) / two_h2
        return np.where(u < 0, below, np.where(u > self.n_points - 1, above, inside))

    def scaled(self, factor: float) -> GridLogDensity:
        """Density of factor * v (exact for a bandwidth proportional to the sample spread)."""
        return replace(
            self,
            x0=self.x0 * factor,
            dx=self.dx * factor,
            logp=self.logp - np.log(factor),
            bandwidth=self.bandwidth * factor,
            lo_anchor=self.lo_anchor * factor,
            hi_anchor=self.hi_anchor * factor,
        )


@dataclass(frozen=True)
class SplitNormal:
    """Split-normal density per bin: mode ``median``, widths ``err_minus`` below, ``err_plus`` above."""

    median: np.ndarray
    err_minus: np.ndarray
    err_plus: np.ndarray

    def __call__(self, v):
        """log density of v with shape (..., n_bins)."""
        v = np.asarray(v, dtype=float)
        sigma = np.where(v >= self.median, self.err_plus, self.err_minus)
        norm = np.log(np.sqrt(2.0 / np.pi) / (self.err_minus + self.err_plus))
        return norm - 0.5 * ((v - self.median) / sigma) ** 2

    def scaled(self, factor: float) -> SplitNormal:
        return SplitNormal(self.median * factor, self.err_minus * factor, self.err_plus * factor)


@dataclass(frozen=True)
class EscapeVelocityCurve:
    """An escape-velocity curve: per-bin summary ``table`` and per-bin log density of v_esc.

    ``source`` is 'measured' or 'published'; ``scale`` is the factor applied to all
    v_esc (1 for the nominal curve, e.g. 1.1 for the +10 % variant).
    """

    source: str
    table: pd.DataFrame
    density: GridLogDensity | SplitNormal
    scale: float = 1.0

    @cached_property
    def r0(self) -> np.ndarray:
        """Bin radii [kpc] (read once: the likelihood asks for them at every call)."""
        return self.table["r0"].to_numpy(dtype=float)

    def log_density(self, v):
        return self.density(v)

    def scaled(self, factor: float) -> EscapeVelocityCurve:
        """The same curve with every v_esc multiplied by ``factor``."""
        factor = float(factor)
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"v_esc scale factor must be positive and finite, got {factor}")
        table = self.table.copy()
        table[list(_SPEED_COLUMNS)] = table[list(_SPEED_COLUMNS)] * factor
        return EscapeVelocityCurve(self.source, table, self.density.scaled(factor), self.scale * factor)


def _check_curve_length(n_bins: int, min_bins: int, source: str) -> None:
    if n_bins < max(min_bins, 2):
        raise ValueError(
            f"the {source} escape-velocity curve has {n_bins} usable bin(s); "
            f"the halo fit needs at least {max(min_bins, 2)}"
        )


def _kde_grid(samples: np.ndarray, bandwidth: float, points_per_bandwidth: float, pad_bandwidths: float):
    """Gaussian KDE on a uniform grid by linear binning and Gaussian smoothing; returns x0, dx, density."""
    dx = bandwidth / points_per_bandwidth
    lo = samples.min() - pad_bandwidths * bandwidth
    n = int(np.ceil((samples.max() + pad_bandwidths * bandwidth - lo) / dx)) + 1
    u = (samples - lo) / dx
    j = np.floor(u).astype(int)
    frac = u - j
    counts = np.bincount(j, 1.0 - frac, minlength=n + 1) + np.bincount(j + 1, frac, minlength=n + 1)
    smoothed = gaussian_filter1d(counts[:n], points_per_bandwidth, mode="constant", truncate=pad_bandwidths + 2.0)
    return lo, dx, smoothed / (samples.size * dx)


def kde_curve(
    bins: Sequence,
    r0: Sequence[float],
    samples: Sequence[np.ndarray],
    *,
    bandwidth: str | float = "scott",
    points_per_bandwidth: float = 10.0,
    pad_bandwidths: float = 8.0,
    min_bins: int = 2,
) -> EscapeVelocityCurve:
    """Curve from per-bin posterior samples of v_esc [km/s], scored by a Gaussian KDE per bin.

    ``bandwidth`` is scipy's ``gaussian_kde`` ``bw_method`` ('scott', 'silverman' or
    a factor times the sample standard deviation). The KDE is tabulated on a grid of
    spacing bandwidth / ``points_per_bandwidth`` reaching ``pad_bandwidths`` beyond
    the extreme samples.
    """
    if not (len(bins) == len(r0) == len(samples)):
        raise ValueError("bins, r0 and samples must have the same length")
    _check_curve_length(len(bins), min_bins, "measured")
    rows, grids = [], []
    for bin_id, r, chain in zip(bins, r0, samples):
        x = np.asarray(chain, dtype=float).ravel()
        label = _bin_label(bin_id, r)
        if not np.isfinite(r) or r <= 0:
            raise ValueError(f"{label}: r0 must be a positive finite radius")
        if x.size == 0:
            raise ValueError(f"{label}: the v_esc posterior chain is empty")
        n_bad = int(np.sum(~np.isfinite(x)))
        if n_bad:
            raise ValueError(f"{label}: the v_esc posterior chain has {n_bad} non-finite value(s) (NaN/inf)")
        if x.size < 2 or np.ptp(x) == 0:
            raise ValueError(f"{label}: the v_esc posterior chain has no spread (need >= 2 distinct samples)")
        h = float(np.sqrt(gaussian_kde(x, bw_method=bandwidth).covariance[0, 0]))
        x0, dx, density = _kde_grid(x, h, points_per_bandwidth, pad_bandwidths)
        grids.append((x0, dx, density, h, x.min(), x.max()))
        med, p16, p84, p025, p975 = np.percentile(x, [50, 16, 84, 2.5, 97.5])
        rows.append((bin_id, float(r), med, med - p16, p84 - med, med - p025, p975 - med))
    n_max = max(g[2].size for g in grids)
    logp = np.full((len(grids), n_max), -np.inf)
    tiny = np.finfo(float).tiny
    for b, g in enumerate(grids):
        logp[b, : g[2].size] = np.log(np.maximum(g[2], tiny))
    density = GridLogDensity(
        x0=np.array([g[0] for g in grids]),
        dx=np.array([g[1] for g in grids]),
        n_points=np.array([g[2].size for g in grids]),
        logp=logp,
        bandwidth=np.array([g[3] for g in grids]),
        lo_anchor=np.array([g[4] for g in grids]),
        hi_anchor=np.array([g[5] for g in grids]),
    )
    return EscapeVelocityCurve("measured", pd.DataFrame(rows, columns=list(CURVE_TABLE_COLUMNS)), density)


def split_normal_curve(
    bins: Sequence,
    r0: Sequence[float],
    median: Sequence[float],
    err_minus: Sequence[float],
    err_plus: Sequence[float],
    *,
    min_bins: int = 2,
) -> EscapeVelocityCurve:
    """Curve from medians with asymmetric 68 % errors [km/s], scored by split-normal densities.

    The table's 95 % error columns are NaN: a published table gives 68 % intervals only.
    """
    columns = {
        "r0": np.asarray(r0, dtype=float),
        "median": np.asarray(median, dtype=float),
        "err_minus": np.asarray(err_minus, dtype=float),
        "err_plus": np.asarray(err_plus, dtype=float),
    }
    if any(c.shape != (len(bins),) for c in columns.values()):
        raise ValueError("bins, r0, median, err_minus and err_plus must be 1-d of the same length")
    _check_curve_length(len(bins), min_bins, "published")
    for b, bin_id in enumerate(bins):
        label = _bin_label(bin_id, columns["r0"][b])
        bad = [k for k, c in columns.items() if not np.isfinite(c[b])]
        if bad:
            raise ValueError(f"{label}: non-finite {', '.join(bad)}")
        bad = [k for k, c in columns.items() if c[b] <= 0]
        if bad:
            raise ValueError(f"{label}: {', '.join(bad)} must be positive")
    table = pd.DataFrame(
        {
            "bin": list(bins),
            "r0": columns["r0"],
            "vesc_median": columns["median"],
            "vesc_err_minus": columns["err_minus"],
            "vesc_err_plus": columns["err_plus"],
            "vesc_err95_minus": np.nan,
            "vesc_err95_plus": np.nan,
        }
    )
    density = SplitNormal(columns["median"], columns["err_minus"], columns["err_plus"])
    return EscapeVelocityCurve("published", table, density)
