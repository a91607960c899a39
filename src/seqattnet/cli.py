"""The `seqattnet` command: argument parsing only; the work happens in the package's modules."""

from __future__ import annotations

import argparse
import sys

from .errors import InputError, counted


def _add_evaluate_json(sub) -> None:
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
        exact_counts=args.exact_counts,
    )


def _config_args(p: argparse.ArgumentParser, default: str | None = "demo") -> None:
    p.add_argument("--config", default=default, help="shipped config name (activitynet, thumos14, demo) or a YAML path"
                   + ("" if default else "; required unless --resume"))
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
    _config_args(p, default=None)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt and saved config (--set may change e.g. "
                        "train.epochs, not the model); without --resume, --config is required")
    p.add_argument("--out", required=True, help="run folder: checkpoints, resolved config, log, metrics")
    p.add_argument("--overwrite", action="store_true",
                   help="train into an --out that already holds a run, replacing its files")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's train.seed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from .config import load_config
    from .engine.fit import check_run_folder, resume_config, train

    _check_out(args.out, folder=True)
    if not args.resume and args.config is None:
        raise InputError.at("--config", "train needs a config: a shipped name (activitynet, thumos14, demo) or a "
                            "YAML path, e.g. `seqattnet train --config demo --out runs/x`; `seqattnet demo` is the demo")
    check_run_folder(args.out, resume=args.resume, overwrite=args.overwrite)
    if args.resume:
        given = load_config(args.config) if args.config is not None else None
        cfg = resume_config(args.out, given, args.set)
    else:
        cfg = _load(args)
    report = train(cfg, args.out, progress=not args.quiet, resume=args.resume)
    if report is not None:  # None on the processes other than rank 0 under torchrun
        print(report.table())


def _check_out(path: str | None, *, folder: bool = False, option: str = "--out") -> None:
    """Fail before the work, not after it, when an output file (or, with `folder`, a folder that is created if
    missing) cannot be written where asked."""
    import os
    from pathlib import Path

    if not path:
        return
    out = Path(path)
    if folder and out.exists() and not out.is_dir():
        raise InputError.at(option, f"{path!r} is a file; expected a folder (created if missing)")
    if not folder and out.is_dir():
        raise InputError.at(option, f"{path!r} is a folder; expected a file name, e.g. {str(out / 'results.json')!r}")
    parent = out if folder and out.is_dir() else out.resolve().parent
    while folder and not parent.exists() and parent != parent.parent:  # a new folder: its first existing ancestor
        parent = parent.parent
    if not parent.is_dir():
        raise InputError.at(option, f"folder {str(Path(path).parent)!r} does not exist; create it or choose "
                            "another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError.at(option, f"folder {str(parent)!r} is not writable; choose another path")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


_CHECKPOINT_HELP = "a last.pt or best.pt written by `seqattnet train`"
_DEVICE_HELP = "auto: CUDA when torch sees a GPU, else the CPU"


def _checkpoint_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an inference.* or data.* value of the checkpoint's config, e.g. --set "
                        "inference.refine=false (repeatable; model.* is fixed by the weights)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a subset of its dataset")
    p.add_argument("--checkpoint", required=True, help=_CHECKPOINT_HELP)
    p.add_argument("--split", default=None, help="subset to evaluate (default: the config's data.val_subset)")
    p.add_argument("--out", default=None, help="also write the detections as a result JSON here (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=_DEVICE_HELP)
    _checkpoint_set(p)
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the metrics")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="also write the error diagnosis here (report.html, diagnosis.json), "
                        "as `diagnose` does (default: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    import json

    from .engine.evaluate import evaluate_checkpoint
    from .evaluation import write_results

    _check_out(args.out)
    _check_out(args.report, folder=True, option="--report")
    report, cfg = evaluate_checkpoint(args.checkpoint, args.split, device=args.device,
                                      progress=not (args.json or args.quiet), overrides=args.set)
    if args.out:
        write_results(args.out, report.results)
    print(report.table())
    if args.report:
        from .engine.evaluate import diagnose_evaluation
        from .report.diagnosis import write_diagnosis_report

        page, _ = write_diagnosis_report(args.report, diagnose_evaluation(report, cfg),
                                         meta=f"checkpoint {args.checkpoint}, subset {args.split or cfg.data.val_subset};")
        print(f"report: {page}")
    if args.json:
        print(json.dumps(report.summary()))


def _add_diagnose(sub) -> None:
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
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the headline numbers")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> None:
    from .report.diagnosis import diagnose_command

    _check_out(args.out, folder=True)
    diagnose_command(args.ground_truth, args.predictions, args.out, subset=args.subset, protocol=args.protocol,
                     video_info=args.video_info, ignore_unknown_labels=args.ignore_unknown_labels,
                     allow_unknown_videos=args.allow_unknown_videos, as_json=args.json, progress=not args.quiet)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="detect actions in feature files with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help=_CHECKPOINT_HELP)
    p.add_argument("--features", required=True, help="a feature file (.npy, .npz, .pt, .csv) or a folder of them")
    p.add_argument("--fps", type=_positive_float, default=None,
                   help="frames per second of the videos (default: the feature file's metadata, the annotations, "
                        "else the config's data.fps; refused when none has it)")
    p.add_argument("--annotations", default=None,
                   help="ActivityNet/THUMOS JSON or BMN video_info_new.csv giving each video's duration and fps "
                        "(default: none; required for features rescaled to T rows, data.rescaled)")
    p.add_argument("--out", default="results.json", help="result JSON (ActivityNet format, seconds)")
    p.add_argument("--plot", default=None, metavar="DIR", help="write one timeline PNG per video here (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=_DEVICE_HELP)
    _checkpoint_set(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> None:
    from .structures import to_results, video_timing
    from .engine.run import plot_videos, predict_files
    from .evaluation import write_results

    _check_out(args.out)
    _check_out(args.plot, folder=True, option="--plot")
    detections, classes = predict_files(args.checkpoint, args.features, fps=args.fps, device=args.device,
                                        annotations=args.annotations, overrides=args.set, progress=not args.quiet)
    write_results(args.out, to_results(detections, classes), videos=video_timing(detections))
    print(f"{counted(sum(len(d.scores) for d in detections), 'detection')} in {counted(len(detections), 'video')} "
          f"-> {args.out}")
    if args.plot:
        paths = plot_videos(detections, classes, args.plot)
        print(f"{len(paths)} timeline plots -> {args.plot}")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="generate the built-in dataset, train, evaluate and plot (about 5 min on 2 CPU cores)")
    p.add_argument("--out", default="runs/demo", help="run folder (the dataset goes to OUT/data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a demo config value")
    p.add_argument("--overwrite", action="store_true", help="train again into an --out that holds a run (its data is kept)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .config import load_config
    from .engine.fit import check_run_folder
    from .engine.run import demo

    _check_out(args.out, folder=True)
    check_run_folder(args.out, resume=False, overwrite=args.overwrite)
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


def _error_code(error: Exception) -> int | None:
    """2 for bad input, 1 for a run that failed for a known reason (a non-finite loss), None: a bug to show."""
    if isinstance(error, (InputError, FileNotFoundError)):
        return 2
    train = sys.modules.get("seqattnet.engine.train")  # only loaded, so only raised, when a command trained
    if train is not None and isinstance(error, train.NonFiniteLoss):
        return 1
    return None


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="speed, memory and FLOPs of the fast path against the dense BMN reference")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to measure")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="videos per forward pass of the fast path")
    p.add_argument("--reference-batch", type=_positive_int, default=None,
                   help="batch of the dense reference (default: 2 on the CPU, where 16 needs ~21 GB)")
    p.add_argument("--repeats", type=_positive_int, default=3, help="timed runs per measurement (the median is reported)")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the figures")
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> None:
    import json

    from .benchmark import Setting, format_report, measure

    if args.device == "cuda":
        from .devices import resolve_device

        resolve_device("cuda")
    report = measure(Setting(batch_size=args.batch_size, repeats=args.repeats), args.device, args.reference_batch)
    print(format_report(report))
    if args.json:
        print(json.dumps(report))


def _add_check_data(sub) -> None:
    p = sub.add_parser("check-data", help="validate a dataset before training and summarise it (exit 2 if training would fail)")
    _config_args(p, default="activitynet")
    p.add_argument("--duration-tolerance", type=_positive_float, default=0.1, metavar="FRACTION",
                   help="note a video whose duration x fps and snippets x stride differ by more than this "
                        "fraction of the larger")
    p.add_argument("--verbose", action="store_true", help="list every note and skipped segment, not the first few of each kind")
    p.add_argument("--json", action="store_true", help="last stdout line is one JSON object of the report")
    p.set_defaults(run=_run_check_data)


def _run_check_data(args: argparse.Namespace) -> None:
    import json

    from .data.check import check_config

    report = check_config(_load(args), duration_tolerance=args.duration_tolerance)
    print(report.text(verbose=args.verbose))
    if args.json:
        print(json.dumps(report.to_dict()))
    if not report.ok:  # main() turns this into exit code 2
        raise InputError.at(report.source, f"{counted(len(report.errors), 'error')}; training would fail (listed "
                            f"above; the first: {report.errors[0]})")


def _add_extract(sub) -> None:
    p = sub.add_parser("extract", help="video files -> per-video feature files with a torchvision backbone (needs seqattnet[video])")
    p.add_argument("videos", help="a video file or a folder of them")
    p.add_argument("--backbone", default="r2plus1d_18", help="torchvision video network (see docs/video.md)")
    p.add_argument("--out", required=True, help="folder for the feature files (<video_id>.npz with metadata)")
    p.add_argument("--weights", default="default",
                   help="'default' (torchvision's pretrained weights, downloaded once), 'random' (untrained, for "
                        "tests) or a local state-dict file")
    p.add_argument("--snippet", type=_positive_int, default=16, help="frames per snippet")
    p.add_argument("--stride", type=_positive_int, default=16, help="frames between snippet starts")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="snippets per forward pass")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=_DEVICE_HELP)
    p.add_argument("--overwrite", action="store_true", help="extract again videos whose feature file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_extract)


def _run_extract(args: argparse.Namespace) -> None:
    _check_out(args.out, folder=True)
    from .video.extract import extract_features

    result = extract_features(args.videos, args.out, backbone=args.backbone, weights=args.weights,
                              snippet_frames=args.snippet, stride_frames=args.stride, batch_size=args.batch_size,
                              device=args.device, progress=not args.quiet, overwrite=args.overwrite)
    print(result.summary())
    if not result.written and result.failed:
        raise InputError.at(args.videos, f"no video could be read ({counted(len(result.failed), 'video')} failed, "
                            "listed above)")


def _add_detect(sub) -> None:
    p = sub.add_parser("detect", help="video file(s) -> detections in one go: extract, predict, report (needs seqattnet[video])")
    p.add_argument("videos", help="a video file or a folder of them")
    p.add_argument("--checkpoint", required=True, help="a checkpoint trained on features of a torchvision backbone")
    _checkpoint_set(p)
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write an HTML page and a PNG timeline per video here (default: no report)")
    p.add_argument("--out", default=None, help="result JSON (default: REPORT/results.json, or results.json)")
    p.add_argument("--features", default=None, metavar="DIR",
                   help="keep the extracted features here (default: REPORT/features, or a temporary folder)")
    p.add_argument("--weights", default="default", help="backbone weights, as for `extract`")
    p.add_argument("--ground-truth", default=None,
                   help="annotations to draw under the detections in the report (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=_DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_detect)


def _run_detect(args: argparse.Namespace) -> None:
    from .pipeline import detect_videos

    _check_out(args.out)
    _check_out(args.report, folder=True, option="--report")
    _check_out(args.features, folder=True, option="--features")
    detect_videos(args.videos, args.checkpoint, report_dir=args.report, results_path=args.out,
                  features_dir=args.features, weights=args.weights, ground_truth=args.ground_truth,
                  device=args.device, progress=not args.quiet, overrides=args.set)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="a checkpoint as ONNX or TorchScript graphs for deployment",
                       description="Writes DIR/proposals.{onnx,pt} (features -> start, end, confidence maps), "
                                   "DIR/heads.{onnx,pt} (features, proposals -> offsets, class log-probabilities) "
                                   "and DIR/export.json (shapes, classes, inference settings).")
    p.add_argument("--checkpoint", required=True, help=_CHECKPOINT_HELP)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx (default; needs seqattnet[export]) or torchscript (torch.jit.load)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the exported files (created if missing)")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from .export import export_checkpoint

    _check_out(args.out, folder=True)
    for path in export_checkpoint(args.checkpoint, args.out, fmt=args.format):
        print(path)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, unless the help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes as one line, like every other error (argparse prints the usage block too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


DESCRIPTION = """Temporal action localization with SeqAttNet: train on per-video features (ActivityNet,
THUMOS14 or your own), evaluate with the official ActivityNet mAP and AR@AN, detect actions in feature
files or straight from video files, and export the model. `seqattnet demo` runs the whole pipeline on
a built-in dataset in a few minutes; `seqattnet COMMAND --help` describes each command."""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="seqattnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"seqattnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (_add_demo, _add_train, _add_evaluate, _add_predict, _add_evaluate_json, _add_info, _add_bench,
                _add_check_data, _add_extract, _add_detect, _add_export):
        add(sub)
    _add_diagnose(sub)
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps a --debug given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show full tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.run(args)
    except Exception as e:
        code = _error_code(e)
        if args.debug or code is None:
            raise
        message = str(e).replace("\n", " ")  # one line, whatever the message
        print(f"seqattnet {args.command}: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
