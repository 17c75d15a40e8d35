"""Nodes of the `selection` pipeline (METHOD.md §2-§3).

Quality cuts (σ_d/d, σ_vGC), reference escape-velocity curves, the per-bin speed
threshold v_min, v_GC < v_max, the halo/disk line, radial bins, the cut flow and
the figures. Units: kpc, km/s, dex. Prograde (disk) orbits have v_phi < 0.
Bin i of a binning covers r_GC in [edge_i, edge_i+1); the last bin is closed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from milkyway_mass.cut_flow import EmptySelectionError, cut_row, require_stars, warn_heavy_losses
from milkyway_mass.galaxy.potentials.reference import (
    bin_vmin,
    reference_potentials,
    vesc_curves,
)
from milkyway_mass.schemas import CUT_FLOW_COLUMNS, RADIAL_BIN_COLUMNS

logger = logging.getLogger(__name__)

CURVE_NAMES = ("low", "mid", "high")
_REQUIRED = ("r_gc", "v_gc", "v_phi", "feh", "sigma_d_frac", "sigma_v_gc")


def _cut_row(cut: str, binning: str, n_stars: int, n_removed: int, note: str = "") -> dict:
    return cut_row("selection", cut, binning, n_stars, n_removed, note)


def _nonfinite_note(n: int) -> str:
    return f", of which {n} non-finite" if n else ""


def _potentials(reference: dict, galaxy_frame: dict, cosmology: dict) -> dict:
    masses = reference["virial_masses_msun"]
    if set(masses) != set(CURVE_NAMES):
        raise ValueError(
            f"selection.reference_curves.virial_masses_msun must have keys {CURVE_NAMES}, got {sorted(masses)}"
        )
    return reference_potentials(
        {name: masses[name] for name in CURVE_NAMES},
        galaxy_frame["R0_kpc"],
        galaxy_frame["vc_R0_kms"],
        reference["virial_overdensity"],
        cosmology["H0_kms_mpc"],
        reference["virial_Om"],
    )


def apply_quality_cuts(stars_galactocentric: pd.DataFrame, quality: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep σ_d/d < max_sigma_d_frac, then σ_vGC < max_sigma_v_gc_kms; returns (stars, cut-flow rows).

    Non-finite values fail a cut and are counted in the row's note.
    """
    missing = [c for c in _REQUIRED if c not in stars_galactocentric.columns]
    if missing:
        raise ValueError(f"stars_galactocentric lacks column(s) {missing}")
    keep = np.ones(len(stars_galactocentric), dtype=bool)
    rows = []
    for column, limit, label in (
        ("sigma_d_frac", quality["max_sigma_d_frac"], f"sigma_d/d < {quality['max_sigma_d_frac']:g}"),
        ("sigma_v_gc", quality["max_sigma_v_gc_kms"], f"sigma_vGC < {quality['max_sigma_v_gc_kms']:g} km/s"),
    ):
        values = stars_galactocentric[column].to_numpy(dtype=float)
        removed = keep & ~(values < limit)
        keep &= ~removed
        note = f"removed {int(removed.sum())} with {column} >= {limit:g}" + _nonfinite_note(
            int((removed & ~np.isfinite(values)).sum())
        )
        rows.append(_cut_row(label, "all", keep.sum(), removed.sum(), note))
    return stars_galactocentric[keep].reset_index(drop=True), pd.DataFrame(rows, columns=list(CUT_FLOW_COLUMNS))


def build_reference_vesc_curves(reference: dict, v_min: dict, galaxy_frame: dict, cosmology: dict) -> pd.DataFrame:
    """Escape-speed curves [km/s] of the low/mid/high halos on the configured r grid [kpc].

    Columns ``r_kpc, vesc_low_kms, vesc_mid_kms, vesc_high_kms, vesc_mean_kms,
    vmin_curve_kms`` (= curve_fraction × mean, unrounded).
    """
    grid = reference["r_grid_kpc"]
    r = np.arange(grid["start"], grid["stop"] + 0.5 * grid["step"], grid["step"])
    table = vesc_curves(_potentials(reference, galaxy_frame, cosmology), r)
    table["vmin_curve_kms"] = v_min["curve_fraction"] * table["vesc_mean_kms"]
    return table


def build_radial_bin_limits(
    binnings: dict, v_min: dict, reference: dict, galaxy_frame: dict, cosmology: dict
) -> dict[str, pd.DataFrame]:
    """Per binning name, one row per bin: ``binning, bin, r_lo, r_hi, r_vmin, v_min``.

    ``r_vmin`` is the radius where v_min was evaluated (see
    :func:`milkyway_mass.galaxy.potentials.reference.bin_vmin`).
    """
    potentials = _potentials(reference, galaxy_frame, cosmology)
    tables = {}
    for name, spec in binnings.items():
        edges = np.asarray(spec["edges_kpc"], float)
        if edges.size < 2 or not np.all(np.diff(edges) > 0) or edges[0] < 0:
            raise ValueError(
                f"selection.binnings.{name}.edges_kpc must be >= 2 increasing non-negative radii, got {edges.tolist()}"
            )
        vmin, r_eval = bin_vmin(
            edges[:-1],
            edges[1:],
            potentials,
            inner_r_max_kpc=v_min["inner_r_max_kpc"],
            inner_v_min_kms=v_min["inner_v_min_kms"],
            curve_fraction=v_min["curve_fraction"],
            evaluate_at=v_min["evaluate_at"],
            round_to_kms=v_min["round_to_kms"],
            rounding=v_min["rounding"],
        )
        tables[name] = pd.DataFrame(
            {
                "binning": name,
                "bin": np.arange(edges.size - 1),
                "r_lo": edges[:-1],
                "r_hi": edges[1:],
                "r_vmin": r_eval,
                "v_min": vmin,
            }
        )
        logger.info("selection: %s v_min per bin [km/s]: %s", name, vmin.tolist())
    return tables


HALO_RULES = ("feh_line", "toomre", "vphi")


def halo_rule(selection: dict) -> str:
    """The halo/disk rule of ``selection.halo_separation.rule`` in words (cut-flow rows, figures)."""
    cfg = selection["halo_separation"]
    rule = cfg["rule"]
    if rule == "feh_line":
        line = selection["halo_line"]
        return f"v_phi > {line['slope_kms_per_dex']:.2f} [Fe/H] + {line['intercept_kms']:.2f} km/s"
    if rule == "toomre":
        return f"Toomre |v - v_disk| > {cfg['toomre_v_min_kms']:g} km/s (v_disk: v_phi = -vc(R0))"
    if rule == "vphi":
        return f"v_phi > {cfg['vphi_min_kms']:g} km/s"
    raise ValueError(f"selection.halo_separation.rule must be one of {list(HALO_RULES)}, got {rule!r}")


def halo_stars(stars: pd.DataFrame, selection: dict, galaxy_frame: dict) -> tuple[np.ndarray, np.ndarray]:
    """(halo mask, mask of stars the rule cannot judge) by ``selection.halo_separation.rule``
    (see ``parameters_selection.yml`` and :func:`halo_rule`). Prograde v_phi < 0; the disk's
    velocity in the Toomre diagram is (v_R, v_phi, v_z) = (0, -vc(R0), 0) [km/s].
    ``feh_line`` on a survey without [Fe/H] stops, naming the kinematic rules."""
    halo_rule(selection)  # an unknown rule stops here
    cfg = selection["halo_separation"]
    v_phi = stars["v_phi"].to_numpy(float)
    if cfg["rule"] == "feh_line":
        line = selection["halo_line"]
        feh = stars["feh"].to_numpy(float)
        if len(stars) and not np.isfinite(feh).any():
            raise ValueError(
                "selection.halo_separation.rule is feh_line, but no star has [Fe/H] (is ingest.lamost.columns.feh "
                "mapped?): set the rule to toomre or vphi to separate the halo by kinematics"
            )
        return v_phi > line["slope_kms_per_dex"] * feh + line["intercept_kms"], ~np.isfinite(feh + v_phi)
    if cfg["rule"] == "toomre":
        speed = toomre_speed(stars, galaxy_frame)
        return speed > cfg["toomre_v_min_kms"], ~np.isfinite(speed)
    return v_phi > cfg["vphi_min_kms"], ~np.isfinite(v_phi)


def toomre_speed(stars: pd.DataFrame, galaxy_frame: dict) -> np.ndarray:
    """sqrt(v_R² + v_z² + (v_phi + vc(R0))²) [km/s]: the speed relative to the disk's rotation."""
    v_R, v_phi, v_z = (stars[c].to_numpy(float) for c in ("v_R", "v_phi", "v_z"))
    return np.sqrt(v_R**2 + v_z**2 + (v_phi + float(galaxy_frame["vc_R0_kms"])) ** 2)


def select_binning(
    quality_stars: pd.DataFrame, bin_limits: pd.DataFrame, selection: dict, galaxy_frame: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """High-velocity halo stars of the one binning in ``bin_limits`` (from ``build_radial_bin_limits``).

    Cuts, in order: r_GC inside the binning's range and v_GC >= v_min of the star's
    bin; v_GC < v_max; halo by :func:`halo_stars` (the published v_phi > slope·[Fe/H] +
    intercept by default). Returns
    (high-velocity stars before the halo cut with an ``is_halo`` flag, selected
    stars, the binning's radial-bin rows, cut-flow rows). Empty bins and bins with
    fewer than ``min_stars_per_bin`` stars give a warning and are recorded; a binning left
    without any star stops the run (``EmptySelectionError`` naming the cut that emptied it).
    """
    if bin_limits.empty or bin_limits["binning"].nunique() != 1:
        raise ValueError(
            f"bin_limits must hold the bins of exactly one binning, got {bin_limits['binning'].unique().tolist()}"
        )
    binning = bin_limits["binning"].iloc[0]
    limits = bin_limits.sort_values("bin").reset_index(drop=True)
    edges = np.append(limits["r_lo"].to_numpy(float), limits["r_hi"].iloc[-1])
    if not np.allclose(limits["r_lo"].to_numpy()[1:], limits["r_hi"].to_numpy()[:-1]):
        raise ValueError(
            f"bins of binning '{binning}' are not contiguous: {limits[['r_lo', 'r_hi']].to_numpy().tolist()}"
        )
    n_bins = len(limits)
    r = quality_stars["r_gc"].to_numpy(float)
    v = quality_stars["v_gc"].to_numpy(float)
    idx = np.searchsorted(edges, r, side="right") - 1
    idx[r == edges[-1]] = n_bins - 1
    in_range = (idx >= 0) & (idx < n_bins)
    vmin_star = np.where(in_range, limits["v_min"].to_numpy(float)[np.clip(idx, 0, n_bins - 1)], np.nan)
    fast = in_range & (v >= vmin_star)
    n0 = len(quality_stars)
    rows = [
        _cut_row(
            f"high-velocity stars: v_GC >= v_min, r_GC in [{edges[0]:g}, {edges[-1]:g}] kpc",
            binning,
            fast.sum(),
            n0 - fast.sum(),
            f"outside [{edges[0]:g}, {edges[-1]:g}] kpc: {int((~in_range).sum())}; below v_min: {int((in_range & ~fast).sum())}"
            + _nonfinite_note(int((~np.isfinite(r) | ~np.isfinite(v)).sum())),
        )
    ]
    v_max = selection["v_max_kms"]
    bound = fast & (v < v_max)
    rows.append(_cut_row(f"v_GC < {v_max:g} km/s", binning, bound.sum(), (fast & ~bound).sum()))
    is_halo, unjudged = halo_stars(quality_stars, selection, galaxy_frame)
    halo = bound & is_halo
    n_bad = int((bound & unjudged).sum())

    candidates = quality_stars[bound].copy()
    candidates["binning"] = binning
    candidates["bin"] = idx[bound].astype(int)
    candidates["v_min"] = vmin_star[bound]
    candidates["is_halo"] = halo[bound]
    selected = candidates[candidates["is_halo"]].drop(columns="is_halo").reset_index(drop=True)
    candidates = candidates.reset_index(drop=True)

    grouped = selected.groupby("bin")["r_gc"]
    bins = limits[["binning", "bin", "r_lo", "r_hi", "v_min"]].copy()
    bins["r0"] = bins["bin"].map(grouped.median()).astype(float)
    bins["n_stars"] = bins["bin"].map(grouped.size()).fillna(0).astype(int)
    empty = bins.loc[bins["n_stars"] == 0, "bin"].tolist()
    sparse = bins.loc[(bins["n_stars"] > 0) & (bins["n_stars"] < selection["min_stars_per_bin"]), "bin"].tolist()
    for kind, which in (("empty", empty), (f"fewer than {selection['min_stars_per_bin']} stars", sparse)):
        if which:
            logger.warning("selection: %s bin(s) %s %s (r0 = NaN for empty bins)", binning, which, kind)
    note = (
        f"disk-like removed: {int((bound & ~halo).sum())}"
        + _nonfinite_note(n_bad)
        + "; stars per bin: "
        + " ".join(str(n) for n in bins["n_stars"])
        + f"; empty bins: {empty}; bins with < {selection['min_stars_per_bin']} stars: {sparse}"
    )
    rows.append(
        _cut_row(
            f"halo stars: {halo_rule(selection)}",
            binning,
            halo.sum(),
            (bound & ~halo).sum(),
            note,
        )
    )
    logger.info("selection: %s: %d halo stars, per bin %s", binning, int(halo.sum()), bins["n_stars"].tolist())
    cut_rows = pd.DataFrame(rows, columns=list(CUT_FLOW_COLUMNS))
    if n0 == 0:
        raise EmptySelectionError(f"selection {binning}: no star passed the quality cuts (see their cut-flow rows)")
    require_stars(cut_rows, f"the selected stars of {binning}")
    return candidates, selected, bins[list(RADIAL_BIN_COLUMNS)], cut_rows


def combine_radial_bins(*bin_tables: pd.DataFrame) -> pd.DataFrame:
    """Stack the per-binning radial-bin tables (columns ``RADIAL_BIN_COLUMNS``)."""
    return pd.concat(bin_tables, ignore_index=True)[list(RADIAL_BIN_COLUMNS)]


def _check_chain(rows: pd.DataFrame, start: int, what: str) -> None:
    expected = start
    for row in rows.itertuples():
        if row.n_stars + row.n_removed != expected:
            raise ValueError(
                f"cut flow does not add up at '{row.cut}' ({what}): {row.n_stars} + {row.n_removed} != {expected}"
            )
        expected = row.n_stars


def assemble_cut_flow(
    cut_flow_settings: dict,
    cut_flow_ingest: pd.DataFrame,
    quality_cut_flow: pd.DataFrame,
    *binning_cut_flows: pd.DataFrame,
) -> pd.DataFrame:
    """Ingest rows, then the quality cuts, then each binning's cuts; checks that removals add up
    and logs a WARNING for a quality cut that removed more than ``cut_flow.loss_warning_share``
    of its stars (the ingest pipeline warns for its own cuts; the binnings' tail selection keeps
    a few % by design)."""
    columns = list(CUT_FLOW_COLUMNS)
    if list(cut_flow_ingest.columns) != columns:
        raise ValueError(
            f"cut_flow_ingest columns {list(cut_flow_ingest.columns)} differ from schemas.CUT_FLOW_COLUMNS {columns}"
        )
    n_start = int(quality_cut_flow["n_stars"].iloc[0] + quality_cut_flow["n_removed"].iloc[0])
    if len(cut_flow_ingest) and int(cut_flow_ingest["n_stars"].iloc[-1]) != n_start:
        raise ValueError(
            f"cut_flow_ingest ends with {int(cut_flow_ingest['n_stars'].iloc[-1])} stars but stars_galactocentric has {n_start}"
        )
    _check_chain(quality_cut_flow, n_start, "quality cuts")
    for rows in binning_cut_flows:
        _check_chain(rows, int(quality_cut_flow["n_stars"].iloc[-1]), f"binning {rows['binning'].iloc[0]}")
    cut_flow = pd.concat([cut_flow_ingest, quality_cut_flow, *binning_cut_flows], ignore_index=True)[columns]
    warn_heavy_losses(quality_cut_flow[quality_cut_flow["binning"] == "all"], cut_flow_settings["loss_warning_share"])
    return cut_flow


def _density(ax, x, y, x_range, y_range, bins):
    """Log-scaled 2D histogram of (x, y) in grey; nothing drawn if there are no points in range."""
    counts, xe, ye = np.histogram2d(x, y, bins=bins, range=[x_range, y_range])
    if counts.max() > 0:
        mesh = ax.pcolormesh(
            xe, ye, np.ma.masked_equal(counts.T, 0), cmap="Greys", norm=LogNorm(vmin=1, vmax=counts.max())
        )
        ax.figure.colorbar(mesh, ax=ax, label="stars per pixel")


def plot_vgc_rgc(
    quality_stars: pd.DataFrame,
    reference_vesc_curves: pd.DataFrame,
    radial_bins: pd.DataFrame,
    selected_stars_bin1: pd.DataFrame,
    selection: dict,
) -> Figure:
    """v_GC–r_GC density of the quality-cut stars, the three reference curves, 0.6× their mean,
    the v_min step of each binning, v_max, and the selected Bin-1 halo stars."""
    fig_cfg = selection["figures"]
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    _density(
        ax,
        quality_stars["r_gc"],
        quality_stars["v_gc"],
        fig_cfg["r_range_kpc"],
        fig_cfg["v_range_kms"],
        fig_cfg["density_bins"],
    )
    curves = reference_vesc_curves
    masses = selection["reference_curves"]["virial_masses_msun"]
    for name, color in zip(CURVE_NAMES, ("tab:blue", "tab:green", "tab:red")):
        ax.plot(
            curves["r_kpc"],
            curves[f"vesc_{name}_kms"],
            color=color,
            lw=1.5,
            zorder=3,
            label=f"v_esc, MWPotential2014, M_vir = {masses[name]:.3g} Msun",
        )
    ax.plot(
        curves["r_kpc"],
        curves["vmin_curve_kms"],
        color="k",
        ls="--",
        lw=1.2,
        zorder=3,
        label=f"{selection['v_min']['curve_fraction']:g} x mean of the three",
    )
    for (name, bins), ls in zip(radial_bins.groupby("binning", sort=True), ("-", ":")):
        ax.stairs(
            bins["v_min"],
            np.append(bins["r_lo"], bins["r_hi"].iloc[-1]),
            baseline=None,
            color="tab:orange",
            lw=2,
            ls=ls,
            zorder=4,
            label=f"v_min ({name})",
        )
    ax.axhline(
        selection["v_max_kms"], color="tab:purple", ls="-.", lw=1, label=f"v_max = {selection['v_max_kms']:g} km/s"
    )
    ax.scatter(
        selected_stars_bin1["r_gc"],
        selected_stars_bin1["v_gc"],
        s=3,
        color="tab:red",
        alpha=0.5,
        zorder=2,
        label=f"selected halo stars, bin1 (N = {len(selected_stars_bin1)})",
    )
    ax.set(
        xlim=fig_cfg["r_range_kpc"],
        ylim=fig_cfg["v_range_kms"],
        xlabel="r_GC [kpc]",
        ylabel="v_GC [km/s]",
        title=f"Quality-cut stars (N = {len(quality_stars)}) and the speed threshold",
    )
    ax.legend(fontsize=7, loc="upper right")
    return fig


def plot_halo_separation(
    quality_stars: pd.DataFrame,
    high_velocity_stars_bin1: pd.DataFrame,
    high_velocity_stars_bin2: pd.DataFrame,
    selection: dict,
    galaxy_frame: dict,
) -> Figure:
    """How halo stars were told from disk stars, per binning: the density of the quality-cut
    stars, the high-velocity stars (halo kept, disk-like removed) and the dividing line. With
    the ``feh_line`` rule the v_phi–[Fe/H] plane; with the kinematic rules (``toomre``,
    ``vphi``) the Toomre diagram, sqrt(v_R² + v_z²) against v_phi [km/s]. Prograde v_phi < 0."""
    fig_cfg = selection["figures"]
    rule = selection["halo_separation"]["rule"]
    fig = Figure(figsize=(11, 4.8))
    axes = fig.subplots(1, 2, sharey=True)
    text = halo_rule(selection)
    by_feh = rule == "feh_line"
    for ax, (name, stars) in zip(axes, (("bin1", high_velocity_stars_bin1), ("bin2", high_velocity_stars_bin2))):
        x_col, x_range = ("feh", fig_cfg["feh_range_dex"]) if by_feh else ("v_phi", fig_cfg["vphi_range_kms"])

        def y_of(table):
            return table["v_phi"] if by_feh else np.hypot(table["v_R"], table["v_z"])

        y_range = fig_cfg["vphi_range_kms"] if by_feh else (0.0, fig_cfg["vphi_range_kms"][1])
        _density(ax, quality_stars[x_col], y_of(quality_stars), x_range, y_range, fig_cfg["density_bins"])
        halo = stars["is_halo"].to_numpy(bool)
        for keep, color, label in ((halo, "tab:blue", "halo, kept"), (~halo, "tab:orange", "disk-like, removed")):
            part = stars[keep]
            ax.scatter(part[x_col], y_of(part), s=3, color=color, label=f"{label} (N = {int(keep.sum())})")
        _draw_halo_boundary(ax, selection, galaxy_frame, x_range, text)
        ax.set(xlim=x_range, ylim=y_range, title=f"High-velocity stars, {name}")
        ax.set_xlabel("[Fe/H] [dex]" if by_feh else "v_phi [km/s] (prograde < 0)")
        ax.legend(fontsize=7, loc="lower left" if by_feh else "upper left")
    axes[0].set_ylabel("v_phi [km/s] (prograde < 0)" if by_feh else "sqrt(v_R² + v_z²) [km/s]")
    fig.suptitle(f"Halo/disk separation: {text}", fontsize=10)
    return fig


def _draw_halo_boundary(ax, selection: dict, galaxy_frame: dict, x_range, text: str) -> None:
    cfg = selection["halo_separation"]
    if cfg["rule"] == "feh_line":
        line = selection["halo_line"]
        feh = np.linspace(*x_range, 50)
        ax.plot(feh, line["slope_kms_per_dex"] * feh + line["intercept_kms"], color="k", lw=1.5, label=text)
    elif cfg["rule"] == "toomre":
        angle = np.linspace(0.0, np.pi, 200)
        radius = float(cfg["toomre_v_min_kms"])
        v_disk = -float(galaxy_frame["vc_R0_kms"])
        ax.plot(v_disk + radius * np.cos(angle), radius * np.sin(angle), color="k", lw=1.5, label=text)
    else:
        ax.axvline(cfg["vphi_min_kms"], color="k", lw=1.5, label=text)
