"""Timeline pictures of detections against ground truth, like the paper's Figure 6."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import atomic_write

MIN_ALPHA = 0.2  # the weakest detection stays visible; the best is opaque


def pack_lanes(segments_s: np.ndarray) -> tuple[np.ndarray, int]:
    """segments_s: float[N, 2] -> (lane int64[N], lane count): each segment, by start, takes the first lane
    that is free at its start, so overlapping segments of one class sit on separate lanes."""
    lane, ends = np.zeros(len(segments_s), dtype=np.int64), []
    for i in np.argsort(segments_s[:, 0], kind="stable"):
        k = next((k for k, end in enumerate(ends) if end <= segments_s[i, 0]), len(ends))
        if k == len(ends):
            ends.append(0.0)
        ends[k], lane[i] = segments_s[i, 1], k
    return lane, max(len(ends), 1)


def score_text(score: float) -> str:
    """A score to 2 significant digits, never in e-notation: 0.93, 0.5, 0.0012 (a young model's scores
    are all small, and 2 decimals would print "0.00" on every bar)."""
    return np.format_float_positional(float(score), precision=2, unique=True, fractional=False, trim="-")


def plot_timeline(path: str | Path, video_id: str, duration_s: float, segments_s: np.ndarray, scores: np.ndarray,
                  labels: list[str], truth_segments_s: np.ndarray | None = None, truth_labels: list[str] | None = None,
                  max_detections: int = 10, classes: list[str] | None = None) -> None:
    """Write `timeline_figure(...)` (same arguments) to `path` as PNG, through a temporary file."""
    fig = timeline_figure(video_id, duration_s, segments_s, scores, labels, truth_segments_s, truth_labels,
                          max_detections, classes)
    with atomic_write(path, suffix=".tmp" + Path(path).suffix) as tmp:  # savefig picks the format by the suffix
        fig.savefig(tmp)


def timeline_figure(video_id: str, duration_s: float, segments_s: np.ndarray, scores: np.ndarray, labels: list[str],
                    truth_segments_s: np.ndarray | None = None, truth_labels: list[str] | None = None,
                    max_detections: int = 10, classes: list[str] | None = None):
    """A matplotlib Figure with one row per class: the `max_detections` best detections (opacity = score,
    overlapping ones on extra lanes, each labelled with its score) and, underneath, hatched ground truth
    for the classes that have some.

    segments_s: float[M, 2] seconds, best first; scores: [M]; labels: M class names; truth_segments_s:
    float[K, 2] with K `truth_labels`. classes: the full class list, when given, orders the rows and picks
    each class's colour by its index (as the HTML report does); otherwise rows follow first appearance.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = min(max_detections, len(scores))
    segments = np.asarray(segments_s, dtype=np.float64).reshape(-1, 2)[:n]
    scores, labels = np.asarray(scores, dtype=np.float64)[:n], list(labels[:n])
    truth = None if truth_segments_s is None else np.asarray(truth_segments_s, dtype=np.float64).reshape(-1, 2)
    truth_labels = list(truth_labels or [])
    named = list(dict.fromkeys(labels + truth_labels))
    order = list(classes) + sorted(set(named) - set(classes)) if classes else named
    shown = [c for c in order if c in named]
    top = max(float(scores.max()) if n else 1.0, 1e-12)
    colors = matplotlib.colormaps["tab10"].colors

    rows, y = [], 0.0  # (y, tick label, is truth) per drawn row, top to bottom
    bars = []  # (y, start, end, face, edge, hatch, text)
    for name in shown:
        color = colors[order.index(name) % len(colors)]
        mine = np.array([i for i, label in enumerate(labels) if label == name], dtype=np.int64)
        lane, count = pack_lanes(segments[mine])
        for i, k in zip(mine, lane):
            alpha = min(MIN_ALPHA + (1 - MIN_ALPHA) * max(scores[i], 0.0) / top, 1.0)  # rounding can pass 1
            bars.append((y + k, *segments[i], (*color, alpha), "none", None, score_text(scores[i])))
        rows.append((y + (count - 1) / 2, name, False))
        y += count
        if truth is not None and name in truth_labels:  # a class without ground truth gets no empty row
            for (start, end), label in zip(truth, truth_labels):
                if label == name:
                    bars.append((y, start, end, "none", color, "////", None))
            rows.append((y, "ground truth", True))
            y += 1
        y += 0.4  # a gap between classes

    fig = Figure(figsize=(10, 0.9 + 0.28 * max(y, 1)), dpi=150)
    FigureCanvasAgg(fig)  # a renderer, to measure the score labels below
    ax = fig.subplots()
    texts = []  # (text, end of its bar)
    for row_y, start, end, face, edge, hatch, text in bars:
        ax.barh(row_y, end - start, left=start, height=0.8, color=face, edgecolor=edge, hatch=hatch, linewidth=1)
        if text:
            texts.append((ax.text(start, row_y, f" {text}", va="center", fontsize=6, color="black"), end))
    ax.set_yticks([r[0] for r in rows], [r[1] for r in rows], fontsize=7)
    for tick, (_, _, is_truth) in zip(ax.get_yticklabels(), rows):
        tick.set_color("dimgray" if is_truth else "black")
    ax.set_xlim(0, duration_s)
    ax.set_ylim(max(y - 0.4, 1) - 0.5, -0.6)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("seconds")
    ax.set_title(f"{video_id}: {n} best of {len(np.asarray(segments_s).reshape(-1, 2))} detections", fontsize=9)
    fig.tight_layout()
    _keep_inside(ax, texts, duration_s)
    return fig


def _keep_inside(ax, texts: list, duration_s: float) -> None:
    """A score label that would run past the right edge ends at its bar's end (or the edge) instead."""
    renderer = ax.figure.canvas.get_renderer()
    right = ax.get_window_extent(renderer).x1
    for text, end_s in texts:
        if text.get_window_extent(renderer).x1 > right:
            text.set(x=min(end_s, duration_s), horizontalalignment="right", text=f"{text.get_text().strip()} ")
