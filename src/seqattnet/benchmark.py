"""Speed, memory and FLOPs of SeqAttNet: the fast path against BMN's dense reference, measured in one run.

Each measurement runs in a fresh subprocess so that its peak memory is its own. CPU memory is the
process's peak resident set (`ru_maxrss`, interpreter and torch included); CUDA memory is
`torch.cuda.max_memory_allocated`. Inputs are random features of the paper's shape with random
ground truth; weights are random, so the decoding and Soft-NMS work on arbitrary candidates.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

import torch

PATHS = {"fast": "auto", "reference": "reference"}


@dataclass
class Setting:
    temporal_scale: int = 100  # T
    feature_dim: int = 400  # F
    num_classes: int = 200  # Nc
    batch_size: int = 16
    repeats: int = 3


def _model_and_batch(setting: Setting, bm_impl: str, device: torch.device):
    from .config import load_config
    from .data.dataset import Batch
    from .engine.build import build_model

    cfg = load_config("activitynet-paper")  # the paper's model, at the setting's T, F and Nc
    m = cfg.model
    m.temporal_scale = m.max_duration = setting.temporal_scale
    m.feature_dim, m.num_classes, m.bm_impl = setting.feature_dim, setting.num_classes, bm_impl
    g = torch.Generator().manual_seed(0)
    B = setting.batch_size
    starts = torch.rand(B, generator=g) * 0.5
    lengths = 0.1 + 0.4 * torch.rand(B, generator=g)
    segments = [torch.stack([s, s + l])[None] for s, l in zip(starts, lengths)]  # B x (1, 2)
    labels = [torch.randint(0, setting.num_classes, (1,), generator=g) for _ in range(B)]
    batch = Batch([f"v{i}" for i in range(B)], torch.full((B,), 120.0, dtype=torch.float64),
                  torch.randn(B, setting.feature_dim, setting.temporal_scale, generator=g), segments, labels)
    torch.manual_seed(0)
    return build_model(cfg).to(device), batch.to(device), cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_one(setting: Setting, path: str, mode: str, device: torch.device) -> dict:
    """Time `repeats` inference passes or training steps of one batch; ms per video and peak memory."""
    from .engine.build import build_optimizer
    from .engine.inference import detect
    from .engine.train import TargetCache, training_loss

    model, batch, cfg = _model_and_batch(setting, PATHS[path], device)
    if mode == "infer":
        model.eval()

        def step() -> None:
            detect(model, batch.features, batch.video_ids, batch.durations_s, cfg.inference)
    else:
        optimizer, _ = build_optimizer(cfg, model)
        cache = TargetCache(cfg)

        def step() -> None:
            loss = training_loss(model, batch, cfg, cache=cache).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    step()  # warm-up: allocator, kernels, sparse structures
    _sync(device)
    start = time.perf_counter()
    for _ in range(setting.repeats):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / setting.repeats
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"path": path, "mode": mode, "batch_size": setting.batch_size, "ms_per_video": 1000 * seconds / setting.batch_size,
            "peak_mem_mb": peak_mb, "flops_per_video": flops_per_video(setting, path, mode)}


def flops_per_video(setting: Setting, path: str, mode: str) -> float:
    """FLOPs of one video's forward (inference) or forward + backward (training), counted by torch.

    torch's counter does not see `embedding_bag`; the fast path's sparse contraction (2 FLOPs per
    non-zero of the sampling mask per output channel, x3 with the backward) is added by hand.
    """
    from torch.utils.flop_counter import FlopCounterMode

    one = Setting(setting.temporal_scale, setting.feature_dim, setting.num_classes, batch_size=1)
    model, batch, cfg = _model_and_batch(one, PATHS[path], torch.device("cpu"))
    counter = FlopCounterMode(display=False)
    with counter:
        maps = model(batch.features)
        if mode == "train":
            (maps.confidence.sum() + maps.start.sum() + maps.end.sum()).backward()
    flops = float(counter.get_total_flops())
    bm = model.proposals.boundary_matching
    if bm._impl_for(torch.device("cpu")) == "sparse":
        flops += 2 * bm.gather_index.numel() * bm.weight.shape[0] * (3 if mode == "train" else 1)
    return flops


# One measurement in a fresh interpreter: the arguments are written into the code as Python literals.
WORKER = "from seqattnet.benchmark import worker; worker({!r}, {!r}, {!r}, {!r})"


def worker(path: str, mode: str, device: str, setting_json: str) -> None:
    """Run one measurement and print its result as the last line of JSON, which `measure` reads."""
    print(json.dumps(run_one(Setting(**json.loads(setting_json)), path, mode, torch.device(device))))


def measure(setting: Setting, device: str = "cpu", reference_batch: int | None = None) -> dict:
    """Fast and reference paths, inference and training, each in its own subprocess, and the ratios.

    reference_batch: batch size for the dense reference (default: the setting's on CUDA, 2 on the
    CPU, where a batch of 16 needs about 21 GB); times are per video either way.
    """
    rows = {}
    for path in ("fast", "reference"):
        batch = setting.batch_size if path == "fast" else (reference_batch or (setting.batch_size if device == "cuda" else 2))
        for mode in ("infer", "train"):
            setting_json = json.dumps({**setting.__dict__, "batch_size": batch})
            args = [sys.executable, "-c", WORKER.format(path, mode, device, setting_json)]
            done = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode != 0:
                raise RuntimeError(f"benchmark worker {path} {mode} failed:\n{done.stderr[-2000:]}")
            rows[(path, mode)] = json.loads(done.stdout.strip().splitlines()[-1])
    fast_i, fast_t = rows[("fast", "infer")], rows[("fast", "train")]
    ref_i, ref_t = rows[("reference", "infer")], rows[("reference", "train")]
    return {
        "device": _device_name(device),
        "setting": setting.__dict__,
        "infer_ms_per_video": fast_i["ms_per_video"],
        "train_ms_per_video": fast_t["ms_per_video"],
        "videos_per_s_infer": 1000 / fast_i["ms_per_video"],
        "peak_mem_mb": fast_t["peak_mem_mb"],
        "peak_mem_mb_infer": fast_i["peak_mem_mb"],
        "flops_per_video_infer": fast_i["flops_per_video"],
        "flops_per_video_train": fast_t["flops_per_video"],
        "reference": {"infer_ms_per_video": ref_i["ms_per_video"], "train_ms_per_video": ref_t["ms_per_video"],
                      "peak_mem_mb": ref_t["peak_mem_mb"], "batch_size": ref_t["batch_size"],
                      "flops_per_video_infer": ref_i["flops_per_video"], "flops_per_video_train": ref_t["flops_per_video"]},
        "speedup_infer": ref_i["ms_per_video"] / fast_i["ms_per_video"],
        "speedup_train": ref_t["ms_per_video"] / fast_t["ms_per_video"],
        "params": _params(setting),
    }


def _params(setting: Setting) -> int:
    model, _, _ = _model_and_batch(Setting(setting.temporal_scale, setting.feature_dim, setting.num_classes, 1),
                                   "auto", torch.device("cpu"))
    return sum(p.numel() for p in model.parameters())


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads)"


def format_report(r: dict) -> str:
    ref = r["reference"]
    lines = [
        f"device: {r['device']}   T={r['setting']['temporal_scale']} F={r['setting']['feature_dim']} "
        f"Nc={r['setting']['num_classes']} batch={r['setting']['batch_size']} (reference batch {ref['batch_size']})   "
        f"parameters: {r['params']:,}",
        f"{'':<22}{'fast':>12}{'reference':>12}{'ratio':>8}",
        f"{'inference ms/video':<22}{r['infer_ms_per_video']:>12.1f}{ref['infer_ms_per_video']:>12.1f}{r['speedup_infer']:>7.1f}x",
        f"{'training ms/video':<22}{r['train_ms_per_video']:>12.1f}{ref['train_ms_per_video']:>12.1f}{r['speedup_train']:>7.1f}x",
        f"{'peak memory MB':<22}{r['peak_mem_mb']:>12.0f}{ref['peak_mem_mb']:>12.0f}",
        f"{'GFLOPs/video infer':<22}{r['flops_per_video_infer'] / 1e9:>12.2f}{ref['flops_per_video_infer'] / 1e9:>12.2f}",
        f"{'GFLOPs/video train':<22}{r['flops_per_video_train'] / 1e9:>12.2f}{ref['flops_per_video_train'] / 1e9:>12.2f}",
        f"inference: {r['videos_per_s_infer']:.1f} videos/s",
    ]
    return "\n".join(lines)
