"""Figures of the ``escape_velocity`` pipeline: tail fits per bin, corner plots and the v_esc curve.

Units: km/s, kpc.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from milkyway_mass.galaxy.tail.fit import kept_samples
from milkyway_mass.galaxy.tail.likelihood import TailLikelihood, parameter_names
from milkyway_mass.plotting import corner_plot
from milkyway_mass.schemas import BINNINGS, PUBLISHED_VESC_COLUMNS, VESC_CURVE_COLUMNS, require_columns

from .nodes import bin_data

VESC_LABEL = r"$v_{\rm esc}(r_0)$: median and 68 % interval"
WU_LABEL = "Wu et al. 2025, Bin 1"
CORNER_LABELS = {"v_esc": r"$v_{\rm esc}(r_0)$", "k": "$k$", "gamma": r"$\gamma$", "f": "$f$", "b": "$b$"}


def _panel_grid(n: int, ncols: int, size=(3.2, 2.6)):
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _x_max(row: pd.Series, cfg: dict) -> float:
    """Upper speed limit of a tail-fit panel [km/s].

    ``v_max_kms``, widened to the upper end of the tabulated 68 % interval of v_esc(r0) plus one
    histogram bin, but not beyond ``vesc_xlim_cap_kms``.
    """
    needed = row["vesc_median"] + row["vesc_err_plus"] + cfg["hist_bin_kms"]
    return float(max(cfg["v_max_kms"], min(cfg["vesc_xlim_cap_kms"], needed)))


def _mark_vesc(ax, row: pd.Series, x_max: float) -> tuple:
    """The tabulated v_esc(r0) of one bin [km/s]: a vertical line at the median over its shaded 68 % interval.

    A median beyond ``x_max`` [km/s] is shown by an arrow at the panel's right edge with its value.
    Returns the legend handle (band, line).
    """
    median = row["vesc_median"]
    band = ax.axvspan(median - row["vesc_err_minus"], median + row["vesc_err_plus"], color="C3", alpha=0.15, lw=0)
    line = ax.axvline(median, color="C3", lw=1.0, gid="vesc_median")
    if median > x_max:
        ax.annotate(
            rf"$v_{{\rm esc}}$ = {median:.0f} km/s",
            xy=(1.0, 0.9),
            xycoords="axes fraction",
            xytext=(-24, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=7,
            color="C3",
            arrowprops={"arrowstyle": "->", "color": "C3"},
            gid="vesc_beyond_axis",
        )
    return band, line


def plot_tail_fits(stars: pd.DataFrame, chains: dict, table: pd.DataFrame, params: dict) -> Figure:
    """Per bin: histogram of v_GC [km/s] with the best-fit (L_max) bound, outlier and total models and their 68 % bands,
    and the tabulated v_esc(r0) (``vesc_table_<binning>``: median and 68 % interval) of the chosen fit.

    Model curves are Σ_i p_i(v) × bin width (expected counts per histogram bin). A panel spans
    v_min to ``v_max_kms``, widened to show the v_esc interval up to ``vesc_xlim_cap_kms``; a median
    beyond that is marked by an arrow at the edge. One legend below the panels serves them all.
    """
    cfg = params["figures"]
    require_columns(table, VESC_CURVE_COLUMNS, f"vesc_table_{chains['binning']}")
    rows = table.set_index("bin")
    rng = np.random.default_rng(cfg["seed"])
    bins = chains["bins"]
    width = cfg["hist_bin_kms"]
    fig, axes = _panel_grid(len(bins), cfg["ncols"])
    entries = {}
    for ax, meta in zip(axes, bins):
        sel = stars[stars["bin"] == meta["bin"]]
        edges = np.arange(meta["v_min"], cfg["v_max_kms"] + width, width)
        _, _, patches = ax.hist(sel["v_gc"], bins=edges, histtype="stepfilled", color="0.8", edgecolor="0.4")
        entries.setdefault("stars", patches[0])
        ax.set_title(f"{meta['r_lo']:g}-{meta['r_hi']:g} kpc, N={meta['n_stars']}", fontsize=9)
        ax.set_xlim(meta["v_min"], cfg["v_max_kms"])
        chosen = chains["chosen"].get(meta["bin"])
        if chosen is None:
            ax.text(0.5, 0.5, meta["status"], transform=ax.transAxes, ha="center", va="center", fontsize=7, wrap=True)
            continue
        row = rows.loc[meta["bin"]]
        x_max = _x_max(row, cfg)
        fit = chains["fits"][(meta["bin"], chosen)]
        like = TailLikelihood(
            bin_data(stars, {**meta, "binning": chains["binning"]}), params["sigma_out_kms"], chains["likelihood"]
        )
        grid = np.linspace(meta["v_min"], x_max, cfg["grid_points"])
        bound, outlier = like.model_curves(fit["theta_max"], grid)
        kept = kept_samples(fit)
        draws = kept[rng.integers(0, len(kept), cfg["band_draws"])].astype(float)
        curves = [like.model_curves(chunk, grid) for chunk in np.array_split(draws, max(1, len(draws) // 20))]
        band_b = np.concatenate([c[0] for c in curves])
        band_o = np.concatenate([c[1] for c in curves])
        for best, band, style, label in (
            (bound + outlier, band_b + band_o, "C0-", "total"),
            (bound, band_b, "C1--", "bound"),
            (outlier, band_o, "C2:", "outlier"),
        ):
            lo, hi = np.percentile(band * width, [16, 84], axis=0)
            shade = ax.fill_between(grid, lo, hi, color=style[:2], alpha=0.25, lw=0)
            (line,) = ax.plot(grid, best[0] * width, style)
            entries.setdefault(f"{label} (68 % band)", (shade, line))
        if x_max > cfg["v_max_kms"]:
            entries.setdefault(
                r"beyond the $v_{\rm GC}$ cut", ax.axvspan(cfg["v_max_kms"], x_max, color="0.93", lw=0, zorder=0)
            )
        entries.setdefault(VESC_LABEL, _mark_vesc(ax, row, x_max))
        ax.set_xlim(meta["v_min"], x_max)
    for ax in axes[: len(bins)]:
        ax.set_xlabel(r"$v_{\rm GC}$ [km/s]", fontsize=8)
        ax.set_ylabel(f"stars / {width:g} km/s", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=min(len(entries), 3),
        fontsize=7,
        frameon=False,
    )
    fig.suptitle(f"Tail fits, {chains['binning']} ({chains['likelihood']} likelihood)")
    return fig


def plot_corner(chains: dict, params: dict) -> Figure:
    """Corner plot of (v_esc, k, γ, f, and b if fitted) for the configured bins (chosen k range), overlaid."""
    cfg = params["figures"]
    wanted = [b for b in cfg["corner_bins"] if b in chains["chosen"]]
    meta = {m["bin"]: m for m in chains["bins"]}
    samples = {
        f"bin {b}: r0={meta[b]['r0']:.1f} kpc": kept_samples(chains["fits"][(b, chains["chosen"][b])]) for b in wanted
    }
    labels = [CORNER_LABELS[name] for name in parameter_names(chains["likelihood"])]
    return corner_plot(
        samples,
        labels,
        f"Posterior of the chosen fits, {chains['binning']} ({chains['likelihood']} likelihood)",
        int(cfg["corner_hist_bins"]),
    )


def _plot_published_curve(ax, published: pd.DataFrame):
    """The published Wu et al. (2025) Bin 1 curve (Table A1): median v_esc [km/s] against r_GC [kpc] over its 68 % band.

    Returns the line (labelled) and the band.
    """
    require_columns(published, PUBLISHED_VESC_COLUMNS, "published_vesc_bin1")
    wu = published.sort_values("r_gc_kpc")
    r, v = wu["r_gc_kpc"].to_numpy(dtype=float), wu["vesc_kms"].to_numpy(dtype=float)
    band = ax.fill_between(
        r, v - wu["err_minus_kms"], v + wu["err_plus_kms"], color="0.6", alpha=0.3, lw=0, zorder=0, gid="wu2025_bin1"
    )
    (line,) = ax.plot(r, v, color="0.4", lw=1.2, zorder=1, label=WU_LABEL, gid="wu2025_bin1")
    return line, band


def plot_vesc_curve(
    table_bin1: pd.DataFrame,
    table_bin2: pd.DataFrame,
    vesc_at_sun: dict,
    published_bin1: pd.DataFrame,
    galaxy_frame: dict,
    params: dict,
) -> Figure:
    """The v_esc(r0) curve [km/s against kpc] of both binnings (68 % intervals, the number of stars of each bin
    written beside its point), v_esc at R0, the published Wu et al. (2025) Bin 1 curve (68 % band) and the
    published reference points of other tracers.
    """
    cfg = params["figures"]
    fig = Figure(figsize=(9.0, 4.8), layout="constrained")
    ax = fig.subplots()
    r_sun = float(galaxy_frame["R0_kpc"])
    wu_line, wu_band = _plot_published_curve(ax, published_bin1)
    for c, (binning, table) in enumerate(zip(BINNINGS, (table_bin1, table_bin2))):
        require_columns(table, (*VESC_CURVE_COLUMNS, "n_stars"), f"vesc_table_{binning}")
        ok = table[table["status"] == "ok"]
        ax.errorbar(
            ok["r0"],
            ok["vesc_median"],
            yerr=[ok["vesc_err_minus"], ok["vesc_err_plus"]],
            fmt="o-",
            ms=4,
            color=f"C{c}",
            capsize=2,
            label=f"this run, {binning} (numbers: stars per bin)",
        )
        above = c % 2 == 0
        for row in ok.itertuples():
            ax.annotate(
                f"{row.n_stars}",
                xy=(row.r0, row.vesc_median + row.vesc_err_plus if above else row.vesc_median - row.vesc_err_minus),
                xytext=(0, 2 if above else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if above else "top",
                fontsize=6,
                color=f"C{c}",
                gid=f"n_stars_{binning}",
            )
        sun = vesc_at_sun.get(binning, {}).get("interpolated", {})
        if sun.get("status") == "ok":
            ax.errorbar(
                [r_sun],
                [sun["median"]],
                yerr=[[sun["err_minus"]], [sun["err_plus"]]],
                fmt="*",
                ms=11,
                color=f"C{c}",
                mec="k",
                capsize=2,
                label=f"{binning} at R0",
            )
    markers = iter("sDv^<>ph")
    for ref in cfg["reference_points"]:
        r = np.array([r_sun if x == "R0" else float(x) for x in ref["r_kpc"]])
        ax.errorbar(
            r,
            ref["vesc_kms"],
            yerr=[ref["err_minus_kms"], ref["err_plus_kms"]],
            fmt=next(markers),
            ms=5,
            color="0.3",
            mfc="none",
            capsize=2,
            label=ref["label"],
        )
    ax.axvline(r_sun, color="0.7", lw=0.8, ls=":")
    ax.set_xlabel(r"$r_{\rm GC}$ [kpc]")
    ax.set_ylabel(r"$v_{\rm esc}$ [km/s]")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        [(wu_band, wu_line) if h is wu_line else h for h in handles],
        labels,
        loc="outside right upper",
        fontsize=8,
    )
    ax.set_title(f"Escape-velocity curve ({params['likelihood']} likelihood)")
    return fig
