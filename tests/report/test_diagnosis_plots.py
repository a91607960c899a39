"""The report's figures, read as matplotlib objects: legend placement, marks for clipped values, tick
values and label texts."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from seqattnet.evaluation.characteristics import BINS, BinStats, BoundaryErrors
from seqattnet.report import diagnosis_plots as plots


def drawn(fig):
    """The figure laid out and drawn on an Agg canvas, and its renderer, to measure what is on it."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def full_bins() -> dict[str, list[BinStats]]:
    """Every bin at 97-100 %: the bars and their labels reach the top of the axes."""
    out = {}
    for name, binning in BINS["activitynet"].items():
        out[name] = [BinStats(label, binning.edges[b], binning.edges[b + 1], 10, 1.0 - 0.01 * b, np.zeros(1))
                     for b, label in enumerate(binning.names)]
    return out


def test_binned_legend_covers_no_bar_and_no_label():
    fig = plots.binned(full_bins(), "average_mAP_n", 0.99, "average-mAP_N (%)")
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text()]
    assert [t.get_text() for t in labels[:5]] == ["100.0", "99.0", "98.0", "97.0", "96.0"]
    for artist in [*labels, *ax.patches]:
        assert not legend.overlaps(artist.get_window_extent(renderer)), artist
    figure_box = fig.bbox
    assert all(figure_box.x0 <= t.get_window_extent(renderer).x0 and t.get_window_extent(renderer).y1 <= figure_box.y1
               for t in labels)  # every label inside the picture


def test_boundary_histograms_mark_clipped_values_and_count_in_whole_numbers():
    fractions = np.array([-0.9, -0.7, 0.1, 0.2, 0.6])  # 2 below -0.5, 1 above 0.5
    seconds = np.array([-1.0, 0.5, 0.5, 1.0, 2.0])
    fig = plots.boundary_histograms(BoundaryErrors(0.5, seconds, seconds, fractions, fractions))
    drawn(fig)
    start_fraction = fig.axes[2]
    assert start_fraction.get_title(loc="left") == "2 below -0.50 in the outer bar"
    assert start_fraction.get_title(loc="right") == "1 above 0.50 in the outer bar"
    bars = start_fraction.patches
    assert bars[0].get_height() == 2 and bars[-1].get_height() == 1
    assert bars[0].get_facecolor() == bars[-1].get_facecolor() != bars[20].get_facecolor()
    for ax in fig.axes:
        ticks = ax.get_yticks()
        assert len(ticks) and all(t == int(t) for t in ticks), ticks  # counts: no 0.25 ticks
    # seconds: the range is the 99th percentile of |error| (1.96 s), so 2.0 lies beyond it
    assert fig.axes[0].get_title(loc="right") == "1 above 1.96 in the outer bar"
    assert fig.axes[0].get_title(loc="left") == ""


def test_numbers_never_print_minus_zero():
    assert plots.number(-0.001, 2) == "0.00" and plots.number(-0.006, 2) == "-0.01"
    assert plots.number(0.0, 1) == "0.0" and plots.number(12.345, 1) == "12.3"


@pytest.mark.parametrize("protocol,name,expected", [
    ("activitynet", "coverage", ["[0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]", "(0.8, 1]"]),
    ("activitynet", "length", ["[0, 30]", "(30, 60]", "(60, 120]", "(120, 180]", "> 180"]),
    ("activitynet", "instances", ["1", "2–4", "5–8", "> 8"]),
    ("thumos", "coverage", ["[0, 0.02]", "(0.02, 0.04]", "(0.04, 0.06]", "(0.06, 0.08]", "(0.08, 1]"]),
    ("thumos", "instances", ["1", "2–40", "41–80", "> 80"]),
])
def test_bins_are_written_as_the_docs_write_them(protocol, name, expected):
    binning = BINS[protocol][name]
    assert [binning.interval(b) for b in range(len(binning.names))] == expected
