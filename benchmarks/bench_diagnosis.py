"""Speed of the error diagnosis on an ActivityNet-validation-size problem, against the direct algorithm.

The problem is bench_evaluation.py's: the real ActivityNet v1.3 validation ground truth (4,728 videos,
200 classes) from ../shared/data beside the repository (skipped when absent), and 100 seeded random
predictions per video. Timed: `diagnose` in memory, and the whole `seqattnet diagnose` command (read
both files, analyse, draw the pictures, write report.html and diagnosis.json).

The reference (seqattnet/testing/reference_diagnosis.py: DETAD's analyses one prediction at a time in plain
Python) would take far too long on all videos: it is timed on a fixed share of the videos and
extrapolated linearly. Its loops over a video's or a class's instances grow with the number of videos,
so the linear extrapolation understates its full time, and the printed ratio is a lower bound.

    python benchmarks/bench_diagnosis.py [--json] [--fraction 0.1] [--repeat 3]
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_evaluation import prepare, share_of, timed  # noqa: E402

from seqattnet.evaluation import TIOUS, write_results  # noqa: E402
from seqattnet.evaluation.characteristics import BINS  # noqa: E402
from seqattnet.evaluation.diagnosis import diagnose  # noqa: E402
from seqattnet.report.diagnosis import diagnose_command  # noqa: E402
from seqattnet.testing import reference_diagnosis  # noqa: E402

BUDGET_S = 15.0  # the whole command on this problem


def reference_inputs(ground_truth, results):
    from seqattnet.structures import canonical_video_id as key

    instances = [(key(vid), label, float(s), float(e)) for vid, video in ground_truth.videos.items()
                 for (s, e), label in zip(video.segments_s, video.labels)]
    predictions = [(key(vid), p["label"], p["score"], *p["segment"]) for vid, ps in results.items() for p in ps]
    durations = {key(vid): video.duration_s for vid, video in ground_truth.videos.items()}
    bins = {name: (b.edges, b.names) for name, b in BINS["activitynet"].items()}
    return instances, predictions, durations, list(TIOUS["activitynet"]), bins


def agreement(fast, expected) -> float:
    """Largest difference between the two on the headline numbers (AP_N per class, gains, bins)."""
    gaps = [np.abs(fast.ap_n - np.array([expected["ap_n_per_class"][c] for c in fast.classes])).max()]
    gaps += [abs(g - expected["gain"][name]) for name, g in zip(reference_diagnosis.TYPES[1:], fast.false_positives.gain)]
    for name, bins in fast.sensitivity.items():
        for b in bins:
            other = expected["sensitivity"][name][b.label]
            gaps.append(0.0 if other is None and np.isnan(b.average_mAP_n) else abs(b.average_mAP_n - other))
    return float(max(gaps))


def main() -> int:
    args, problem = prepare(__doc__, 0.1, "fast code")
    if problem is None:
        return 0
    annotations, ground_truth, results = problem

    fast_s, d = timed(lambda: diagnose(ground_truth, results, TIOUS["activitynet"]), args.repeat)
    print(f"diagnose (in memory):      {fast_s:8.2f} s   average mAP_N {100 * d.average_mAP_n:.2f} %")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        write_results(path, results)
        command_s, _ = timed(lambda: diagnose_command(annotations, path, Path(tmp) / "report", progress=False,
                                                      out=io.StringIO()), args.repeat)
    print(f"seqattnet diagnose:        {command_s:8.2f} s   both files read, analysed, report and JSON written; "
          f"budget {BUDGET_S:.0f} s: {'met' if command_s <= BUDGET_S else 'MISSED'}")

    part_gt, part_results = share_of(ground_truth, results, args.fraction, args.seed + 1)
    start = time.perf_counter()
    expected = reference_diagnosis.diagnose(*reference_inputs(part_gt, part_results))
    reference_part_s = time.perf_counter() - start
    part = diagnose(part_gt, part_results, TIOUS["activitynet"])
    difference = agreement(part, expected)
    scale = len(ground_truth.videos) / len(part_gt.videos)
    reference_s = reference_part_s * scale
    print(f"reference (direct loops):  {reference_part_s:8.2f} s on {len(part_gt.videos)} videos "
          f"({100 / scale:.1f} %), extrapolated linearly x{scale:.1f} to {reference_s:.0f} s (a lower bound)")
    print(f"agreement on that share:   max difference {difference:.1e}")
    print(f"speed-up: >= {reference_s / fast_s:.0f}x (in memory), >= {reference_s / command_s:.0f}x (command)")
    if args.json:
        print(json.dumps({"fast_s": fast_s, "command_s": command_s, "reference_s_extrapolated": reference_s,
                          "reference_fraction": 1 / scale, "ratio": reference_s / fast_s,
                          "max_difference": difference, "average_mAP_n": d.average_mAP_n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
