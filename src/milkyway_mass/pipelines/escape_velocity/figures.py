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
from milkyway_mass.schemas import BINNINGS

from .nodes import bin_data

CORNER_LABELS = {"v_esc": r"$v_{\rm esc}(r_0)$", "k": "$k$", "gamma": r"$\gamma$", "f": "$f$", "b": "$b$"}


def _panel_grid(n: int, ncols: int, size=(3.2, 2.6)):
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_tail_fits(stars: pd.DataFrame, chains: dict, params: dict) -> Figure:
    """Per bin: histogram of v_GC with the best-fit (L_max) bound, outlier and total models and their 68 % bands.

    Model curves are Σ_i p_i(v) × bin width (expected counts per histogram bin).
    """
    cfg = params["figures"]
    rng = np.random.default_rng(cfg["seed"])
    bins = chains["bins"]
    fig, axes = _panel_grid(len(bins), cfg["ncols"])
    for ax, meta in zip(axes, bins):
        sel = stars[stars["bin"] == meta["bin"]]
        edges = np.arange(meta["v_min"], cfg["v_max_kms"] + cfg["hist_bin_kms"], cfg["hist_bin_kms"])
        ax.hist(sel["v_gc"], bins=edges, histtype="stepfilled", color="0.8", edgecolor="0.4", label="stars")
        ax.set_title(f"{meta['r_lo']:g}-{meta['r_hi']:g} kpc, N={meta['n_stars']}", fontsize=9)
        chosen = chains["chosen"].get(meta["bin"])
        if chosen is None:
            ax.text(0.5, 0.5, meta["status"], transform=ax.transAxes, ha="center", va="center", fontsize=7, wrap=True)
            continue
        fit = chains["fits"][(meta["bin"], chosen)]
        like = TailLikelihood(
            bin_data(stars, {**meta, "binning": chains["binning"]}), params["sigma_out_kms"], chains["likelihood"]
        )
        grid = np.linspace(meta["v_min"], cfg["v_max_kms"], cfg["grid_points"])
        width = cfg["hist_bin_kms"]
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
            ax.fill_between(grid, lo, hi, color=style[:2], alpha=0.25, lw=0)
            ax.plot(grid, best[0] * width, style, label=f"{label} (68 % band)")
        ax.axvline(fit["theta_max"][0], color="C3", lw=0.8)
        ax.set_xlim(meta["v_min"], cfg["v_max_kms"])
    for ax in axes[: len(bins)]:
        ax.set_xlabel(r"$v_{\rm GC}$ [km/s]", fontsize=8)
        ax.set_ylabel(f"stars / {cfg['hist_bin_kms']:g} km/s", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
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


def plot_vesc_curve(
    table_bin1: pd.DataFrame, table_bin2: pd.DataFrame, vesc_at_sun: dict, galaxy_frame: dict, params: dict
) -> Figure:
    """The v_esc(r0) curve of both binnings (68 % intervals), v_esc at R0 and the published reference points."""
    cfg = params["figures"]
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    r_sun = float(galaxy_frame["R0_kpc"])
    for c, (binning, table) in enumerate(zip(BINNINGS, (table_bin1, table_bin2))):
        ok = table[table["status"] == "ok"]
        ax.errorbar(
            ok["r0"],
            ok["vesc_median"],
            yerr=[ok["vesc_err_minus"], ok["vesc_err_plus"]],
            fmt="o-",
            ms=4,
            color=f"C{c}",
            capsize=2,
            label=f"this run, {binning}",
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
    ax.legend(fontsize=8)
    ax.set_title(f"Escape-velocity curve ({params['likelihood']} likelihood)")
    return fig
