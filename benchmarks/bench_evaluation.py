"""Speed of the detection mAP on an ActivityNet-validation-size problem, against the direct algorithm.

Ground truth: the real ActivityNet v1.3 validation subset (4,728 videos, 7,293 instances, 200 classes)
from ../shared/data beside the repository; the benchmark is skipped when it is absent. Predictions:
random but shaped like real ones, seeded: 100 per video, segments uniform within the video, scores
uniform, each labelled with the video's ground-truth class 9 times in 10 (else a random class), so most
predictions contest their video's instances as a real detector's do.

The reference (seqattnet/testing/reference_eval.py: the official algorithm one prediction at a time, without
pandas) would take minutes on all videos: it is timed on a fixed fraction of the videos and
extrapolated linearly (its cost per prediction does not depend on the number of videos).

    python benchmarks/bench_evaluation.py [--json] [--fraction 0.05] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seqattnet.data.annotations import read_annotations
from seqattnet.evaluation import TIOUS, evaluate_detection, evaluate_proposals, write_results
from seqattnet.evaluation.command import evaluate_json_command
from seqattnet.files import load_json
from seqattnet.testing import reference_eval

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "activitynet"  # ../shared beside the repository root


def random_predictions(ground_truth, per_video: int = 100, seed: int = 0) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    classes = ground_truth.classes
    results = {}
    for video_id, video in ground_truth.videos.items():
        ends = np.sort(rng.uniform(0.0, video.duration_s, (per_video, 2)), axis=1)
        scores = rng.uniform(0.0, 1.0, per_video)
        own = rng.random(per_video) < 0.9
        other = rng.integers(0, len(classes), per_video)
        labels = [video.labels[0] if own[i] and video.labels else classes[other[i]] for i in range(per_video)]
        results["v_" + video_id] = [{"label": labels[i], "score": float(scores[i]), "segment": ends[i].tolist()}
                                    for i in range(per_video)]
    return results


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), load average {load:.2f}"


def arguments(doc: str, fraction: float, fast: str) -> argparse.Namespace:
    """The options every evaluation benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    parser.add_argument("--fraction", type=float, default=fraction, help="share of the videos the reference runs on")
    parser.add_argument("--repeat", type=int, default=3, help=f"runs of the {fast} (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def prepare(doc: str, fraction: float, fast: str):
    """-> (the options, `load_problem`'s answer)."""
    args = arguments(doc, fraction, fast)
    return args, load_problem(args.seed)


def load_problem(seed: int):
    """-> (annotation path, validation ground truth, random predictions), or None (said why) without the
    real ground truth. Prints the machine and the problem."""
    annotations = SHARED / "anet_anno_action.json.gz"
    if not annotations.exists():
        print(f"skipped: {annotations} not found (the real ActivityNet ground truth is needed)")
        return None
    print(f"machine: {machine()}")
    ground_truth = read_annotations(annotations).subset("validation")
    results = random_predictions(ground_truth, seed=seed)
    n_predictions = sum(len(p) for p in results.values())
    print(f"problem: {len(ground_truth.videos):,} videos, {n_predictions:,} predictions, "
          f"{len(ground_truth.classes)} classes, {len(TIOUS['activitynet'])} tIoU thresholds")
    return annotations, ground_truth, results


def share_of(ground_truth, results, fraction: float, seed: int):
    """A fixed, seeded share of the videos, with the predictions whose label has an instance there
    (other labels would crash the official algorithm: dropped for both sides)."""
    rng = np.random.default_rng(seed)
    ids = sorted(ground_truth.videos)
    chosen = sorted(rng.choice(len(ids), max(1, round(fraction * len(ids))), replace=False))
    part_gt = type(ground_truth)({ids[i]: ground_truth.videos[ids[i]] for i in chosen}, ground_truth.classes)
    present = {label for i in chosen for label in ground_truth.videos[ids[i]].labels}
    part_results = {"v_" + ids[i]: [p for p in results["v_" + ids[i]] if p["label"] in present] for i in chosen}
    return part_gt, part_results


def main() -> int:
    args, problem = prepare(__doc__, 0.05, "fast evaluator")
    if problem is None:
        return 0
    annotations, ground_truth, results = problem
    tious = TIOUS["activitynet"]

    fast_s, metrics = timed(lambda: evaluate_detection(ground_truth, results, tious), args.repeat)
    print(f"fast mAP (in memory):      {fast_s:8.2f} s   average mAP {100 * metrics.average_mAP:.2f} %")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        write_results(path, results)
        path_mb = path.stat().st_size / 1e6

        files_s, _ = timed(lambda: evaluate_json_command(annotations, path, out=io.StringIO()), args.repeat)
        parse_s, _ = timed(lambda: load_json(path), 1)
    print(f"seqattnet evaluate-json:   {files_s:8.2f} s   both files read, checked and evaluated; "
          f"json.load of the {path_mb:.0f} MB result file alone: {parse_s:.2f} s")
    proposals_s, proposals = timed(lambda: evaluate_proposals(ground_truth, results), args.repeat)
    print(f"fast AR@AN (in memory):    {proposals_s:8.2f} s   AUC {100 * proposals.auc:.2f} %")

    # The reference on a fixed, seeded share of the videos; the fast evaluator must agree there.
    part_gt, part_results = share_of(ground_truth, results, args.fraction, args.seed + 1)
    ids, chosen = sorted(ground_truth.videos), part_gt.videos
    start = time.perf_counter()  # from the same inputs as the fast evaluator: AnnotationSet and result dict
    expected = reference_eval.detection_ap(*reference_eval.flatten(part_gt, part_results), tious)
    reference_part_s = time.perf_counter() - start
    part = evaluate_detection(part_gt, part_results, tious)
    difference = float(np.abs(part.ap - np.array([expected[c] for c in part.classes])).max())
    scale = len(ground_truth.videos) / len(chosen)
    reference_s = reference_part_s * scale
    kept = sum(len(p) for p in part_results.values())
    print(f"reference (direct loop):   {reference_part_s:8.2f} s on {len(chosen)} videos "
          f"({100 * len(chosen) / len(ids):.1f} %, {kept:,} predictions), "
          f"extrapolated x{scale:.1f} to {reference_s:.1f} s")
    print(f"agreement on that share:   max |AP difference| = {difference:.1e}")
    print(f"speed-up: {reference_s / fast_s:.1f}x (in memory), {reference_s / files_s:.1f}x (evaluate-json); "
          f"budget 5 s: {'met' if fast_s <= 5 else 'MISSED'}")
    if args.json:
        print(json.dumps({"fast_s": fast_s, "command_s": files_s, "json_parse_s": parse_s,
                          "proposals_s": proposals_s,
                          "reference_s_extrapolated": reference_s, "reference_fraction": len(chosen) / len(ids),
                          "ratio": reference_s / fast_s, "max_ap_difference": difference,
                          "average_mAP": metrics.average_mAP}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
