"""Inference on long videos with sliding windows: a THUMOS14-sized test set and one 10-minute video.

1. `evaluate`: the Test subset of the built-in THUMOS-shaped data (default 212 videos, about 1,650
   snippets of 2048-d features each) through `evaluate_model` (files, windows, network, merge, mAP),
   with random weights of the config (default `thumos14`). `--videos` times the first N of them and
   extrapolates to all by their window count.
2. `predict`: `predict_files` on one 10-minute video at 30 fps, stride 4 (4,500 snippets), from a file.

The reference, measured in the same run on the first `--reference-windows` windows: the plain loop, one
window at a time through `detect` (batch 1). The ratio is the batched path's time per window against it.
Targets: 212 videos <= 3 min, the 10-minute video <= 5 s on a 2-core CPU.

    python benchmarks/bench_windowed_inference.py                        # everything, the shipped thumos14
    python benchmarks/bench_windowed_inference.py --videos 8 --set inference.max_candidates=32
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from seqattnet.config import load_config
from seqattnet.data.synthetic_thumos import generate_thumos_dataset
from seqattnet.engine.build import build_dataset, build_model, load_ground_truth
from seqattnet.engine.checkpoint import save_checkpoint
from seqattnet.engine.evaluate import evaluate_model
from seqattnet.engine.inference import detect
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


def reference_per_window(model, cfg, dataset, count: int) -> float:
    """Seconds per window of the plain loop: one window at a time through `detect`."""
    start = time.perf_counter()
    for i in range(count):
        item = dataset[i]
        detect(model, item.features[None], [item.video_id], torch.tensor([item.duration_s], dtype=torch.float64),
               cfg.inference, nms=False)
    return (time.perf_counter() - start) / count


def bench_evaluate(model, cfg, videos: int | None, reference_windows: int) -> None:
    truth, classes = load_ground_truth(cfg)
    test = truth.subset("test")
    dataset = build_dataset(cfg, "test", truth, classes)
    total_windows, total_videos = len(dataset), len(test.videos)
    if videos is not None:  # the first N videos only
        truth = AnnotationSet({k: test.videos[k] for k in sorted(test.videos)[:videos]}, truth.classes, truth.source)
        dataset = build_dataset(cfg, "test", truth, classes)
    reference = reference_per_window(model, cfg, dataset, min(reference_windows, len(dataset)))
    start = time.perf_counter()
    report = evaluate_model(model, cfg, truth, classes, "test", next(model.parameters()).device, progress=False)
    seconds = time.perf_counter() - start
    per_window = seconds / len(dataset)
    print(f"evaluate: {len(report.results)} videos, {len(dataset)} windows in {seconds:.1f} s "
          f"({per_window * 1000:.0f} ms a window, batch {cfg.train.batch_size}); "
          f"plain loop {reference * 1000:.0f} ms a window: {reference / per_window:.2f}x")
    print(f"  all {total_videos} test videos ({total_windows} windows): {per_window * total_windows:.0f} s "
          f"{'measured' if videos is None else 'extrapolated'} (target <= 180 s)")


def bench_predict(model, cfg, folder: Path, minutes: float) -> None:
    n = int(minutes * 60 * 30 / 4)  # snippets of a video at 30 fps, stride 4
    file = folder / "long.npy"
    rng = np.random.default_rng(0)
    np.save(file, rng.standard_normal((n, cfg.model.feature_dim), dtype=np.float32))
    checkpoint = folder / "model.pt"
    save_checkpoint(checkpoint, model, cfg, [f"c{i}" for i in range(cfg.model.num_classes)])
    start = time.perf_counter()
    (detections,), _ = predict_files(checkpoint, file, fps=30.0, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    print(f"predict: one {minutes:g}-minute video, {n} snippets, {len(detections.scores)} detections in "
          f"{seconds:.1f} s (target <= 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="thumos14")
    parser.add_argument("--set", action="append", default=[], help="config overrides, key=value")
    parser.add_argument("--data", default="runs/bench-thumos-test", help="folder of the generated test set")
    parser.add_argument("--test-videos", type=int, default=212)
    parser.add_argument("--videos", type=int, help="time the first N test videos and extrapolate")
    parser.add_argument("--reference-windows", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video `predict` reads")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", choices=["evaluate", "predict"], action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    folder = test_set(Path(args.data), args.test_videos, load_config(args.config).model.feature_dim)
    cfg = config(args.config, folder, args.set)
    model = build_model(cfg).eval()
    print(f"config {args.config} {' '.join(args.set)}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"T = {cfg.model.temporal_scale}, overlap {cfg.windows.overlap}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    if "evaluate" not in args.skip:
        bench_evaluate(model, cfg, args.videos, args.reference_windows)
    if "predict" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            bench_predict(model, cfg, Path(tmp), args.minutes)


if __name__ == "__main__":
    main()
