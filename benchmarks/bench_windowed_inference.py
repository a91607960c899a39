"""Inference on long videos with sliding windows: a THUMOS14-sized test set and one 10-minute video.

1. `evaluate`: the Test subset of the built-in THUMOS-shaped data (default 212 videos, about 1,650
   snippets of 2048-d features each) through `evaluate_model` (files, windows, network, merge, mAP),
   with random weights of the config (default `thumos14`) or a trained checkpoint's (`--checkpoint`: random
   weights send every window the most candidates, a trained model fewer). `--videos` times the first N of
   them and extrapolates to all by their window count.
2. `predict`: `predict_files` on one 10-minute video at 30 fps, stride 4 (4,500 snippets), from a file.

The reference, measured in the same run on the same videos: the windowed path with windows.merge "all"
(every candidate of every window goes to the heads, as before the centre rule); the ratio is its wall
time over the config's. CPU seconds are printed beside wall seconds: on a shared machine the wall
time also counts other jobs' turns.
Targets: 212 videos <= 3 min, the 10-minute video <= 5 s on a 2-core CPU.

    python benchmarks/bench_windowed_inference.py                        # everything, the shipped thumos14
    python benchmarks/bench_windowed_inference.py --videos 8 --set inference.max_candidates=32
    python benchmarks/bench_windowed_inference.py --data runs/thumos-syn/data --checkpoint runs/bench-thumos-train/last.pt
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from seqattnet.config import load_config
from seqattnet.data.synthetic_thumos import generate_thumos_dataset
from seqattnet.engine.build import build_dataset, build_model, load_ground_truth
from seqattnet.engine.checkpoint import read_checkpoint, save_checkpoint
from seqattnet.engine.evaluate import evaluate_model
from seqattnet.engine.run import predict_files
from seqattnet.structures import AnnotationSet


def test_set(folder: Path, videos: int, feature_dim: int) -> Path:
    """The THUMOS-shaped Test subset (generated once into folder, reused after)."""
    if not (folder / "annotations.json").exists():
        start = time.perf_counter()
        generate_thumos_dataset(folder, num_train=0, num_val=videos, feature_dim=feature_dim, overwrite=True)
        size = sum(p.stat().st_size for p in (folder / "features").iterdir()) / 1e9
        print(f"generated {videos} test videos in {time.perf_counter() - start:.1f} s, {size:.2f} GB (float16)")
    return folder


def config(name: str, root: Path, overrides: list[str]):
    return load_config(name, [f"data.root={root}", "data.annotations=annotations.json", "data.features=features",
                              "data.classes=classes.txt", "model.num_classes=20", *overrides])


def timed(fn):
    """fn() -> (its result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def bench_evaluate(model, cfg, videos: int | None) -> None:
    truth, classes = load_ground_truth(cfg)
    test = truth.subset("test")
    total_windows, total_videos = len(build_dataset(cfg, "test", truth, classes)), len(test.videos)
    if videos is not None:  # the first N videos only
        truth = AnnotationSet({k: test.videos[k] for k in sorted(test.videos)[:videos]}, truth.classes, truth.source)
    windows = len(build_dataset(cfg, "test", truth, classes))
    device = next(model.parameters()).device
    reference = replace(cfg, windows=replace(cfg.windows, merge="all"))  # every candidate of every window
    for name, c in (("reference (windows.merge all)", reference), (f"windows.merge {cfg.windows.merge}", cfg)):
        report, wall, cpu = timed(lambda: evaluate_model(model, c, truth, classes, "test", device, progress=False))
        print(f"evaluate, {name}: {len(report.results)} videos, {windows} windows in {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU ({wall / windows * 1000:.0f} ms a window); average mAP {report.detection.average_mAP:.4f}")
        if name.startswith("reference"):
            reference_wall = wall
    print(f"  ratio {reference_wall / wall:.2f}x; all {total_videos} test videos ({total_windows} windows): "
          f"{wall / windows * total_windows:.0f} s {'measured' if videos is None else 'extrapolated'} (target <= 180 s)")


def bench_predict(model, cfg, folder: Path, minutes: float) -> None:
    n = int(minutes * 60 * 30 / 4)  # snippets of a video at 30 fps, stride 4
    file = folder / "long.npy"
    rng = np.random.default_rng(0)
    np.save(file, rng.standard_normal((n, cfg.model.feature_dim), dtype=np.float32))
    checkpoint = folder / "model.pt"
    save_checkpoint(checkpoint, model, cfg, [f"c{i}" for i in range(cfg.model.num_classes)])
    ((detections,), _), wall, cpu = timed(lambda: predict_files(checkpoint, file, fps=30.0, device="cpu",
                                                                  progress=False))
    print(f"predict: one {minutes:g}-minute video, {n} snippets, {len(detections.scores)} detections in "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU (target <= 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="thumos14")
    parser.add_argument("--set", action="append", default=[], help="config overrides, key=value")
    parser.add_argument("--data", default="runs/bench-thumos-test", help="folder of the generated test set")
    parser.add_argument("--test-videos", type=int, default=212)
    parser.add_argument("--videos", type=int, help="time the first N test videos and extrapolate")
    parser.add_argument("--checkpoint", help="weights of a trained model of the config (default: random weights)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video `predict` reads")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", choices=["evaluate", "predict"], action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    folder = test_set(Path(args.data), args.test_videos, load_config(args.config).model.feature_dim)
    cfg = config(args.config, folder, args.set)
    model = build_model(cfg).eval()
    if args.checkpoint:
        model.load_state_dict(read_checkpoint(args.checkpoint)["model"])
    print(f"config {args.config} {' '.join(args.set)}: {sum(p.numel() for p in model.parameters()):,} parameters "
          f"({args.checkpoint or 'random weights'}), "
          f"T = {cfg.model.temporal_scale}, overlap {cfg.windows.overlap}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    if "evaluate" not in args.skip:
        bench_evaluate(model, cfg, args.videos)
    if "predict" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            bench_predict(model, cfg, Path(tmp), args.minutes)


if __name__ == "__main__":
    main()
