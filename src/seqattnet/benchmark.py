"""Speed, memory and FLOPs of a SeqAttNet config, measured in one run against two references.

Three paths, each timed for inference and for a training step: the config itself; the config with another
proposal stage (`Setting.against`, by default the paper's: Table 1's widths, 32 sample points, full 3x3
convolutions), on the same fast path; and BMN's dense boundary-matching computation of the config (the
exactness reference of the fast path). Each measurement runs in a fresh subprocess so that its peak memory
is its own. CPU memory is the process's peak resident set (`ru_maxrss`, interpreter and torch included);
CUDA memory is `torch.cuda.max_memory_allocated`. Inputs are random features of the config's shape with
random ground truth; weights are random, so the decoding and Soft-NMS work on arbitrary candidates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field

import torch

from .config import Config, load_config

# The paper's proposal stage (Table 1): its widths, 32 boundary-matching sample points, full 3x3 convolutions.
PAPER_STAGE = ["model.base_channels=256", "model.bm_channels=512", "model.map_channels=128", "model.num_samples=32",
               "model.map_conv=full"]
PATHS = ("fast", "against", "reference")  # the config; with the compared stage; BMN's dense BM computation


@dataclass
class Setting:
    config: str = "activitynet"  # shipped config name or YAML path
    overrides: list[str] = field(default_factory=list)  # --set KEY=VALUE, for every path
    against: list[str] = field(default_factory=lambda: list(PAPER_STAGE))  # the proposal stage compared with
    batch_size: int = 16
    repeats: int = 3

    def config_of(self, path: str) -> Config:
        """The config a path measures: the setting's, plus the compared stage or the dense BM computation."""
        extra = {"fast": [], "against": self.against, "reference": ["model.bm_impl=reference"]}[path]
        return load_config(self.config, [*self.overrides, *extra])


def _model_and_batch(setting: Setting, path: str, device: torch.device):
    from .data.dataset import Batch
    from .engine.build import build_model

    cfg = setting.config_of(path)
    m = cfg.model
    g = torch.Generator().manual_seed(0)
    B = setting.batch_size
    starts = torch.rand(B, generator=g) * 0.5
    lengths = 0.1 + 0.4 * torch.rand(B, generator=g)
    segments = [torch.stack([s, s + l])[None] for s, l in zip(starts, lengths)]  # B x (1, 2)
    labels = [torch.randint(0, m.num_classes, (1,), generator=g) for _ in range(B)]
    batch = Batch([f"v{i}" for i in range(B)], torch.full((B,), 120.0, dtype=torch.float64),
                  torch.randn(B, m.feature_dim, m.temporal_scale, generator=g), segments, labels)
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

    model, batch, cfg = _model_and_batch(setting, path, device)
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
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(setting.repeats):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / setting.repeats
    cpu_seconds = (time.process_time() - cpu_start) / setting.repeats  # every thread of this process
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"path": path, "mode": mode, "batch_size": setting.batch_size, "ms_per_video": 1000 * seconds / setting.batch_size,
            "cpu_ms_per_video": 1000 * cpu_seconds / setting.batch_size, "peak_mem_mb": peak_mb,
            "flops_per_video": flops_per_video(setting, path, mode), "params": sum(p.numel() for p in model.parameters())}


def flops_per_video(setting: Setting, path: str, mode: str) -> float:
    """FLOPs of one video's forward (inference) or forward + backward (training), counted by torch.

    torch's counter does not see `embedding_bag`; the fast path's sparse contraction (2 FLOPs per
    non-zero of the sampling mask per output channel, x3 with the backward) is added by hand. Its
    weight-gradient count of a grouped convolution is `groups` times too high; `grouped_conv_backward_flop`
    corrects it.
    """
    from torch.utils.flop_counter import FlopCounterMode

    one = dataclasses.replace(setting, batch_size=1)
    model, batch, _ = _model_and_batch(one, path, torch.device("cpu"))
    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop})
    with counter:
        maps = model(batch.features)
        if mode == "train":
            (maps.confidence.sum() + maps.start.sum() + maps.end.sum()).backward()
    flops = float(counter.get_total_flops())
    bm = model.proposals.boundary_matching
    if bm._impl_for(torch.device("cpu")) == "sparse":
        flops += 2 * bm.gather_index.numel() * bm.weight.shape[0] * (3 if mode == "train" else 1)
    return flops


def grouped_conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                               output_padding, groups, output_mask, out_shape, **kwargs) -> int:
    """A convolution's backward as torch counts it, with the weight gradient of a grouped one divided by `groups`.

    torch counts the weight gradient as one convolution of all input channels with all gradient channels
    (C_in x C_out per position), which a grouped convolution does not compute: each of its g groups pairs
    C_in / g input channels with C_out / g gradient channels, C_in x C_out / g in all.
    """
    from torch.utils.flop_counter import conv_flop_count

    def t(shape):
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:  # the input gradient: a transposed convolution of the output gradient with the weight
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:
        pair = (t(grad_out_shape), t(x_shape)) if transposed else (t(x_shape), t(grad_out_shape))
        flops += conv_flop_count(*pair, t(out_shape[1])) // groups
    return flops


# One measurement in a fresh interpreter: the arguments are written into the code as Python literals.
WORKER = "from seqattnet.benchmark import worker; worker({!r}, {!r}, {!r}, {!r})"


def worker(path: str, mode: str, device: str, setting_json: str) -> None:
    """Run one measurement and print its result as the last line of JSON, which `measure` reads."""
    print(json.dumps(run_one(Setting(**json.loads(setting_json)), path, mode, torch.device(device))))


def measure(setting: Setting, device: str = "cpu", reference_batch: int | None = None) -> dict:
    """Every path of `PATHS`, inference and training, each in its own subprocess, and the ratios.

    reference_batch: batch size for the dense reference (default: the setting's on CUDA, 2 on the
    CPU, where a batch of 16 needs about 21 GB at T = 100); times are per video either way.
    """
    rows = {}
    for path in PATHS:
        batch = setting.batch_size if path != "reference" else (reference_batch or (setting.batch_size if device == "cuda" else 2))
        for mode in ("infer", "train"):
            setting_json = json.dumps({**dataclasses.asdict(setting), "batch_size": batch})
            args = [sys.executable, "-c", WORKER.format(path, mode, device, setting_json)]
            done = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode != 0:
                raise RuntimeError(f"benchmark worker {path} {mode} failed:\n{done.stderr[-2000:]}")
            rows[(path, mode)] = json.loads(done.stdout.strip().splitlines()[-1])
    model = setting.config_of("fast").model
    fast, against, reference = (_summary(rows[(p, "infer")], rows[(p, "train")]) for p in PATHS)
    return {
        "device": _device_name(device),
        "setting": {**dataclasses.asdict(setting), "temporal_scale": model.temporal_scale,
                    "feature_dim": model.feature_dim, "num_classes": model.num_classes},
        **fast,
        "videos_per_s_infer": 1000 / fast["infer_ms_per_video"],
        "against": against,
        "reference": reference,
    }


def _summary(infer: dict, train: dict) -> dict:
    return {"infer_ms_per_video": infer["ms_per_video"], "train_ms_per_video": train["ms_per_video"],
            "infer_cpu_ms_per_video": infer["cpu_ms_per_video"], "train_cpu_ms_per_video": train["cpu_ms_per_video"],
            "peak_mem_mb": train["peak_mem_mb"], "batch_size": train["batch_size"],
            "flops_per_video_infer": infer["flops_per_video"], "flops_per_video_train": train["flops_per_video"],
            "params": train["params"]}


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads)"


# CPU time (all threads of the measuring process) is steadier than wall time on a machine shared with other jobs
ROWS = [("inference ms/video", "infer_ms_per_video", ".1f", 1), ("training ms/video", "train_ms_per_video", ".1f", 1),
        ("inference CPU ms/video", "infer_cpu_ms_per_video", ".1f", 1),
        ("training CPU ms/video", "train_cpu_ms_per_video", ".1f", 1),
        ("peak memory MB", "peak_mem_mb", ".0f", 1), ("GFLOPs/video infer", "flops_per_video_infer", ".2f", 1e9),
        ("GFLOPs/video train", "flops_per_video_train", ".2f", 1e9), ("parameters", "params", ",.0f", 1)]


def format_report(r: dict) -> str:
    """The three paths side by side; each ratio is the other path's figure over the config's."""
    s, against, ref = r["setting"], r["against"], r["reference"]
    lines = [
        f"device: {r['device']}",
        f"config: {' '.join([s['config'], *s['overrides']])}   T={s['temporal_scale']} F={s['feature_dim']} "
        f"Nc={s['num_classes']} batch={s['batch_size']} (dense reference batch {ref['batch_size']})",
        f"compared: the config with {' '.join(s['against']) or 'nothing changed'}",
        f"{'per video':<22}{'config':>12}{'compared':>12}{'ratio':>8}{'dense BM':>12}{'ratio':>8}",
    ]
    for label, key, fmt, scale in ROWS:
        a, b, c = r[key] / scale, against[key] / scale, ref[key] / scale
        lines.append(f"{label:<22}{a:>12{fmt}}{b:>12{fmt}}{b / a:>7.2f}x{c:>12{fmt}}{c / a:>7.2f}x")
    lines.append(f"inference: {r['videos_per_s_infer']:.1f} videos/s")
    return "\n".join(lines)
