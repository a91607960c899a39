"""The heads (class head, boundary or paper error head) per window: the model's time-major path against
the channel-major one it replaced, in the same run on the same inputs.

For each config (default `thumos14`, T = 128, F = 2048, 20 classes; and `activitynet`, T = 100, F = 400):
random weights, `--windows` random windows, their candidates decoded from the maps as inference does
(`decode_candidates`, up to `inference.max_candidates` a window), then
1. inference: `model.heads(features, candidates, refine_steps)` without gradients;
2. a training step's heads: `--proposals` ground-truth-like proposals a window (random lengths 1 .. T),
   forward and backward of a loss on the class log-probabilities and the offsets.
Times are CPU milliseconds a window (`time.process_time`, the best of `--repeats`) at `--threads` torch
threads, so that other jobs on a shared machine count less; the ratio is the reference's over the model's.
The outputs (and the gradients) of the two paths are compared and their largest difference printed.

The reference keeps each proposal's 3D input channel-major, X: (P, F, W), as the model did before:
a gathered (P, W, F) input transposed into a contiguous copy, the attention logits `F.linear` over the
last axis, a masked softmax of (P, F, W), A * X, then Linear(W, 1).

    python benchmarks/bench_heads.py [--config thumos14 --config activitynet] [--windows 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.nn import functional as F

from seqattnet.config import load_config
from seqattnet.model import HeadOutputs, SeqAttNet
from seqattnet.model.heads import SequentialHead, widen
from seqattnet.postprocess.decode import decode_candidates

OVERRIDES = {"thumos14": ["model.num_classes=20"]}  # THUMOS14's 20 classes; ActivityNet keeps its 200


# ---- the reference: channel-major X (P, F, W) ----------------------------------------------------------------
def reference_amass(features, rows, mode, width):
    """X: (P, F, width) channel-major, valid: (P, width)."""
    B, Fdim, T = features.shape
    b, start, end = rows.unbind(1)
    length = (end - start).clamp(min=1)
    table = torch.cat([features.transpose(1, 2).reshape(B * T, Fdim), features.new_zeros(1, Fdim)])
    if mode == "pad":
        steps = torch.arange(width)
        valid = steps[None, :] < length[:, None]
        index = torch.where(valid, (b * T + start)[:, None] + steps[None, :], B * T)
        return table[index].transpose(1, 2).contiguous(), valid
    pos = start[:, None] + (length - 1)[:, None].to(features.dtype) * torch.arange(T)[None, :] / max(T - 1, 1)
    lo = pos.floor().long().clamp(0, T - 1)
    hi = torch.minimum(lo + 1, (end - 1)[:, None])
    frac = (pos - lo).unsqueeze(-1)
    x = table[(b * T)[:, None] + lo] * (1 - frac) + table[(b * T)[:, None] + hi] * frac
    return x.transpose(1, 2).contiguous(), torch.ones_like(lo, dtype=torch.bool)


def reference_head(head: SequentialHead, x, valid):
    """Eq. 1 on channel-major X (P, F, W) -> (P, out)."""
    n, linear = x.shape[-1], head.attention.linear
    if linear is not None:
        logits = F.linear(x, linear.weight[:n, :n], linear.bias[:n])  # (P, F, W)
        if head.attention.mode == "sigmoid":
            x = torch.sigmoid(logits) * x
        else:
            x = torch.softmax(logits.masked_fill(~valid[:, None, :], float("-inf")), dim=-1) * x
    return head.content(torch.relu(F.linear(x, head.time.weight[:, :n], head.time.bias).squeeze(-1)))


def reference_boundary(head, features, proposals, steps):
    """BoundaryErrorHead.forward with channel-major windows (2P, F, points)."""
    B, Fdim, T = features.shape
    grid = proposals[:, 1:].to(features.dtype)
    bounds, scale = grid, None
    offsets = (torch.arange(head.points, dtype=features.dtype) + 0.5) / head.points * 2 - 1
    table = features.transpose(1, 2).reshape(B * T, Fdim)
    base = (proposals[:, 0] * T).repeat(2)[:, None]
    for _ in range(steps):
        start, end = bounds.unbind(1)
        half = (head.context * (end - start)).clamp(min=1.0)
        pos = torch.cat([start[:, None] + half[:, None] * offsets, end[:, None] - half[:, None] * offsets]) - 0.5
        lo = pos.floor().clamp(0, T - 1)
        frac = (pos - lo).clamp(0, 1).unsqueeze(-1)
        lo = lo.long()
        x = table[base + lo] * (1 - frac) + table[base + (lo + 1).clamp(max=T - 1)] * frac
        x = x.transpose(1, 2).contiguous()  # (2P, F, points)
        out = torch.tanh(reference_head(head.net, x, torch.ones(x.shape[0], head.points, dtype=torch.bool)))
        bounds = bounds + out.view(2, -1).t() * torch.stack([half, -half], dim=1)
        scale = (half / head.temporal_scale)[:, None] if scale is None else scale
    return (bounds - grid) / head.temporal_scale, scale


def reference_heads(model: SeqAttNet, features, proposals, refine_steps: int = 1) -> HeadOutputs:
    """SeqAttNet.heads, channel-major."""
    rows = widen(proposals, model.temporal_scale, model.amass_context)
    groups = model._length_groups(rows)
    outs = []
    for index, width in groups:
        x, valid = reference_amass(features, rows[index], model.amassment, width)
        outs.append((reference_head(model.error_head, x, valid) if model.error_head is not None else None,
                     reference_head(model.class_head, x, valid)))
    order = torch.argsort(torch.cat([index for index, _ in groups]))
    log_probs = torch.log_softmax(torch.cat([c for _, c in outs])[order], dim=-1)
    if model.boundary_head is not None:
        offsets, scale = reference_boundary(model.boundary_head, features, proposals, refine_steps)
        return HeadOutputs(offsets, log_probs, scale)
    offsets = torch.tanh(torch.cat([o for o, _ in outs])[order]) if model.error_head is not None else None
    return HeadOutputs(offsets, log_probs)


# ---- measuring ---------------------------------------------------------------------------------------------
def cpu_ms(reference, model, repeats: int) -> tuple[list[float], list]:
    """The best of `repeats` CPU times in ms of reference() and model(), taken in turns (after one warm-up
    call each) so that a change in the machine's load falls on both; and their last results."""
    fns, outs, best = (reference, model), [reference(), model()], [float("inf")] * 2
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.process_time()
            outs[i] = fn()
            best[i] = min(best[i], time.process_time() - start)
    return [b * 1000 for b in best], outs


def report(what: str, windows: int, ms: list[float], outs: list) -> None:
    print(f"  {what}: reference {ms[0] / windows:.1f} ms, model {ms[1] / windows:.1f} ms a window (CPU), "
          f"ratio {ms[0] / ms[1]:.2f}x; largest difference {largest_difference(outs[1], outs[0]):.1e}")


def largest_difference(got, want) -> float:
    return max(float((g - w).abs().max()) for g, w in zip(got, want) if w is not None and w.numel())


def training_proposals(windows: int, per_window: int, T: int, generator: torch.Generator) -> torch.Tensor:
    """long Tensor[windows * per_window, 3]: random lengths 1 .. T at random starts, like ground truth."""
    length = torch.randint(1, T + 1, (windows, per_window), generator=generator)
    start = (torch.rand(windows, per_window, generator=generator) * (T - length + 1)).long()
    b = torch.arange(windows)[:, None].expand(windows, per_window)
    return torch.stack([b, start, start + length], dim=-1).reshape(-1, 3)


def training_step(heads_fn, model: SeqAttNet, features: torch.Tensor, proposals: torch.Tensor):
    """The heads' forward and backward of a loss on their outputs -> (loss, gradients of the heads' weights)."""
    model.zero_grad(set_to_none=True)
    out = heads_fn(model, features, proposals)  # refine_steps 1, as training runs
    loss = -out.class_log_probs[:, 0].mean() + (0 if out.offsets is None else (out.offsets ** 2).sum())
    loss.backward()
    return [loss.detach()] + [p.grad for name, p in model.named_parameters() if not name.startswith("proposals.")]


def bench(name: str, windows: int, per_window: int, repeats: int) -> None:
    cfg = load_config(name, OVERRIDES.get(name, []))
    m, inf = cfg.model, cfg.inference
    torch.manual_seed(0)
    model = SeqAttNet(m).eval()
    features = torch.randn(windows, m.feature_dim, m.temporal_scale)
    with torch.no_grad():
        maps = model(features)
    proposals = decode_candidates(maps.start, maps.end, maps.confidence, peak_ratio=inf.peak_ratio,
                                  max_candidates=inf.max_candidates).proposals
    lengths = (proposals[:, 2] - proposals[:, 1]).float()
    print(f"{name}: T = {m.temporal_scale}, F = {m.feature_dim}, Nc = {m.num_classes}, error head "
          f"{m.error_input if m.error_head else 'none'}; {windows} windows, {len(proposals)} candidates "
          f"(mean length {lengths.mean():.1f}, max {lengths.max():.0f})")
    with torch.no_grad():
        ms, outs = cpu_ms(lambda: reference_heads(model, features, proposals, inf.refine_steps),
                          lambda: model.heads(features, proposals, inf.refine_steps), repeats)
    report("inference heads", windows, ms, outs)
    model.train()
    rows = training_proposals(windows, per_window, m.temporal_scale, torch.Generator().manual_seed(1))
    ms, outs = cpu_ms(lambda: training_step(reference_heads, model, features, rows),
                      lambda: training_step(SeqAttNet.heads, model, features, rows), repeats)
    report(f"training heads, forward + backward of {per_window} proposals a window (loss and gradients)",
           windows, ms, outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="config name (repeatable; default thumos14, activitynet)")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--proposals", type=int, default=16, help="training proposals a window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for name in args.config or ["thumos14", "activitynet"]:
        bench(name, args.windows, args.proposals, args.repeats)


if __name__ == "__main__":
    main()
