"""Timeline pictures of detections against ground truth, like the paper's Figure 6."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_timeline(path: str | Path, video_id: str, duration_s: float, segments_s: np.ndarray, scores: np.ndarray,
                  labels: list[str], truth_segments_s: np.ndarray | None = None, truth_labels: list[str] | None = None,
                  max_detections: int = 10) -> None:
    """A PNG: ground truth on the lower row, the best detections above it (opacity = score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(max_detections, len(scores))
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.32 * (n + 1)), dpi=100)
    top = max(float(scores[:n].max()) if n else 1.0, 1e-12)
    for row, ((start, end), score, label) in enumerate(zip(segments_s[:n], scores[:n], labels[:n]), start=1):
        ax.barh(row, end - start, left=start, height=0.7, color="tab:blue", alpha=0.25 + 0.75 * score / top)
        ax.text(start, row, f" {label} {score:.2f}", va="center", fontsize=7)
    if truth_segments_s is not None:
        for (start, end), label in zip(truth_segments_s, truth_labels or []):
            ax.barh(0, end - start, left=start, height=0.7, color="tab:green")
            ax.text(start, 0, f" {label}", va="center", fontsize=7, color="white")
    ax.set_yticks([0] + list(range(1, n + 1)), ["truth"] + [f"#{i}" for i in range(1, n + 1)], fontsize=7)
    ax.set_xlim(0, duration_s)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(video_id, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
