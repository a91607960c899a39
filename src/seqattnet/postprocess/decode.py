"""From the network's maps and head outputs to scored, refined detections (Sec. 3.6; docs/model.md, Inference)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Candidates(NamedTuple):
    proposals: torch.Tensor  # long (P, 3): batch index, start_idx, end_idx (end exclusive) on the T grid
    confidence: torch.Tensor  # (P,) P = p_s * p_e * M_CC * M_CR


def boundary_candidates(prob: torch.Tensor, peak_ratio: float = 0.5) -> torch.Tensor:
    """bool Tensor[B, T]: snippets whose probability is a local peak or above peak_ratio x the video's max (BMN).

    prob: Tensor[B, T]. The first and last snippet count as peaks when higher than their one neighbour.
    """
    left = torch.nn.functional.pad(prob[:, :-1], (1, 0), value=-1.0)  # prob[t - 1]
    right = torch.nn.functional.pad(prob[:, 1:], (0, 1), value=-1.0)  # prob[t + 1]
    peak = (prob > left) & (prob > right)
    high = prob > peak_ratio * prob.max(dim=1, keepdim=True).values
    return peak | high


def decode_candidates(start: torch.Tensor, end: torch.Tensor, confidence: torch.Tensor, *,
                      peak_ratio: float = 0.5, max_candidates: int = 200) -> Candidates:
    """Candidate proposals of a batch, the best `max_candidates` per video by proposal confidence.

    start, end: Tensor[B, T]; confidence: Tensor[B, 2, D, T] (M_CR, M_CC). A cell (d, s) is a
    candidate when s is a start candidate, s + d an end candidate, and s + d < T.
    """
    B, T = start.shape
    D = confidence.shape[2]
    d = torch.arange(D, device=start.device)[:, None]
    s = torch.arange(T, device=start.device)[None, :]
    end_idx = s + d  # (D, T): last snippet of cell (d, s)
    inside = end_idx < T
    end_clamped = end_idx.clamp(max=T - 1)
    start_ok = boundary_candidates(start, peak_ratio)[:, None, :]  # (B, 1, T)
    end_ok = boundary_candidates(end, peak_ratio)[:, end_clamped]  # (B, D, T)
    ok = start_ok & end_ok & inside
    score = start[:, None, :] * end[:, end_clamped] * confidence[:, 0] * confidence[:, 1]  # (B, D, T)
    score = torch.where(ok, score, torch.full_like(score, -1.0)).reshape(B, D * T)
    k = min(max_candidates, D * T)
    top, flat = score.topk(k, dim=1)  # (B, k)
    keep = top >= 0
    batch = torch.arange(B, device=start.device)[:, None].expand(B, k)[keep]
    flat = flat[keep]
    dur, st = flat // T, flat % T
    proposals = torch.stack([batch, st, st + dur + 1], dim=1)  # (P, 3)
    return Candidates(proposals, top[keep])


def candidates_in(candidates: Candidates, shares_norm: torch.Tensor, temporal_scale: int) -> Candidates:
    """The candidates whose proposal is centred in its video's share [lo, hi) of normalised time.

    shares_norm: Tensor[B, 2] (lo, hi) per video of the batch (a sliding window's own share of its
    video, engine/windowed.py)."""
    rows = candidates.proposals  # (P, 3) batch index, start_idx, end_idx
    centre = (rows[:, 1] + rows[:, 2]).to(shares_norm.dtype) / (2 * temporal_scale)  # (P,)
    share = shares_norm[rows[:, 0]]  # (P, 2)
    inside = (centre >= share[:, 0]) & (centre < share[:, 1])
    return Candidates(rows[inside], candidates.confidence[inside])


class ScoredSegments(NamedTuple):
    segments_norm: torch.Tensor  # (M, 2) refined proposal in units of the video
    scores: torch.Tensor  # (M,) S = P x Cscore (Sec. 3.6)
    labels: torch.Tensor  # long (M,)
    video_index: torch.Tensor  # long (M,) batch index


def score_candidates(candidates: Candidates, offsets_norm: torch.Tensor | None, class_log_probs: torch.Tensor,
                     temporal_scale: int, *, top_k_classes: int = 1, class_min_score: float = 0.0) -> ScoredSegments:
    """Refine each candidate with the error head and score it for its top-k classes.

    offsets_norm: Tensor[P, 2] (delta_s, delta_e) in units of the video or None (no refinement);
    class_log_probs: Tensor[P, Nc]. Refined t = t + T delta in snippets (Sec. 3.5.2), i.e. u + delta
    in normalised units, clipped to [0, 1]; a refinement that would reverse the segment is dropped.
    Each of the top-k classes c gives one row scored S = P x Cscore_c; a class after the first is kept
    only when Cscore_c >= class_min_score x the first's (a segment annotated twice, with two labels, gets
    both where the class head splits its probability between them; 0 keeps all k).
    """
    rows = candidates.proposals  # (P, 3) batch index, start_idx, end_idx
    seg = rows[:, 1:].to(class_log_probs.dtype) / temporal_scale  # (P, 2)
    if offsets_norm is not None:
        refined = (seg + offsets_norm.to(seg.dtype)).clamp(0.0, 1.0)
        seg = torch.where((refined[:, 1] > refined[:, 0])[:, None], refined, seg)
    k = min(top_k_classes, class_log_probs.shape[1])
    class_prob, label = class_log_probs.exp().topk(k, dim=1)  # (P, k)
    keep = (class_prob >= class_min_score * class_prob[:, :1]).reshape(-1)  # (P k,); the first always
    scores = candidates.confidence[:, None] * class_prob  # (P, k)
    return ScoredSegments(seg.repeat_interleave(k, dim=0)[keep], scores.reshape(-1)[keep], label.reshape(-1)[keep],
                          rows[:, 0].repeat_interleave(k)[keep])
