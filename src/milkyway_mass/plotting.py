"""Plotting helpers shared by the pipelines' figure modules (matplotlib ``Figure`` objects, no pyplot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import corner
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import ScalarFormatter

__all__ = ["corner_plot"]


def corner_plot(sample_sets: Mapping[str, np.ndarray], labels: Sequence[str], title: str, bins: int = 30) -> Figure:
    """Corner plot (the ``corner`` package) of one or more posterior sample sets, overlaid.

    ``sample_sets`` maps a legend label to samples of shape (n, len(labels)). Each set
    gets 1-d histograms (normalised) and 68 % / 95 % contours in its own colour; a
    single set also gets its 16/50/84 % quantiles and their values as panel titles. Tick labels
    carry full values: no axis uses an offset (such as "+1.249e1").
    """
    n = len(labels)
    fig = Figure(figsize=(2.4 * n, 2.4 * n))
    single = len(sample_sets) == 1
    handles = []
    for c, (label, samples) in enumerate(sample_sets.items()):
        colour = f"C{c}"
        corner.corner(
            np.asarray(samples, dtype=float),
            fig=fig,
            labels=list(labels),
            bins=bins,
            color=colour,
            levels=(0.68, 0.95),
            plot_datapoints=False,
            plot_density=False,
            hist_kwargs={"density": True},
            quantiles=(0.16, 0.5, 0.84) if single else (),
            show_titles=single,
            title_fmt=".3g",
        )
        handles.append(Line2D([], [], color=colour, label=label))
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
    if not sample_sets:
        fig.text(0.5, 0.5, "no samples to show", ha="center", va="center")
    elif not single:
        fig.legend(handles=handles, loc="upper right", fontsize=8)
    fig.suptitle(title, y=1.0)
    return fig
