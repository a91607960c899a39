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
    p.add_argument("--allow-unknown-videos", action="store_true",
                   help="count predictions on videos absent from the ground-truth file as false positives "
                        "(the official evaluator's behaviour) instead of failing")
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
        allow_unknown_videos=args.allow_unknown_videos,
    )


def _config_args(p: argparse.ArgumentParser, default: str | None = "demo") -> None:
    p.add_argument("--config", default=default, help="shipped config name (activitynet, thumos14, demo) or a YAML path")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 (repeatable)")


def _load(args: argparse.Namespace):
    from .config import load_config

    cfg = load_config(args.config, args.set)
    if getattr(args, "seed", None) is not None:
        cfg.train.seed = args.seed
    return cfg


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train SeqAttNet and evaluate it on the validation subset")
    _config_args(p)
    p.add_argument("--out", required=True, help="run folder: checkpoints, resolved config, log, metrics")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's train.seed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from .engine.run import train

    report = train(_load(args), args.out, progress=not args.quiet)
    print(report.table())


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a subset of its dataset")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default=None, help="subset to evaluate (default: the config's data.val_subset)")
    p.add_argument("--out", default=None, help="also write the detections as a result JSON here")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the metrics")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    import json

    from .engine.run import evaluate_checkpoint
    from .evaluation import write_results

    report, _ = evaluate_checkpoint(args.checkpoint, args.split, device=args.device, progress=not args.json)
    if args.out:
        write_results(args.out, report.results)
    print(report.table())
    if args.json:
        print(json.dumps(report.summary()))


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="detect actions in feature files with a trained checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--features", required=True, help="a feature file (.npy, .npz, .pt, .csv) or a folder of them")
    p.add_argument("--fps", type=float, default=None, help="frames per second of the videos (default: config or 30)")
    p.add_argument("--out", default="results.json", help="result JSON (ActivityNet format, seconds)")
    p.add_argument("--plot", default=None, metavar="DIR", help="write one timeline PNG per video here")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> None:
    from .engine.inference import to_results
    from .engine.run import plot_videos, predict_files
    from .evaluation import write_results

    detections, classes = predict_files(args.checkpoint, args.features, fps=args.fps, device=args.device)
    write_results(args.out, to_results(detections, classes))
    print(f"{sum(len(d.scores) for d in detections)} detections in {len(detections)} videos -> {args.out}")
    if args.plot:
        paths = plot_videos(detections, classes, args.plot)
        print(f"{len(paths)} timeline plots -> {args.plot}")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="generate the built-in dataset, train, evaluate and plot (about 10 min on 2 CPU cores)")
    p.add_argument("--out", default="runs/demo", help="run folder (the dataset goes to OUT/data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo config value")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .config import load_config
    from .engine.run import demo

    cfg = load_config("demo", [f"data.root={Path(args.out) / 'data'}"] + args.set)
    result = demo(cfg, args.out, progress=not args.quiet)
    s = result["summary"]
    print(result["report"].table())
    print(f"\nparameters: {s['total_params']:,}   average mAP per million parameters: "
          f"{s['average_mAP_per_million_params']:.2f}   ({s['seconds']:.0f} s)")
    print(f"timeline plots: {Path(args.out) / 'plots'}   checkpoint: {Path(args.out) / 'last.pt'}")


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="trainable parameters per module for a config")
    _config_args(p, default="activitynet")
    p.add_argument("--json", action="store_true", help='last stdout line: {"total_params": n, "modules": {...}}')
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> None:
    import json

    from .engine.build import build_model
    from .engine.run import parameter_table

    cfg = _load(args)
    table = parameter_table(build_model(cfg))
    total = sum(table.values())
    m = cfg.model
    print(f"SeqAttNet  T={m.temporal_scale}  F={m.feature_dim}  D={m.max_duration}  Nc={m.num_classes}")
    width = max(len(k) for k in table)
    for name, count in table.items():
        print(f"  {name:<{width}}  {count:>10,}")
    print(f"  {'total':<{width}}  {total:>10,}")
    if args.json:
        print(json.dumps({"total_params": total, "modules": table}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqattnet", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_train, _add_evaluate, _add_predict, _add_evaluate_json, _add_info):
        add(sub)
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
