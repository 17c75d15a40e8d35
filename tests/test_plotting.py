"""plotting.corner_plot: panels, overlays and the empty case."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ticker import ScalarFormatter

from milkyway_mass.plotting import corner_plot


def test_corner_plot_overlays_sets_and_titles_a_single_one():
    rng = np.random.default_rng(0)
    one = corner_plot({"posterior": rng.normal(size=(2000, 3))}, ["a", "b", "c"], "one set")
    assert len(one.axes) == 9 and sum(ax.get_frame_on() for ax in one.axes) == 6  # lower triangle of 3 x 3
    assert all(ax.get_title() for ax in (one.axes[0], one.axes[4], one.axes[8]))  # quantiles as titles
    two = corner_plot({"x": rng.normal(size=(2000, 2)), "y": rng.normal(1.0, 1.0, size=(2000, 2))}, ["a", "b"], "two")
    assert [t.get_text() for t in two.legends[0].get_texts()] == ["x", "y"]
    empty = corner_plot({}, ["a", "b"], "none")
    assert "no samples" in " ".join(t.get_text() for t in empty.texts)


def test_corner_plot_axes_use_no_offset():
    rng = np.random.default_rng(1)
    samples = np.column_stack([rng.normal(12.49, 0.002, 4000), rng.normal(1000.0, 0.01, 4000)])  # e.g. log10 M200
    for sets in ({"one": samples}, {"one": samples, "two": samples + 0.001}):
        fig = corner_plot(sets, ["log10 M200", "c"], "offsets")
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                formatter = axis.get_major_formatter()
                assert not isinstance(formatter, ScalarFormatter) or formatter.get_useOffset() is False
                assert axis.get_offset_text().get_text() == ""
