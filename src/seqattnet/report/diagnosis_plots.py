"""The pictures of the diagnosis report, each a matplotlib Figure (`png` turns one into PNG bytes).

Figures are built with matplotlib.figure.Figure (no pyplot state), so nothing is shown or kept open, and
tests can read their texts, ticks and legends.
"""

from __future__ import annotations

import io

import numpy as np

from ..evaluation.characteristics import BinStats, BoundaryErrors
from ..evaluation.diagnosis import PrecisionRecall
from ..evaluation.false_positives import ERROR_TYPES, FalsePositiveProfile

# DETAD's colours for true positives and the five error types, in ERROR_TYPES order
TYPE_COLOURS = ("#33a02c", "#b2df8a", "#1f78b4", "#fb9a99", "#e31a1c", "#a6cee3")
CHARACTERISTIC_COLOURS = {"coverage": "#386cb0", "length": "#f0027f", "instances": "#bf5b17"}
CLIPPED_COLOUR = "#ff7f00"  # an outer histogram bar that also holds the values beyond the range
DPI = 90  # sharp enough in a browser, small enough to embed a page of them


def number(value: float, digits: int) -> str:
    """`value` with `digits` decimals, without the minus sign of a value that rounds to zero ("-0.00")."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _figure(width: float, height: float, rows: int = 1, columns: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, columns)


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def pr_curves(pr: PrecisionRecall):
    fig, ax = _figure(5.5, 4.0)
    for j, t in enumerate(pr.tious):
        ax.plot(pr.recall, pr.precision[j], label=f"tIoU {t:.2f} (mAP {number(100 * pr.mAP[j], 1)} %)")
    ax.set(xlabel="recall", ylabel="precision (interpolated, mean over classes)", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return fig


def false_positive_profile(fp: FalsePositiveProfile):
    """DETAD's Fig. 3: the type shares per slice of G (stacked) and the gain from removing each type."""
    fig, (left, right) = _figure(10.0, 4.6, columns=2)
    share = np.nan_to_num(fp.share) * 100
    x = np.arange(len(fp.n))
    bottom = np.zeros(len(x))
    for i, name in enumerate(ERROR_TYPES):
        left.bar(x, share[:, i], bottom=bottom, color=TYPE_COLOURS[i], label=name, width=0.85)
        bottom += share[:, i]
    left.set(xticks=x, xticklabels=[f"{s + 1}G" for s in x], ylim=(0, 100), xlabel="predictions of rank",
             ylabel="share (%)", title="false-positive profile")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3)
    gains = fp.gain * 100
    bars = right.bar(np.arange(len(gains)), gains, color=TYPE_COLOURS[1:])
    right.bar_label(bars, labels=[number(g, 2) for g in gains], fontsize=8)
    right.set(xticks=np.arange(len(gains)), ylabel="average-mAP_N gain (points)", title="removing each error type")
    right.set_xticklabels(ERROR_TYPES[1:], rotation=30, ha="right")
    right.set_ylim(0, max(float(gains.max()) * 1.2, 0.1))
    return fig


def binned(bins: dict[str, list[BinStats]], value: str, base: float | None, ylabel: str):
    """Bars per bin of each characteristic (`value`: a BinStats field, a fraction), a dashed line at `base`.
    The legend sits above the axes: inside, it would cover the bars near 100 % and their labels."""
    fig, ax = _figure(9.0, 3.9)
    x0, ticks, labels = 0, [], []
    for name, stats in bins.items():
        x = np.arange(x0, x0 + len(stats))
        heights = np.array([getattr(b, value) for b in stats], dtype=float) * 100
        bars = ax.bar(x, np.nan_to_num(heights), color=CHARACTERISTIC_COLOURS.get(name, "#777777"), label=name)
        ax.bar_label(bars, labels=["" if np.isnan(h) else number(h, 1) for h in heights], fontsize=7)
        ticks += list(x)
        labels += [f"{b.label}\n{b.instances}" for b in stats]
        x0 += len(stats) + 1
    if base is not None:
        ax.axhline(100 * base, color="black", linestyle="--", linewidth=1,
                   label=f"all instances {number(100 * base, 1)}")
    ax.set(xticks=ticks, ylabel=ylabel, ylim=(0, 108))
    ax.set_xticklabels(labels, fontsize=8)
    ax.legend(fontsize=8, ncols=4, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    return fig


def boundary_histograms(boundary: BoundaryErrors):
    """Four histograms; an outer bar that also holds the values beyond the range is drawn in another
    colour, and a note above the axes (where it covers no bar) says how many it took in."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = _figure(10.0, 5.0, rows=2, columns=2)
    data = boundary.to_dict()
    for ax, name in zip(axes.flat, ("start_s", "end_s", "start_fraction", "end_fraction")):
        h = data[name]["histogram"]
        edges, counts = np.asarray(h["edges"]), np.asarray(h["counts"])
        colours = ["#386cb0"] * len(counts)
        for i, beyond, side, limit, place in ((0, h["below"], "below", edges[0], "left"),
                                              (-1, h["above"], "above", edges[-1], "right")):
            if beyond:
                colours[i] = CLIPPED_COLOUR
                ax.set_title(f"{beyond} {side} {number(limit, 2)} in the outer bar", loc=place, fontsize=7,
                             color=CLIPPED_COLOUR)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colours)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no fractional ticks
        unit = "seconds" if name.endswith("_s") else "fraction of the instance"
        ax.set(xlabel=f"{name.split('_')[0]} error ({unit}; < 0: early)", ylabel="detections")
    return fig
