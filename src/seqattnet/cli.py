"""The `seqattnet` command: argument parsing only; the work happens in the package's modules."""

from __future__ import annotations

import argparse
import sys

from .errors import InputError


def _add_evaluate_json(sub) -> None:
    p = sub.add_parser(
        "evaluate-json",
        help="score a result JSON against ground truth (official ActivityNet semantics)",
        description="Detection mAP (or, with --proposals, AR@AN) of a result JSON against ground truth.",
    )
    p.add_argument("ground_truth", help="ActivityNet JSON, BMN anet_anno_action.json, or THUMOS14 JSON")
    p.add_argument("predictions", help="result JSON: {'results': {video: [{label, score, segment}]}}")
    p.add_argument("--subset", default=None, help="ground-truth subset to evaluate (default: validation, or test for THUMOS files)")
    p.add_argument("--protocol", choices=["activitynet", "thumos"], default="activitynet",
                   help="tIoU thresholds: activitynet 0.50:0.05:0.95 (default), thumos 0.3:0.1:0.7")
    p.add_argument("--tious", default=None, help="comma-separated tIoU thresholds; overrides --protocol")
    p.add_argument("--video-info", default=None, help="BMN video_info_new.csv (default: beside the annotation file)")
    p.add_argument("--proposals", action="store_true", help="report AR@AN and AUC instead of mAP (labels ignored)")
    p.add_argument("--ignore-unknown-labels", action="store_true",
                   help="drop predictions whose label is not a ground-truth class instead of failing")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the metrics")
    p.set_defaults(run=_run_evaluate_json)


def _run_evaluate_json(args: argparse.Namespace) -> None:
    from .evaluation.command import evaluate_json_command

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
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqattnet", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_evaluate_json(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.run(args)
    except (InputError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"seqattnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
