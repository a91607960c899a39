"""The work of `seqattnet evaluate-json`: read both files, pick the subset, evaluate, print."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..data.annotations import read_annotations
from ..errors import InputError, counted
from ..structures import AnnotationSet
from .detection import DetectionMetrics, evaluate_detection, format_detection_table
from .proposal import ProposalMetrics, evaluate_proposals, format_proposal_table
from .protocols import resolve_tious
from .results import read_results


def evaluate_json_command(
    ground_truth: str | Path,
    predictions: str | Path,
    subset: str | None = None,
    protocol: str = "activitynet",
    tious: str | None = None,
    video_info: str | Path | None = None,
    proposals: bool = False,
    ignore_unknown_labels: bool = False,
    as_json: bool = False,
    allow_unknown_videos: bool = False,
    out: TextIO | None = None,
    exact_counts: bool = False,
    subset_budget: bool = False,
) -> DetectionMetrics | ProposalMetrics:
    """Evaluate a result JSON and print a table (and, with `as_json`, one JSON object as the last line).

    subset: None picks "validation" when the file has it, else "test", else every video.
    tious: "0.5,0.75" overrides the protocol's thresholds (also for --proposals).
    Predictions on a video absent from the whole ground-truth file raise InputError (usually a wrong
    file) unless `allow_unknown_videos`: then they are false positives, as in the official code.
    exact_counts: AR@AN with integer proposal counts instead of the official float flooring.
    subset_budget: AR@AN with the per-video proposal budget from the evaluated videos' proposals only,
    instead of every proposal in the file (the official rule).
    """
    out = out or sys.stdout
    thresholds = resolve_tious(protocol, tious)
    inputs = read_inputs(ground_truth, predictions, subset, video_info, allow_unknown_videos)
    evaluated, results = inputs.evaluated, inputs.results

    # Evaluate first: it checks every prediction, so nothing is printed before a bad-input error.
    if proposals:
        metrics = evaluate_proposals(evaluated, results, tious=thresholds, source=str(predictions),
                                     exact_counts=exact_counts, subset_budget=subset_budget)
        budget = "the evaluated videos' proposals" if subset_budget else "every proposal in the file"
        heading = (f"proposals (labels ignored); tIoU {', '.join(f'{t:.2f}' for t in metrics.tious)}; "
                   f"{'exact' if exact_counts else 'official'} proposal counts; per-video budget from {budget}")
        table = format_proposal_table(metrics)
        summary = {"tious": [round(float(t), 6) for t in metrics.tious],
                   "AR@AN": {str(k): v for k, v in metrics.recall_at.items()}, "AUC": metrics.auc,
                   "AN": metrics.an.tolist(), "AR": metrics.ar.tolist()}
    else:
        metrics = evaluate_detection(evaluated, results, thresholds, ignore_unknown_labels=ignore_unknown_labels,
                                     source=str(predictions))
        heading = f"{counted(len(metrics.classes), 'class')}; tIoU {', '.join(f'{t:.2f}' for t in metrics.tious)}"
        table = format_detection_table(metrics)
        summary = {"tious": [round(float(t), 6) for t in metrics.tious], "mAP": metrics.mAP.tolist(),
                   "average_mAP": metrics.average_mAP}
    print(inputs.describe(), file=out)
    print(heading, file=out)
    print(table, file=out)
    if as_json:
        print(json.dumps(summary), file=out)
    return metrics


@dataclass
class EvaluationInputs:
    """Both files of an evaluation, read and checked: the evaluated subset of the ground truth and the
    result dict (its predictions are checked by the evaluation itself, which names the file)."""

    ground_truth: Path
    predictions: Path
    subset: str | None
    evaluated: AnnotationSet
    results: dict[str, list[dict]]

    def describe(self) -> str:
        """One line: the files, the subset's videos and instances, the predictions."""
        n_predictions = sum(len(p) for p in self.results.values())
        outside = sum(len(p) for v, p in self.results.items() if v not in self.evaluated.videos)
        instances = sum(len(v.labels) for v in self.evaluated.videos.values())
        return (f"ground truth: {self.ground_truth} (subset {self.subset or 'all'}: "
                f"{counted(len(self.evaluated.videos), 'video')}, {counted(instances, 'instance')}); "
                f"predictions: {self.predictions} ({n_predictions:,}, "
                f"{outside:,} on videos outside the subset)")


def read_inputs(ground_truth: str | Path, predictions: str | Path, subset: str | None = None,
                video_info: str | Path | None = None, allow_unknown_videos: bool = False) -> EvaluationInputs:
    """Read the ground truth and the result JSON and pick the subset, as `evaluate_json_command` documents."""
    annotations = read_annotations(ground_truth, video_info)
    results = read_results(predictions, check=False)  # the evaluation checks every prediction, naming the file
    if not allow_unknown_videos:
        _check_videos_known(results, annotations, predictions)
    name = _pick_subset(annotations, subset)
    return EvaluationInputs(Path(ground_truth), Path(predictions), name, annotations.subset(name), results)


def _pick_subset(annotations: AnnotationSet, subset: str | None) -> str | None:
    available = annotations.subsets
    if subset is None:
        return next((name for name in ("validation", "test") if name in available), None)
    if subset.lower() not in available:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(available.items()))
        raise InputError.at(annotations.source, f"no video of subset {subset!r}; the file has: {listed}",
                            field="subset")
    return subset.lower()


def _check_videos_known(results: dict, annotations: AnnotationSet, source: object) -> None:
    unknown = [v for v in results if v not in annotations.videos]
    if unknown:
        raise InputError.at(
            source,
            f"not a video of the ground truth {annotations.source} ({counted(len(unknown), 'such video')}); check the "
            "files, or pass --allow-unknown-videos to count their predictions as false positives",
            video=unknown[0], field="results",
        )
