"""plotting.corner_plot: panels, overlays and the empty case."""

from __future__ import annotations

import numpy as np

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
