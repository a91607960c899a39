"""Subcommands that run a trained checkpoint: predict (feature files), extract, detect and watch (video), export."""

from __future__ import annotations

import argparse

from ..errors import InputError, counted
from .options import (CHECKPOINT_HELP, DEVICE_HELP, check_out, checkpoint_set, overwrite_arg, positive_float,
                      positive_int)


def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="detect actions in feature files with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--features", required=True,
                   help="a feature file (.npy, .npz, .pt, .csv), a folder of them, or an HDF5 file of many videos")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frames per second of the videos (default: the feature file's metadata, the annotations, "
                        "the config's data.fps, else the checkpoint's own annotations when they list the video; "
                        "refused when none has it)")
    p.add_argument("--annotations", default=None,
                   help="ActivityNet/THUMOS JSON or BMN video_info_new.csv giving each video's duration and fps "
                        "(default: none: a video without fps, or any video of features rescaled to T rows, "
                        "data.rescaled, is timed by the checkpoint's own annotations when they list it)")
    p.add_argument("--out", default="results.json", help="result JSON (ActivityNet format, seconds)")
    p.add_argument("--plot", default=None, metavar="DIR", help="write one timeline PNG per video here (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    checkpoint_set(p)
    overwrite_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> None:
    from ..api import Results
    from ..engine.run import feature_inputs, predict_files

    check_out(args.out, overwrite=args.overwrite)
    plots = [] if args.overwrite or not args.plot else [f"{i}.png" for _, _, i in feature_inputs(args.features)]
    check_out(args.plot, folder=True, option="--plot", overwrite=args.overwrite, outputs=plots)
    results = Results(*predict_files(args.checkpoint, args.features, fps=args.fps, device=args.device,
                                     annotations=args.annotations, overrides=args.set, progress=not args.quiet))
    results.to_json(args.out)
    print(f"{counted(sum(len(d.scores) for d in results), 'detection')} in {counted(len(results), 'video')} "
          f"-> {args.out}")
    if args.plot:
        paths = results.plot(args.plot)
        print(f"{len(paths)} timeline plots -> {args.plot}")


def add_export(sub) -> None:
    p = sub.add_parser("export", help="a checkpoint as ONNX or TorchScript graphs for deployment",
                       description="Writes DIR/proposals.{onnx,pt} (features -> start, end, confidence maps), "
                                   "DIR/heads.{onnx,pt} (features, proposals -> offsets, class log-probabilities) "
                                   "and DIR/export.json (shapes, classes, inference settings).")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                   help="onnx (default; needs seqattnet[export]) or torchscript (torch.jit.load)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the exported files (created if missing)")
    overwrite_arg(p)
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> None:
    from ..export import export_checkpoint, export_files

    check_out(args.out, folder=True, overwrite=args.overwrite, outputs=export_files(args.format))
    for path in export_checkpoint(args.checkpoint, args.out, fmt=args.format):
        print(path)


def add_extract(sub) -> None:
    p = sub.add_parser("extract", help="video files -> per-video feature files with a torchvision backbone (needs seqattnet[video])")
    p.add_argument("videos", help="a video file or a folder of them")
    p.add_argument("--backbone", default="r2plus1d_18", help="torchvision video network (see docs/video.md)")
    p.add_argument("--out", required=True, help="folder for the feature files (<video_id>.npz with metadata)")
    p.add_argument("--weights", default="default",
                   help="'default' (torchvision's pretrained weights, downloaded once), 'random' (untrained, for "
                        "tests) or a local state-dict file")
    p.add_argument("--snippet", type=positive_int, default=16, help="frames per snippet")
    p.add_argument("--stride", type=positive_int, default=16, help="frames between snippet starts")
    p.add_argument("--batch-size", type=positive_int, default=16, help="snippets per forward pass")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    p.add_argument("--overwrite", action="store_true", help="extract again videos whose feature file exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_extract)


def run_extract(args: argparse.Namespace) -> None:
    check_out(args.out, folder=True)
    from ..video.extract import extract_features

    result = extract_features(args.videos, args.out, backbone=args.backbone, weights=args.weights,
                              window_frames=args.snippet, stride_frames=args.stride, batch_size=args.batch_size,
                              device=args.device, progress=not args.quiet, overwrite=args.overwrite)
    print(result.summary())
    if not result.written and result.failed:
        raise InputError.at(args.videos, f"no video could be read ({counted(len(result.failed), 'video')} failed, "
                            "listed above)")


def add_detect(sub) -> None:
    p = sub.add_parser("detect", help="video file(s) -> detections in one go: extract, predict, report (needs seqattnet[video])")
    p.add_argument("videos", help="a video file or a folder of them")
    p.add_argument("--checkpoint", required=True, help="a checkpoint trained on features of a torchvision backbone")
    checkpoint_set(p)
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write an HTML page and a PNG timeline per video here (default: no report)")
    p.add_argument("--out", default=None, help="result JSON (default: REPORT/results.json, or results.json)")
    p.add_argument("--features", default=None, metavar="DIR",
                   help="keep the extracted features here (default: REPORT/features, or a temporary folder)")
    p.add_argument("--weights", default="default", help="backbone weights, as for `extract`")
    p.add_argument("--ground-truth", default=None,
                   help="annotations to draw under the detections in the report (default: none)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    overwrite_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_detect)


def run_detect(args: argparse.Namespace) -> None:
    from ..pipeline import detect_videos, report_files

    # without --out the results go into --report's folder (created if missing), checked with its other files
    check_out(args.out or (None if args.report else "results.json"), overwrite=args.overwrite)
    pages = report_files(args.videos) + ([] if args.out else ["results.json"]) if args.report and not args.overwrite else []
    check_out(args.report, folder=True, option="--report", overwrite=args.overwrite, outputs=pages)
    check_out(args.features, folder=True, option="--features")
    detect_videos(args.videos, args.checkpoint, report_dir=args.report, results_path=args.out,
                  features_dir=args.features, weights=args.weights, ground_truth=args.ground_truth,
                  device=args.device, progress=not args.quiet, overrides=args.set)


def add_watch(sub) -> None:
    p = sub.add_parser("watch", help="detections while a video is still recorded or sent, each once final (needs "
                                     "seqattnet[video])")
    p.add_argument("source", help="a file being written (MPEG-TS, Matroska or fragmented MP4; not a plain MP4, "
                                  "whose index comes last), - for standard input, a URL or a device")
    p.add_argument("--checkpoint", required=True, help="a windowed checkpoint (windows.enabled, e.g. thumos14) "
                                                       "trained on features of a torchvision backbone")
    checkpoint_set(p)
    p.add_argument("--out", default=None, help="JSON Lines file: one detection a line, then a summary (default: "
                                               "standard output)")
    p.add_argument("--timeout", type=positive_float, default=10.0, metavar="S",
                   help="seconds without new data after which a file is taken as finished and a pipe, URL or "
                        "device as stalled (an error)")
    p.add_argument("--progress", action="store_true", help="show stream time, speed and delay on standard error")
    p.add_argument("--weights", default="default", help="backbone weights, as for `extract`")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    overwrite_arg(p)
    p.set_defaults(run=run_watch)


def run_watch(args: argparse.Namespace) -> None:
    import json
    import sys

    from ..devices import resolve_device
    from ..engine.checkpoint import load_model
    from ..watch import check_watchable, watch_source

    check_out(args.out, overwrite=args.overwrite)
    model, cfg, classes = load_model(args.checkpoint, resolve_device(args.device), args.set)
    check_watchable(cfg, args.checkpoint)
    events = watch_source(model, cfg, classes, args.source, weights=args.weights, timeout_s=args.timeout,
                          on_progress=_show_progress if args.progress else None)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        _write_all(events, lambda item: (out.write(json.dumps(item.to_dict()) + "\n"), out.flush()))
    finally:
        if args.progress:
            print(file=sys.stderr)
        if args.out:
            out.close()


def _write_all(events, write) -> None:
    """Write every item of `events`; a Ctrl-C that lands here, between the generator's steps, is passed into
    it, so that it ends the stream and flushes as one landing inside it does."""
    item = next(events, None)
    while item is not None:
        try:
            write(item)
            item = next(events, None)
        except KeyboardInterrupt:
            item = events.throw(KeyboardInterrupt())


def _show_progress(summary) -> None:
    import sys

    delay = f"{summary.delays_s[-1]:.1f} s" if summary.delays_s else "-"
    print(f"\r{summary.video}: stream {summary.stream_s:.1f} s, {summary.realtime_factor:.2f}x real time, last "
          f"delay {delay}, {summary.detections} detections, {summary.dropped} dropped", end="", file=sys.stderr)
