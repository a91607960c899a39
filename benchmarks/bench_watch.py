"""`seqattnet watch` on a long generated stream, against `detect` on the finished file, in the same run.

A 25 fps 320x240 H.264 MPEG-TS stream (bench_extract's moving random texture, `--seconds` long) is written first; then
`watch` reads it as a stream and `detect` reads the finished file, each in its own process so that its peak
memory (RSS) is its own. The checkpoint is windowed (T = 64 snippets of 16 frames every 8, overlap 0.5,
merge centre) over `--backbone` with random weights (the cost of pretrained ones), its SeqAttNet untrained.
Printed: watch's real-time factor (seconds of video per second of wall time), the delay of each detection
in stream time (emitted − segment end; and emitted − end of the last snippet it depends on), watch's RSS
at a quarter, half and the end of the stream (flat: it holds only open windows), both peaks, both wall
times and their ratio, and whether both gave the same detections (they must, bit for bit).
Then the windows alone over a much longer stream (`--hours`, default 2): random features of the checkpoint's
snippets pushed into the window stream (engine/stream.py) a batch at a time, with the RSS and the rows and
windows the stream holds at each quarter (flat: nothing grows with the stream's length).

    python benchmarks/bench_watch.py [--seconds 120] [--hours 2] [--backbone mobilenet_v3_small] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_extract import write_clip  # the same moving random texture, H.264 at 25 fps

SETS = ["model.num_classes=5", "model.temporal_scale=64", "model.max_duration=32", "data.stride_frames=8",
        "data.window_frames=16", "windows.enabled=true", "windows.overlap=0.5", "windows.merge=centre"]


def make_checkpoint(path: Path, backbone: str) -> None:
    from seqattnet.config import load_config
    from seqattnet.engine.build import build_model
    from seqattnet.engine.checkpoint import save_checkpoint
    from seqattnet.video.backbones import BACKBONES

    torch.manual_seed(0)
    cfg = load_config("demo", SETS + [f"data.backbone={backbone}", f"model.feature_dim={BACKBONES[backbone].feature_dim}"])
    save_checkpoint(path, build_model(cfg), cfg, [f"class{i}" for i in range(5)])


def child_watch(video: Path, checkpoint: Path) -> dict:
    from seqattnet.engine.checkpoint import load_model
    from seqattnet.watch import watch_source

    model, cfg, classes = load_model(checkpoint, torch.device("cpu"))
    rss = []  # (stream seconds, RSS MiB) after each batch

    def sample(summary):
        rss.append((summary.stream_s, _current_rss_mib()))

    events = list(watch_source(model, cfg, classes, str(video), weights="random", timeout_s=0.5,
                               on_progress=sample))
    summary = events.pop()
    end = rss[-1][0]
    at = {f"{q:.2f}": next(m for s, m in rss if s >= q * end) for q in (0.25, 0.5, 1.0)}
    return {"summary": summary.to_dict()["summary"], "rss_mib_at": at, "peak_rss_mib": _peak_rss_mib(),
            "detections": sorted([e.start_s, e.end_s, e.score, e.label] for e in events)}


def child_detect(video: Path, checkpoint: Path) -> dict:
    from seqattnet.pipeline import detect_videos

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        detections = detect_videos(video, checkpoint, results_path=Path(scratch) / "r.json", weights="random",
                                   device="cpu", progress=False)
        wall = time.perf_counter() - started
        results = json.loads((Path(scratch) / "r.json").read_text())["results"][video.stem]
    return {"wall_s": wall, "peak_rss_mib": _peak_rss_mib(), "n": len(detections[0].scores),
            "detections": sorted([p["segment"][0], p["segment"][1], p["score"], p["label"]] for p in results)}


def child_stream(hours: float, checkpoint: Path) -> dict:
    """`hours` of random features pushed through the window stream 16 snippets at a time: RSS, rows and windows
    held at each quarter, and the seconds it took."""
    from seqattnet.engine.checkpoint import load_model
    from seqattnet.engine.stream import WindowStream

    model, cfg, _ = load_model(checkpoint, torch.device("cpu"))
    fps = 25.0
    n = int(hours * 3600 * fps / cfg.data.stride_frames)
    stream, rng = WindowStream(model, cfg, "long", fps), np.random.default_rng(0)
    quarters, held, detections, started = {}, [], 0, time.perf_counter()
    for lo in range(0, n, 16):
        detections += sum(len(p.scores) for p in stream.push(rng.standard_normal((min(16, n - lo), cfg.model.feature_dim),
                                                                                   dtype=np.float32)))
        held.append((len(stream.rows), len(stream.waiting) + len(stream.done)))
        for q in (0.25, 0.5, 0.75):
            if f"{q:.2f}" not in quarters and lo + 16 >= q * n:
                quarters[f"{q:.2f}"] = _current_rss_mib()
    detections += sum(len(p.scores) for p in stream.close())
    quarters["1.00"] = _current_rss_mib()
    return {"snippets": n, "wall_s": time.perf_counter() - started, "rss_mib_at": quarters,
            "max_rows_held": max(r for r, _ in held), "max_windows_held": max(w for _, w in held),
            "detections": detections}


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, video: Path, checkpoint: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(video), str(checkpoint)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--hours", type=float, default=2.0, help="length of the features-only stream")
    p.add_argument("--backbone", default="mobilenet_v3_small")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, video, checkpoint = args.child
        if kind == "stream":
            print(json.dumps(child_stream(float(video), Path(checkpoint))))
            return
        run = child_watch if kind == "watch" else child_detect
        print(json.dumps(run(Path(video), Path(checkpoint))))
        return
    with tempfile.TemporaryDirectory() as scratch:
        video, checkpoint = Path(scratch) / "stream.ts", Path(scratch) / "last.pt"
        write_clip(video, args.seconds, 320, 240)  # .ts: MPEG-TS, the container a recorder streams
        make_checkpoint(checkpoint, args.backbone)
        watched, detected = _child("watch", video, checkpoint), _child("detect", video, checkpoint)
        long = _child("stream", Path(str(args.hours)), checkpoint)
    s = watched["summary"]
    same = watched["detections"] == detected["detections"]
    report = {"seconds": args.seconds, "backbone": args.backbone, "torch_threads": torch.get_num_threads(),
              "watch_wall_s": s["wall_s"], "realtime_factor": s["realtime_factor"], "delay_s": s["delay_s"],
              "lag_s": s["lag_s"], "watch_rss_mib_at": watched["rss_mib_at"],
              "watch_peak_rss_mib": watched["peak_rss_mib"], "detect_wall_s": detected["wall_s"],
              "detect_peak_rss_mib": detected["peak_rss_mib"], "watch_over_detect_wall": s["wall_s"] / detected["wall_s"],
              "detections": s["detections"], "same_detections": same, "long_stream": {"hours": args.hours, **long}}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.seconds:g} s of 25 fps 320x240 MPEG-TS, {args.backbone} (random weights), T = 64, stride 8")
    print(f"watch : {s['wall_s']:.1f} s wall, {s['realtime_factor']:.2f}x real time, peak RSS "
          f"{watched['peak_rss_mib']:.0f} MiB; RSS at 1/4, 1/2, end: "
          + ", ".join(f"{m:.0f}" for m in watched["rss_mib_at"].values()) + " MiB")
    print(f"detect: {detected['wall_s']:.1f} s wall, peak RSS {detected['peak_rss_mib']:.0f} MiB; watch / detect "
          f"wall {report['watch_over_detect_wall']:.2f}")
    for name, spread in (("delay after the segment's end", s["delay_s"]), ("lag after the last snippet used", s["lag_s"])):
        print(f"{name} (stream s): " + ", ".join(f"{k} {v:.2f}" for k, v in spread.items()))
    print(f"{s['detections']} detections; the same as detect's, bit for bit: {same}")
    print(f"windows alone over {args.hours:g} h ({long['snippets']} snippets of random features): {long['wall_s']:.0f} s wall, "
          f"RSS at 1/4, 1/2, 3/4, end: " + ", ".join(f"{m:.0f}" for m in long["rss_mib_at"].values())
          + f" MiB; at most {long['max_rows_held']} rows and {long['max_windows_held']} windows held; "
          f"{long['detections']} detections")


if __name__ == "__main__":
    main()
