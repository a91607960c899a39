"""Subcommands that train, evaluate or describe a model: demo, train, evaluate, info, check-data, bench."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError, counted
from .options import (CHECKPOINT_HELP, DEVICE_HELP, check_out, checkpoint_set, config_args, config_from_args, overwrite_arg,
                      positive_float, positive_int, within_limits)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="generate the built-in dataset, train, evaluate and plot (about 7 min of CPU time; README)")
    p.add_argument("--out", default="runs/demo", help="run folder (the dataset goes to OUT/data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo config value")
    p.add_argument("--overwrite", action="store_true", help="train again into an --out that holds a run (its data is kept)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ..config import load_config
    from ..engine.run import demo

    check_out(args.out, folder=True)
    _check_run_folder(args)
    cfg = load_config("demo", [f"data.root={Path(args.out) / 'data'}"] + args.set)
    result = demo(cfg, args.out, progress=not args.quiet, overwrite=args.overwrite)
    s = result["summary"]
    print(result["report"].table())
    print(f"\nparameters: {s['total_params']:,}   average mAP per million parameters: "
          f"{s['average_mAP_per_million_params']:.2f}   ({s['seconds']:.0f} s)")
    print(f"timeline plots: {Path(args.out) / 'plots'}   checkpoint: {Path(args.out) / 'last.pt'}")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train SeqAttNet and evaluate it on the validation subset")
    config_args(p, default=None)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt and saved config (--set may change e.g. "
                        "train.epochs, not the model); without --resume, --config is required")
    p.add_argument("--out", required=True, help="run folder: checkpoints, resolved config, log, metrics")
    p.add_argument("--overwrite", action="store_true",
                   help="train into an --out that already holds a run, replacing its files")
    p.add_argument("--seed", type=within_limits("train.seed"), default=None, help="random seed (default: the config's train.seed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_train)


def _check_run_folder(args: argparse.Namespace) -> None:
    """train's rule for --out, checked before the work (train checks it again while it holds the folder);
    a folder left by a run stopped before its first checkpoint is trained over, saying so."""
    from ..engine.run_folder import check_run_folder

    note = check_run_folder(args.out, resume=getattr(args, "resume", False), overwrite=args.overwrite)
    if note:
        print(f"seqattnet {args.command}: {note}", file=sys.stderr)


def run_train(args: argparse.Namespace) -> None:
    from ..engine.fit import run_config, train

    check_out(args.out, folder=True)
    _check_run_folder(args)  # before the config is read; train checks again while it holds the folder
    cfg = run_config(args.config, args.out, args.set, resume=args.resume, seed=args.seed)
    report = train(cfg, args.out, progress=not args.quiet, resume=args.resume, overwrite=args.overwrite)
    if report is not None:  # None on the processes other than rank 0 under torchrun
        print(report.table())


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a subset of its dataset")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--split", default=None, help="subset to evaluate (default: the config's data.val_subset)")
    p.add_argument("--out", default=None, help="also write the detections as a result JSON here (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    checkpoint_set(p)
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the metrics")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="also write the error diagnosis here (report.html, diagnosis.json), "
                        "as `diagnose` does (default: none)")
    overwrite_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    import json

    from ..engine.evaluate import evaluate_checkpoint
    from ..evaluation import write_results
    from ..report.diagnosis import REPORT_FILES

    check_out(args.out, overwrite=args.overwrite)
    check_out(args.report, folder=True, option="--report", overwrite=args.overwrite, outputs=REPORT_FILES)
    report, cfg = evaluate_checkpoint(args.checkpoint, args.split, device=args.device,
                                      progress=not (args.json or args.quiet), overrides=args.set)
    if args.out:
        write_results(args.out, report.results)
    print(report.table())
    if args.report:
        from ..engine.evaluate import diagnose_evaluation
        from ..report.diagnosis import write_diagnosis_report

        subset = args.split or cfg.data.val_subset
        page, _ = write_diagnosis_report(args.report, diagnose_evaluation(report, cfg),
                                         f"Detection diagnosis: {args.checkpoint} on {subset}",
                                         meta=f"checkpoint {args.checkpoint}, subset {subset};")
        print(f"report: {page}")
    if args.json:
        print(json.dumps(report.summary()))


def add_info(sub) -> None:
    p = sub.add_parser("info", help="trainable parameters per module for a config")
    config_args(p, default="activitynet")
    p.add_argument("--json", action="store_true", help='last stdout line: {"total_params": n, "modules": {...}}')
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> None:
    import json

    from ..engine.build import build_model
    from ..engine.run import parameter_table

    cfg = config_from_args(args)
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


def add_check_data(sub) -> None:
    p = sub.add_parser("check-data", help="validate a dataset before training and summarise it (exit 2 if training or "
                       "evaluating would fail)")
    config_args(p, default="activitynet")
    p.add_argument("--duration-tolerance", type=positive_float, default=0.1, metavar="FRACTION",
                   help="note a video whose duration x fps and snippets x stride differ by more than this "
                        "fraction of the larger")
    p.add_argument("--verbose", action="store_true", help="list every note and skipped segment, not the first few of each kind")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the report")
    p.set_defaults(run=run_check_data)


def run_check_data(args: argparse.Namespace) -> None:
    import json

    from ..data.check import FAILS, check_config

    report = check_config(config_from_args(args), duration_tolerance=args.duration_tolerance)
    print(report.text(verbose=args.verbose))
    if args.json:
        print(json.dumps(report.to_dict()))
    if not report.ok:  # main() turns this into exit code 2
        raise InputError.at(report.source, f"{counted(len(report.errors), 'error')}; {FAILS} (listed above; the "
                            f"first: {report.errors[0]})")


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="speed, memory and FLOPs of a config against another proposal stage and the "
                                     "dense BMN reference")
    config_args(p, default="activitynet")
    p.add_argument("--against", action="append", default=None, metavar="KEY=VALUE",
                   help="the proposal stage to compare with, as overrides of the config (repeatable; default: the "
                        "paper's: Table 1's widths, 32 sample points, full 3x3 convolutions)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to measure")
    p.add_argument("--batch-size", type=positive_int, default=16, help="videos per forward pass of the fast path")
    p.add_argument("--reference-batch", type=positive_int, default=None,
                   help="batch of the dense reference (default: 2 on the CPU, where 16 needs ~21 GB)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs per measurement (their mean is reported)")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the figures")
    p.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> None:
    import json

    from ..benchmark import PAPER_STAGE, Setting, format_report, measure

    if args.device == "cuda":
        from ..devices import resolve_device

        resolve_device("cuda")
    setting = Setting(args.config, args.set, PAPER_STAGE if args.against is None else args.against,
                      args.batch_size, args.repeats)
    for path in ("fast", "against"):  # bad names or values: one line before any subprocess starts
        setting.config_of(path)
    report = measure(setting, args.device, args.reference_batch)
    print(format_report(report))
    if args.json:
        print(json.dumps(report))
