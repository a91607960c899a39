"""The mapping between seconds, snippets and the T grid, and the rescaling of features onto that grid.

A feature file holds one row per snippet: float[n_snippets, F]. Snippet i was computed from the
frames [i·stride, i·stride + window) and stands at the centre of that window:

    c_i = (i·stride + window/2) / fps                      seconds
    i(t) = (t·fps − window/2) / stride                      its inverse (a fractional index)

The model sees every video on a grid of T cells. Cell t is the normalised interval [t/T, (t+1)/T)
of the video, with u = seconds / duration_s, and its value is the features linearly interpolated at
the cell centre

    τ_t = (t + 0.5) / T · duration_s                        seconds

(held at the first / last snippet outside the snippets' range). BMN's CSV layout is already on such a
grid (exactly T rows); it passes through unchanged.
"""

from __future__ import annotations

import numpy as np


# --- time mapping -------------------------------------------------------------------------------


def snippet_times_s(n: int, stride_frames: float, window_frames: float, fps: float) -> np.ndarray:
    """Centres of snippets 0 … n−1 in seconds: c_i = (i·stride + window/2) / fps -> float64[n]."""
    return index_to_seconds(np.arange(n, dtype=np.float64), stride_frames, window_frames, fps)


def index_to_seconds(i, stride_frames: float, window_frames: float, fps: float):
    """Snippet index (may be fractional) -> seconds at its centre. Inverse of `seconds_to_index`."""
    return (np.asarray(i, dtype=np.float64) * stride_frames + window_frames / 2.0) / fps


def seconds_to_index(t_s, stride_frames: float, window_frames: float, fps: float):
    """Seconds -> fractional snippet index whose centre is at t_s. Inverse of `index_to_seconds`."""
    return (np.asarray(t_s, dtype=np.float64) * fps - window_frames / 2.0) / stride_frames


def num_snippets(duration_s: float, fps: float, stride_frames: float, window_frames: float) -> int:
    """Snippets a feature extractor yields for a video: floor((duration·fps − window) / stride) + 1, at least 1."""
    frames = duration_s * fps
    return max(1, int(np.floor((frames - window_frames) / stride_frames + 1e-9)) + 1)


def grid_centres_s(duration_s: float, T: int) -> np.ndarray:
    """Centres of the T grid cells in seconds: τ_t = (t + 0.5)/T · duration_s -> float64[T]."""
    return (np.arange(T, dtype=np.float64) + 0.5) / T * duration_s


def seconds_to_cell(t_s, duration_s: float, T: int) -> np.ndarray:
    """The grid cell holding time t_s: floor(t_s / duration_s · T), clipped to [0, T−1] -> int64."""
    cell = np.floor(np.asarray(t_s, dtype=np.float64) / duration_s * T).astype(np.int64)
    return np.clip(cell, 0, T - 1)


# --- rescaling ----------------------------------------------------------------------------------


def rescale_to_grid(
    features: np.ndarray, times_s: np.ndarray, duration_s: float, T: int, *, already_rescaled: bool = False
) -> np.ndarray:
    """Features of n snippets at times_s -> the T grid, by linear interpolation at the cell centres.

    features: float[n, F]; times_s: float[n], increasing -> float32[F, T]. Cell centres before the
    first snippet take its value, after the last one the last snippet's. With `already_rescaled`
    (BMN's CSV layout) the n = T rows are returned transposed, unchanged.
    """
    features = np.asarray(features)
    n = features.shape[0]
    if already_rescaled:
        if n != T:
            raise ValueError(f"features marked as already rescaled have {n} rows, expected T = {T}")
        return np.ascontiguousarray(features.T, dtype=np.float32)  # (F, T)
    times_s = np.asarray(times_s, dtype=np.float64)
    if times_s.shape != (n,):
        raise ValueError(f"times_s has shape {times_s.shape}, expected ({n},)")
    if n == 1:
        return np.repeat(features.T.astype(np.float32), T, axis=1)  # (F, T)
    tau = np.clip(grid_centres_s(duration_s, T), times_s[0], times_s[-1])
    hi = np.clip(np.searchsorted(times_s, tau, side="right"), 1, n - 1)  # first snippet after τ
    lo = hi - 1
    w = ((tau - times_s[lo]) / (times_s[hi] - times_s[lo])).astype(np.float32)  # (T,)
    grid = features[lo] * (1.0 - w)[:, None] + features[hi] * w[:, None]  # (T, F)
    return np.ascontiguousarray(grid.T, dtype=np.float32)  # (F, T)
