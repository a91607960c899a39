"""Exported graphs (onnxruntime, TorchScript) against the PyTorch model in the same run.

The paper's ActivityNet model (T = 100, F = 400, Nc = 200) with random weights, batch 16, 200 random
proposals per video; each runtime runs the proposal graph and the heads graph on the same inputs,
interleaved, median of `--rounds`. Needs `pip install "seqattnet[export]"`.

    python benchmarks/bench_export.py [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from seqattnet.config import load_config
from seqattnet.engine.build import build_model
from seqattnet.engine.checkpoint import save_checkpoint
from seqattnet.export import export_checkpoint

BATCH, PROPOSALS = 16, 200


def inputs(cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """features (B, F, T) and proposals long (B * 200, 3) of random lengths."""
    T, g = cfg.model.temporal_scale, torch.Generator().manual_seed(1)
    features = torch.randn(BATCH, cfg.model.feature_dim, T, generator=g)
    start = torch.randint(0, T, (BATCH * PROPOSALS,), generator=g)
    end = start + 1 + (torch.rand(BATCH * PROPOSALS, generator=g) * (T - start)).long()
    return features, torch.stack([torch.arange(BATCH).repeat_interleave(PROPOSALS), start, end], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import onnxruntime

    warnings.simplefilter("ignore")  # torch.jit's deprecation notices
    torch.manual_seed(0)
    cfg = load_config("activitynet")
    model = build_model(cfg).eval()
    features, proposals = inputs(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        save_checkpoint(checkpoint, model, cfg, [str(i) for i in range(cfg.model.num_classes)])
        export_s = {}
        for fmt in ("onnx", "torchscript"):
            start = time.perf_counter()
            export_checkpoint(checkpoint, Path(tmp) / fmt, fmt)
            export_s[fmt] = time.perf_counter() - start
        onnx_p = onnxruntime.InferenceSession(str(Path(tmp) / "onnx" / "proposals.onnx"))
        onnx_h = onnxruntime.InferenceSession(str(Path(tmp) / "onnx" / "heads.onnx"))
        ts_p = torch.jit.load(str(Path(tmp) / "torchscript" / "proposals.pt"))
        ts_h = torch.jit.load(str(Path(tmp) / "torchscript" / "heads.pt"))
        x, p = features.numpy(), proposals.numpy()
        runs = {
            "pytorch": (lambda: model(features), lambda: model.heads(features, proposals)),
            "onnxruntime": (lambda: onnx_p.run(None, {"features": x}),
                            lambda: onnx_h.run(None, {"features": x, "proposals": p})),
            "torchscript": (lambda: ts_p(features), lambda: ts_h(features, proposals)),
        }
        times = {name: ([], []) for name in runs}
        with torch.no_grad():
            for graphs in runs.values():  # warm-up
                for run in graphs:
                    run()
            for _ in range(args.rounds):
                for name, graphs in runs.items():
                    for run, out in zip(graphs, times[name]):
                        start = time.perf_counter()
                        run()
                        out.append(1000 * (time.perf_counter() - start) / BATCH)
    report = {name: {"proposals_ms": statistics.median(p), "heads_ms": statistics.median(h)}
              for name, (p, h) in times.items()}
    base = report["pytorch"]["proposals_ms"] + report["pytorch"]["heads_ms"]
    print(f"{'ms per video':<14}{'proposals':>11}{'heads':>9}{'total':>9}{'vs pytorch':>12}")
    for name, r in report.items():
        r["total_ms"] = r["proposals_ms"] + r["heads_ms"]
        r["ratio_to_pytorch"] = r["total_ms"] / base
        print(f"{name:<14}{r['proposals_ms']:>11.1f}{r['heads_ms']:>9.1f}{r['total_ms']:>9.1f}{r['ratio_to_pytorch']:>11.2f}x")
    print("export time: " + ", ".join(f"{fmt} {s:.1f} s" for fmt, s in export_s.items()))
    if args.json:
        print(json.dumps({"runtimes": report, "export_s": export_s, "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
