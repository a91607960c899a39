"""Training cost of a windowed recipe on the built-in THUMOS-shaped data (200 training videos, 2048-d features).

1. The recipe (default: the shipped `thumos14`): one full `seqattnet train` run, timed: wall and CPU seconds of
   its epochs and of the whole run (its epochs, checkpoints and the final evaluation on the training videos).
2. The reference, measured in the same run: the windowed recipe as it stood before random windows (every
   overlapping window of T = 128 snippets each epoch, Table 1's proposal stage, 10 epochs: REFERENCE below),
   timed over `--reference-steps` training steps and extrapolated to its full run by its number of steps.
The ratio is the reference's extrapolated training time over the recipe's measured one.
Target: the recipe's full run in <= 30 min of wall time on a 2-core CPU, quiet, 2 threads.

    python benchmarks/bench_thumos_training.py                        # the shipped thumos14
    python benchmarks/bench_thumos_training.py --set train.epochs=4 --reference-steps 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from seqattnet.config import load_config
from seqattnet.data.dataset import collate
from seqattnet.engine.build import build_dataset, build_model, build_optimizer, ensure_synthetic_data, load_ground_truth
from seqattnet.engine.fit import train
from seqattnet.engine.train import TargetCache, training_loss

BUILT_IN = ["synthetic.generate=true", "synthetic.layout=thumos", "data.annotations=annotations.json",
            "data.features=features", "data.classes=classes.txt"]
REFERENCE = ["windows.train_per_video=0", "model.temporal_scale=128", "model.max_duration=64", "windows.overlap=0.5",
             "model.base_channels=256", "model.bm_channels=512", "model.map_channels=128", "model.num_samples=32",
             "model.map_conv=full", "train.epochs=10", "train.batch_size=16", "train.lr=0.0005", "train.lr_step=0"]


def reference_seconds(overrides: list[str], steps: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of the reference's full training, extrapolated from `steps` timed steps; its step count."""
    cfg = load_config("thumos14", [*overrides, *REFERENCE])
    truth, classes = load_ground_truth(cfg)
    dataset = build_dataset(cfg, cfg.data.train_subset, truth, classes)
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    model = build_model(cfg).train()
    optimizer, _ = build_optimizer(cfg, model)
    cache, batches = TargetCache(cfg), iter(loader)
    wall = cpu = 0.0
    for step in range(steps + 1):  # the first step warms up and is not counted
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = training_loss(model, next(batches), cfg, cache=cache).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step:
            wall, cpu = wall + time.perf_counter() - start, cpu + time.process_time() - cpu_start
    total_steps = len(loader) * cfg.train.epochs
    return wall / steps * total_steps, cpu / steps * total_steps, total_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="thumos14")
    parser.add_argument("--set", action="append", default=[], help="config overrides of the recipe, key=value")
    parser.add_argument("--data", default="runs/thumos-syn/data", help="the built-in data (generated there if absent)")
    parser.add_argument("--out", default="runs/bench-thumos-train", help="the recipe's run folder (replaced)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-steps", type=int, default=10, help="timed steps of the reference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = [f"data.root={args.data}", *BUILT_IN, f"train.num_threads={args.threads}"]
    cfg = load_config(args.config, [*data, *args.set])
    ensure_synthetic_data(cfg, progress=True)
    print(f"{os.cpu_count()} CPUs, {args.threads} threads, load {os.getloadavg()[0]:.1f}", flush=True)

    ref_wall, ref_cpu, ref_steps = reference_seconds(data, args.reference_steps)
    print(f"reference (every window, Table 1's stage, 10 epochs): {ref_steps} steps, extrapolated from "
          f"{args.reference_steps}: {ref_wall / 60:.1f} min wall, {ref_cpu / 60:.1f} min CPU", flush=True)

    shutil.rmtree(args.out, ignore_errors=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    report = train(cfg, args.out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    epochs = [float(s) for s in re.findall(r"epoch \d+/\d+ +(\d+) s", (Path(args.out) / "train.log").read_text())]
    print(f"recipe {args.config} {' '.join(args.set)}: {cfg.train.epochs} epochs in {sum(epochs) / 60:.1f} min wall "
          f"({', '.join(f'{s:.0f}' for s in epochs)} s); whole run with its final evaluation {wall / 60:.1f} min wall, "
          f"{cpu / 60:.1f} min CPU (target <= 30 min); average mAP on the training videos "
          f"{100 * report.detection.average_mAP:.2f}")
    print(f"ratio (reference's training over the recipe's epochs): {ref_wall / max(sum(epochs), 1e-9):.1f}x")
    print(json.dumps({"reference_wall_s": ref_wall, "recipe_epochs_wall_s": sum(epochs), "recipe_run_wall_s": wall,
                      "recipe_run_cpu_s": cpu, "average_mAP": report.detection.average_mAP}))


if __name__ == "__main__":
    main()
