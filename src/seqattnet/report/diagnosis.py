"""The diagnosis report: OUT/report.html (one self-contained page, pictures embedded as base64 PNG) and
OUT/diagnosis.json (every number), and the `seqattnet diagnose` command that writes them."""

from __future__ import annotations

import base64
import html
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, TextIO

import numpy as np

from ..errors import counted
from ..evaluation.characteristics import BINS
from ..evaluation.command import read_inputs
from ..evaluation.diagnosis import Diagnosis, diagnose
from ..evaluation.false_positives import ERROR_TYPES
from ..evaluation.protocols import resolve_tious
from ..files import atomic_writes
from . import diagnosis_plots as plots

REPORT_FILES = ("report.html", "diagnosis.json")  # what a diagnosis writes into its folder

SECTIONS = (("map", "mAP"), ("pr-curves", "PR curves"), ("false-positives", "False positives"),
            ("sensitivity", "Sensitivity"), ("false-negatives", "False negatives"),
            ("boundary-errors", "Boundary errors"), ("per-class", "Per class"))


def write_diagnosis_report(out_dir: str | Path, diagnosis: Diagnosis, title: str | None = None,
                           meta: str = "") -> tuple[Path, Path]:
    """Write OUT/report.html and OUT/diagnosis.json (created if missing). -> (page, json) paths.

    title: the page's title, naming what is diagnosed (default: "Detection diagnosis: " and OUT's name).
    Both are computed before either is written, and written together through temporary files, so a failure
    (a chart that cannot be drawn, a full disk) leaves the previous report and numbers as they were.
    """
    out = Path(out_dir)
    title = f"Detection diagnosis: {out.resolve().name}" if title is None else title
    page_text, document_text = render(diagnosis, title, meta), json.dumps(diagnosis.to_dict(), allow_nan=False)
    out.mkdir(parents=True, exist_ok=True)
    page, document = (out / name for name in REPORT_FILES)
    with atomic_writes([page, document]) as (page_tmp, document_tmp):
        page_tmp.write_text(page_text, encoding="utf-8")
        document_tmp.write_text(document_text, encoding="utf-8")
    return page, document


def render(d: Diagnosis, title: str, meta: str) -> str:
    bodies = {"map": _map_section, "pr-curves": _pr_section, "false-positives": _fp_section,
              "sensitivity": _sensitivity_section, "false-negatives": _fn_section,
              "boundary-errors": _boundary_section, "per-class": _class_section}
    sections = "\n".join(f'<section id="{key}">\n<h2>{name}</h2>\n{bodies[key](d)}\n</section>'
                         for key, name in SECTIONS)
    counts = d.counts
    facts = (f"{counts['videos']:,} videos, {counts['instances']:,} instances, {counts['classes']} classes, "
             f"{counts['predictions']:,} predictions ({counts['predictions_off_ground_truth']:,} on videos "
             f"without ground truth); protocol {d.protocol}")
    template = resources.files("seqattnet.report").joinpath("diagnosis.html").read_text(encoding="utf-8")
    fill = {"@@TITLE@@": html.escape(title), "@@META@@": html.escape(f"{meta} {facts}".strip()),
            "@@NAV@@": " ".join(f'<a href="#{key}">{name}</a>' for key, name in SECTIONS),
            "@@SECTIONS@@": sections}
    for key, value in fill.items():
        template = template.replace(key, value)
    return template


def _image(fig, alt: str) -> str:
    """A matplotlib figure as an embedded PNG."""
    data = base64.b64encode(plots.png(fig)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "–" if not np.isfinite(value) else plots.number(value, 2)
    return html.escape(str(value))


def _pct(value: float) -> float:
    return 100 * float(value)


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _map_section(d: Diagnosis) -> str:
    m, ap_n = d.detection, d.ap_n.mean(axis=0)
    rows = [(f"{t:.2f}", _pct(a), _pct(n)) for t, a, n in zip(d.tious, m.mAP, ap_n)]
    rows.append(("average", _pct(m.average_mAP), _pct(d.average_mAP_n)))
    return (_note(f"mAP as the official ActivityNet evaluator; mAP_N is DETAD's normalized mAP: precision as if "
                  f"every class had N = {d.normalizer:.2f} instances (the mean per class), so classes compare.")
            + _table(("tIoU", "mAP (%)", "mAP_N (%)"), rows))


def _pr_section(d: Diagnosis) -> str:
    return (_note("Interpolated precision at each recall, averaged over the classes.")
            + _image(plots.pr_curves(d.pr), "precision-recall curves"))


def _fp_section(d: Diagnosis) -> str:
    fp = d.false_positives
    share = [[f"{s + 1}G", int(fp.n[s]), *(_pct(v) for v in fp.share[s])] for s in range(len(fp.n))]
    gains = [(name, _pct(g)) for name, g in zip(ERROR_TYPES[1:], fp.gain)]
    return (_note("Top 10 G predictions of each class (G: its instances), in slices of G by rank; shares are "
                  "means over the tIoU thresholds. The gain is the rise of average-mAP_N on those predictions "
                  f"(now {_pct(fp.average_mAP_n):.2f} %) if the false positives of one type were removed.")
            + _image(plots.false_positive_profile(fp), "false-positive profile")
            + _table(("slice", "predictions", *(f"{t} (%)" for t in ERROR_TYPES)), share)
            + _table(("removed error type", "average-mAP_N gain (points)"), gains))


def _binned_rows(d: Diagnosis, value: Callable) -> list[list]:
    return [[name, b.label, b.interval, b.instances, value(b)]
            for name, bins in d.sensitivity.items() for b in bins]


def _sensitivity_section(d: Diagnosis) -> str:
    rows = _binned_rows(d, lambda b: _pct(b.average_mAP_n))
    counted_in_video = "every instance" if d.instance_count == "video" else "the instances of its class"
    return (_note("Average-mAP_N on the instances of each bin: coverage (length over the video's duration), "
                  f"length in seconds, and instances per video ({counted_in_video} of the instance's video). "
                  "Labels under the bars: bin and instance count.")
            + _image(plots.binned(d.sensitivity, "average_mAP_n", d.average_mAP_n, "average-mAP_N (%)"),
                     "sensitivity by characteristic")
            + _table(("characteristic", "bin", "range", "instances", "average-mAP_N (%)"), rows))


def _fn_section(d: Diagnosis) -> str:
    rows = _binned_rows(d, lambda b: _pct(b.false_negative_average))
    overall = [(f"{t:.2f}", _pct(v)) for t, v in zip(d.tious, d.false_negative)]
    return (_note("Share of the instances not detected, averaged over the tIoU thresholds; a match counts only "
                  "where its class's normalized precision down to it exceeds 5 % (DETAD).")
            + _image(plots.binned(d.sensitivity, "false_negative_average", float(d.false_negative.mean()),
                                  "missed (%)"), "false negatives by characteristic")
            + _table(("characteristic", "bin", "range", "instances", "missed (%)"), rows)
            + _table(("tIoU", "missed (%)"), overall))


def _boundary_section(d: Diagnosis) -> str:
    data = d.boundary.to_dict()
    names = ("start_s", "end_s", "start_fraction", "end_fraction")
    stats = ("n", "mean", "median", "mean_abs", "p10", "p90")
    rows = [[name, *(data[name].get(s, float("nan")) for s in stats)] for name in names]
    return (_note(f"Prediction minus instance, for the {counted(data['matched'], 'detection')} matched at tIoU "
                  f"{d.boundary.tiou:.2f}; negative: the prediction starts (or ends) too early.")
            + _image(plots.boundary_histograms(d.boundary), "boundary error histograms")
            + _table(("error", *stats), rows))


def _class_section(d: Diagnosis) -> str:
    columns = [k for k, t in enumerate(d.tious) if any(abs(t - u) < 1e-9 for u in (0.5, 0.75, 0.95))]
    order = np.argsort(-d.detection.ap.mean(axis=1), kind="stable")
    rows = [[d.classes[c], *(_pct(d.detection.ap[c, k]) for k in columns), _pct(d.detection.ap[c].mean()),
             _pct(d.ap_n[c].mean())] for c in order]
    header = ("class", *(f"AP@{d.tious[k]:.2f} (%)" for k in columns), "average AP (%)", "average AP_N (%)")
    return (f"<details open><summary>{len(rows)} classes, best first (every threshold in diagnosis.json)"
            f"</summary>{_table(header, rows)}</details>")


def diagnose_command(ground_truth: str | Path, predictions: str | Path, out_dir: str | Path,
                     subset: str | None = None, protocol: str = "activitynet", video_info: str | Path | None = None,
                     ignore_unknown_labels: bool = False, allow_unknown_videos: bool = False,
                     as_json: bool = False, progress: bool = True, out: TextIO | None = None,
                     instance_count: str = "video") -> Diagnosis:
    """`seqattnet diagnose`: read both files as `evaluate-json` does, diagnose, write the report, print a
    summary (and, with `as_json`, one JSON object of the headline numbers as the last line). progress: a
    bar of the two steps after reading on stderr. instance_count: as `diagnose`."""
    from tqdm import tqdm

    out = out or sys.stdout
    tious = resolve_tious(protocol)
    inputs = read_inputs(ground_truth, predictions, subset, video_info, allow_unknown_videos)  # errors before any bar
    with tqdm(total=2, desc="diagnose", unit="step", disable=not progress, file=sys.stderr) as bar:
        bar.set_postfix_str("analysing")
        diagnosis = diagnose(inputs.evaluated, inputs.results, tious, protocol=protocol, bins=BINS[protocol],
                             ignore_unknown_labels=ignore_unknown_labels, source=str(predictions),
                             instance_count=instance_count)
        bar.update()
        bar.set_postfix_str("writing the report")
        meta = f"ground truth {ground_truth} (subset {inputs.subset or 'all'}), predictions {predictions}:"
        page, document = write_diagnosis_report(out_dir, diagnosis, f"Detection diagnosis: {Path(predictions).name}",
                                                meta=meta)
        bar.update()
    print(inputs.describe(), file=out)
    print(summary_text(diagnosis), file=out)
    print(f"report: {page}   numbers: {document}", file=out)
    if as_json:
        print(json.dumps(headline(diagnosis, page, document)), file=out)
    return diagnosis


def summary_text(d: Diagnosis) -> str:
    """The console summary: the headline mAPs, what the top-G predictions are (shares of all of them,
    true positives included, so the six add up to 100 %), the error type whose removal gains most, misses."""
    fp = d.false_positives
    worst = largest_gain(d)
    gain = ("removing no single error type would raise average mAP_N (every gain is 0)" if worst is None else
            f"removing {worst} errors would gain {_pct(float(fp.gain.max())):.2f} points of "
            "average mAP_N")
    return (f"average mAP {_pct(d.detection.average_mAP):.2f} %, average mAP_N {_pct(d.average_mAP_n):.2f} %; "
            "top-G predictions of each class (G: its instances): "
            + ", ".join(f"{t} {_pct(v):.1f} %" for t, v in zip(ERROR_TYPES, np.nan_to_num(fp.share[0])))
            + f" of them; {gain}; {_pct(d.false_negative.mean()):.1f} % of instances missed (mean over tIoU)")


def largest_gain(d: Diagnosis) -> str | None:
    """The error type whose removal raises average mAP_N most; None when no removal raises it (a gain
    within rounding of 0 counts as none)."""
    gains = d.false_positives.gain
    return ERROR_TYPES[1 + int(np.argmax(gains))] if float(gains.max()) > 1e-12 else None


def headline(d: Diagnosis, page: Path, document: Path) -> dict:
    """The `--json` line; largest_gain is None (null) when no removal raises average mAP_N."""
    gains = d.false_positives.gain
    return {"average_mAP": d.detection.average_mAP, "average_mAP_n": d.average_mAP_n,
            "removal_gain": dict(zip(ERROR_TYPES[1:], gains.tolist())),
            "largest_gain": largest_gain(d),
            "missed": float(d.false_negative.mean()), "report": str(page), "diagnosis": str(document)}
