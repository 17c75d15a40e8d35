"""Figures of the `calibration` pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_coverage(coverage: pd.DataFrame) -> Figure:
    """Per-bin 68 % coverage and mean bias of every estimator × error setting, one line per DF; target bands shaded."""
    per_bin = coverage[coverage["bin"] >= 0]
    groups = list(per_bin.groupby(["estimator", "errors"], sort=False))
    fig = Figure(figsize=(4.2 * max(len(groups), 1), 6.0), layout="constrained")
    axes = fig.subplots(2, max(len(groups), 1), squeeze=False, sharey="row")
    for col, ((est, err), g) in enumerate(groups):
        top, bottom = axes[0, col], axes[1, col]
        top.axhspan(0.61, 0.75, color="0.9")
        top.axhline(0.683, color="0.5", lw=0.8)
        bottom.axhspan(-0.01, 0.01, color="0.9")
        bottom.axhline(0.0, color="0.5", lw=0.8)
        for c, (df_name, d) in enumerate(g.groupby("df", sort=False)):
            x = np.arange(len(d))
            top.plot(x, d["coverage_68"], "o-", ms=3, color=f"C{c}", label=df_name)
            bottom.plot(x, d["mean_bias"], "o-", ms=3, color=f"C{c}")
            bottom.set_xticks(x, [f"{b}{n}" for b, n in zip(d["binning"].str[-1], d["bin"])], fontsize=7)
        top.set_title(f"{est}, errors: {err}", fontsize=9)
        top.set_ylim(0, 1)
        bottom.set_xlabel("binning, bin")
        top.legend(fontsize=7)
    axes[0, 0].set_ylabel("68 % coverage")
    axes[1, 0].set_ylabel("mean bias (median/true − 1)")
    fig.suptitle("Simulation-based calibration of the v_esc estimators (shaded: targets)")
    return fig
