"""Speed of batched Soft-NMS: 4,728 videos (ActivityNet validation) x 5,000 candidates down to 100 each,
against BMN's per-video Python loop (seqattnet/testing/reference_soft_nms.py).

Candidates are shaped like a BM confidence map's: 5,000 of the 5,050 cells [s, e) with 0 <= s < e <= 100
on the T = 100 grid, normalised to [0, 1], with uniform random scores (seeded). Options are the paper's
(BMN's): Gaussian decay, sigma 0.4, adaptive threshold 0.5 + 0.4 * width, class-agnostic, top 100.

The reference would take many minutes on all videos: it is timed on a fixed number of videos and
extrapolated linearly (videos are independent), and the fast results must be identical there.

    python benchmarks/bench_soft_nms.py [--json] [--device cpu|cuda] [--cpu-threads 1] [--reference-videos 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from seqattnet.postprocess import batched_soft_nms
from seqattnet.testing.reference_soft_nms import soft_nms_loop

OPTIONS = dict(method="gaussian", sigma=0.4, adaptive=(0.5, 0.9), top_k=100)


def candidates(videos: int, n: int, seed: int, temporal_scale: int = 100):
    """segments float32[V, n, 2] (normalised BM-map cells), scores float32[V, n]."""
    g = torch.Generator().manual_seed(seed)
    start, end = torch.meshgrid(torch.arange(temporal_scale + 1), torch.arange(temporal_scale + 1), indexing="ij")
    cell = end > start
    grid = torch.stack([start[cell], end[cell]], dim=1).float() / temporal_scale  # (5050, 2)
    pick = torch.argsort(torch.rand(videos, len(grid), generator=g), dim=1)[:, :n]  # n cells per video
    return grid[pick], torch.rand(videos, n, generator=g)


def machine(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), torch {torch.__version__}, load average {load:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="last line: one JSON object of the figures")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--videos", type=int, default=4728)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--reference-videos", type=int, default=8, help="videos the slow loop runs on")
    parser.add_argument("--cpu-threads", type=int, default=1,
                        help="torch threads during Soft-NMS on CPU (the function's default, 1); 0: leave torch's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    threads = args.cpu_threads or None

    segments, scores = candidates(args.videos, args.candidates, args.seed)
    print(f"machine: {machine(args.device)}; Soft-NMS with "
          f"{threads or torch.get_num_threads()} of torch's {torch.get_num_threads()} CPU threads")
    print(f"problem: {args.videos:,} videos x {args.candidates:,} candidates -> top {OPTIONS['top_k']}; "
          f"Gaussian sigma {OPTIONS['sigma']}, adaptive threshold {OPTIONS['adaptive']}")
    on = segments.to(args.device), scores.to(args.device)
    valid = torch.ones_like(on[1], dtype=torch.bool)
    if args.device == "cuda":  # warm-up: CUDA context and kernels
        batched_soft_nms(on[0][:8], on[1][:8], valid[:8], **OPTIONS)
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = batched_soft_nms(*on, valid, cpu_threads=threads, **OPTIONS)
    if args.device == "cuda":
        torch.cuda.synchronize()
    fast_s, fast_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"fast (batched_soft_nms):  {fast_s:8.2f} s wall, {fast_cpu_s:.2f} s CPU; "
          f"{int(result.valid.sum()):,} segments kept")

    n = min(args.reference_videos, args.videos)
    start = time.perf_counter()
    expected = [soft_nms_loop(segments[v, :, 0].tolist(), segments[v, :, 1].tolist(), scores[v].tolist(), **OPTIONS)
                for v in range(n)]
    reference_part_s = time.perf_counter() - start
    reference_s = reference_part_s * args.videos / n
    identical = all(result.indices[v].cpu().tolist() == [i for i, _ in expected[v]] for v in range(n))
    print(f"reference (Python loop):  {reference_part_s:8.2f} s on {n} videos, "
          f"extrapolated x{args.videos / n:.0f} to {reference_s:.0f} s")
    print(f"same kept segments on those videos: {identical}")
    print(f"speed-up: {reference_s / fast_s:.0f}x; budget 30 s: {'met' if fast_s <= 30 else 'MISSED'}")
    if args.json:
        print(json.dumps({"device": args.device, "cpu_threads": threads or torch.get_num_threads(),
                          "fast_s": fast_s, "fast_cpu_s": fast_cpu_s,
                          "reference_s_extrapolated": reference_s, "reference_videos": n,
                          "ratio": reference_s / fast_s, "identical": identical}))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
