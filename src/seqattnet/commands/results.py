"""Subcommands that read result JSON files only: evaluate-json (mAP, AR@AN) and diagnose (the error report)."""

from __future__ import annotations

import argparse

from .options import check_out, overwrite_arg


def add_evaluate_json(sub) -> None:
    p = sub.add_parser(
        "evaluate-json",
        help="score a result JSON against ground truth (official ActivityNet semantics)",
        description="Detection mAP (or, with --proposals, AR@AN) of a result JSON against ground truth.",
    )
    p.add_argument("ground_truth", help="ActivityNet JSON, BMN anet_anno_action.json, or THUMOS14 JSON")
    p.add_argument("predictions", help="result JSON: {'results': {video: [{label, score, segment}]}}")
    p.add_argument("--subset", default=None,
                   help="ground-truth subset to evaluate (default: validation if the file has it, else test, "
                        "else every video; THUMOS14 results are usually reported on --subset test)")
    p.add_argument("--protocol", choices=["activitynet", "thumos"], default="activitynet",
                   help="tIoU thresholds: activitynet 0.50:0.05:0.95 (default), thumos 0.3:0.1:0.7")
    p.add_argument("--tious", default=None,
                   help="comma-separated tIoU thresholds, overriding --protocol (default: the protocol's)")
    p.add_argument("--video-info", default=None, help="BMN video_info_new.csv (default: beside the annotation file)")
    p.add_argument("--proposals", action="store_true", help="report AR@AN and AUC instead of mAP (labels ignored)")
    p.add_argument("--ignore-unknown-labels", action="store_true",
                   help="drop predictions whose label is not a ground-truth class instead of failing")
    p.add_argument("--allow-unknown-videos", action="store_true",
                   help="count predictions on videos absent from the ground-truth file as false positives "
                        "(the official evaluator's behaviour) instead of failing")
    p.add_argument("--exact-counts", action="store_true",
                   help="with --proposals: count each video's proposals at a point of the AR-AN curve in exact "
                        "integers instead of the official code's float flooring (which keeps 28, not 29, of 100 "
                        "proposals at 29%%)")
    p.add_argument("--subset-budget", action="store_true",
                   help="with --proposals: set each video's proposal budget from the evaluated videos' proposals "
                        "only, instead of every proposal in the file as the official evaluator does (which keeps "
                        "fewer per video when the file also holds other videos' proposals)")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the metrics")
    p.set_defaults(run=run_evaluate_json)


def run_evaluate_json(args: argparse.Namespace) -> None:
    from ..evaluation.command import evaluate_json_command

    evaluate_json_command(
        ground_truth=args.ground_truth,
        predictions=args.predictions,
        subset=args.subset,
        protocol=args.protocol,
        tious=args.tious,
        video_info=args.video_info,
        proposals=args.proposals,
        ignore_unknown_labels=args.ignore_unknown_labels,
        as_json=args.json,
        allow_unknown_videos=args.allow_unknown_videos,
        exact_counts=args.exact_counts,
        subset_budget=args.subset_budget,
    )


def add_diagnose(sub) -> None:
    p = sub.add_parser("diagnose", help="why a detector fails: DETAD error analysis of a result JSON, as an HTML report",
                       description="False-positive profile, sensitivity, false negatives and boundary errors "
                                   "(after DETAD, Alwassel et al. 2018): OUT/report.html and OUT/diagnosis.json.")
    p.add_argument("ground_truth", help="ActivityNet JSON, BMN anet_anno_action.json, or THUMOS14 JSON")
    p.add_argument("predictions", help="result JSON: {'results': {video: [{label, score, segment}]}}")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for report.html and diagnosis.json")
    p.add_argument("--subset", default=None, help="ground-truth subset (default: validation if the file has it, "
                   "else test, else every video)")
    p.add_argument("--protocol", choices=["activitynet", "thumos"], default="activitynet",
                   help="tIoU thresholds and DETAD's characteristic bins of that dataset")
    p.add_argument("--video-info", default=None, help="BMN video_info_new.csv (default: beside the annotation file)")
    p.add_argument("--ignore-unknown-labels", action="store_true",
                   help="drop predictions whose label is not a ground-truth class instead of failing")
    p.add_argument("--allow-unknown-videos", action="store_true",
                   help="count predictions on videos absent from the ground-truth file as false positives")
    p.add_argument("--instance-count", choices=["video", "class"], default="video",
                   help="what the 'instances' characteristic counts in an instance's video: every instance, all "
                        "classes (default, as DETAD's characteristic files), or only those of its own class")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the headline numbers")
    overwrite_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_diagnose)


def run_diagnose(args: argparse.Namespace) -> None:
    from ..report.diagnosis import REPORT_FILES, diagnose_command

    check_out(args.out, folder=True, overwrite=args.overwrite, outputs=REPORT_FILES)
    diagnose_command(args.ground_truth, args.predictions, args.out, subset=args.subset, protocol=args.protocol,
                     video_info=args.video_info, ignore_unknown_labels=args.ignore_unknown_labels,
                     allow_unknown_videos=args.allow_unknown_videos, as_json=args.json, progress=not args.quiet,
                     instance_count=args.instance_count)
