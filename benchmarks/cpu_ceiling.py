"""Can a whole ActivityNet validation `evaluate` (4,728 videos) fit in 3 minutes on this CPU, exactly?

A lower bound on the proposal stage alone: its FLOPs per video (counted by torch, as `seqattnet bench`
counts them; the heads, decoding, Soft-NMS and mAP come on top) divided by the best rate torch's matrix
multiply reaches on this machine (the ceiling no exact reordering of the same arithmetic can pass),
times 4,728. Beside it, the measured time of the whole inference (maps, candidates, heads, scores,
Soft-NMS) per video, T = 100, F = 400, Nc = 200, batch 16, random weights, for the shipped
`activitynet` config (or any other with --config / --set).

    python benchmarks/cpu_ceiling.py [--config activitynet] [--set KEY=VALUE ...] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from seqattnet.benchmark import Setting, _model_and_batch, flops_per_video
from seqattnet.engine.inference import detect

VIDEOS = 4728  # ActivityNet v1.3 validation videos with features
BUDGET_S = 180.0


def best_matmul_gflops(repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of float32 torch.mm, best of `repeats`, for square and for the map head's 3x3-conv shape."""
    shapes = {"2048x2048x2048": (2048, 2048, 2048), "1024x1024x1024": (1024, 1024, 1024),
              "3x3 conv as GEMM (5050x1152x128)": (5050, 1152, 128)}
    out = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * m * k * n / best / 1e9
    return out


def inference_ms_per_video(setting: Setting, repeats: int = 3) -> float:
    model, batch, cfg = _model_and_batch(setting, "fast", torch.device("cpu"))
    model.eval()
    ids = [str(i) for i in range(setting.batch_size)]
    durations = torch.full((setting.batch_size,), 120.0, dtype=torch.float64)
    detect(model, batch.features, ids, durations, cfg.inference)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        detect(model, batch.features, ids, durations, cfg.inference)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / setting.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="activitynet", help="shipped config name or YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gflops = best_matmul_gflops()
    ceiling = max(gflops.values())
    setting = Setting(args.config, args.set)
    flops = flops_per_video(setting, "fast", "infer")
    floor_s = VIDEOS * flops / (ceiling * 1e9)
    ms = inference_ms_per_video(setting)
    report = {"threads": args.threads, "matmul_gflops": gflops, "proposal_gflops_per_video": flops / 1e9,
              "floor_s_4728": floor_s, "infer_ms_per_video": ms, "measured_s_4728": VIDEOS * ms / 1000,
              "budget_s": BUDGET_S, "needed_gflops_for_budget": VIDEOS * flops / BUDGET_S / 1e9}
    for name, value in gflops.items():
        print(f"torch.mm {name:<34} {value:8.1f} GFLOP/s")
    print(f"proposal stage                              {flops / 1e9:8.2f} GFLOP per video")
    print(f"floor for {VIDEOS} videos at the best matmul rate {floor_s:8.1f} s (proposal stage alone)")
    print(f"needed to fit {BUDGET_S:.0f} s                      {report['needed_gflops_for_budget']:8.1f} GFLOP/s "
          f"({report['needed_gflops_for_budget'] / ceiling:.2f}x the best matmul rate)")
    print(f"measured whole inference                    {ms:8.1f} ms per video -> {report['measured_s_4728']:.0f} s")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
