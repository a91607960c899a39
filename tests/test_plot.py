"""The timeline PNG, read as a matplotlib figure: score labels, rows, and labels kept inside the axes."""

from __future__ import annotations

import numpy as np

from seqattnet.plot import plot_timeline, score_text, timeline_figure


def bar_texts(fig) -> list[str]:
    return [t.get_text().strip() for t in fig.axes[0].texts]


def test_scores_print_two_significant_digits():
    # A young model: every score under 0.01, which 2 decimals printed as "0.00" on every bar.
    fig = timeline_figure("v", 10.0, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([0.0031, 0.0012, 0.93]),
                          ["a", "a", "a"])
    assert bar_texts(fig) == ["0.0031", "0.0012", "0.93"]
    assert [score_text(s) for s in (0.5, 1.0, 0.000031)] == ["0.5", "1", "0.000031"]


def test_only_classes_with_ground_truth_get_a_ground_truth_row():
    fig = timeline_figure("v", 10.0, np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.9, 0.8]), ["jump", "run"],
                          np.array([[1.0, 2.5]]), ["jump"], classes=["jump", "run"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["jump", "ground truth", "run"]
    hatched = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert len(hatched) == 1 and hatched[0].get_x() == 1.0 and hatched[0].get_width() == 1.5


def test_last_score_label_stays_inside_the_axes(tmp_path):
    segments = np.array([[0.0, 3.0], [9.7, 10.0], [9.9, 10.0]])
    fig = timeline_figure("v", 10.0, segments, np.array([0.9, 0.123, 0.0456]), ["a", "b", "b"])
    renderer = fig.canvas.get_renderer()
    right = fig.axes[0].get_window_extent(renderer).x1
    texts = fig.axes[0].texts
    assert [t.get_text().strip() for t in texts] == ["0.9", "0.12", "0.046"]
    assert all(t.get_window_extent(renderer).x1 <= right + 0.5 for t in texts)
    assert texts[0].get_horizontalalignment() == "left"  # room enough: after the bar's start, as before
    assert texts[2].get_horizontalalignment() == "right" and texts[2].get_position()[0] == 10.0
    plot_timeline(tmp_path / "v.png", "v", 10.0, segments, np.array([0.9, 0.123, 0.0456]), ["a", "b", "b"])
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
