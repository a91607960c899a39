"""Video files -> one feature file per video: `OUT/<video_id>.npz` holding float32[n_snippets, F] and its metadata.

Snippet i is made of the frames [i·stride, i·stride + snippet) and stands at the centre of that window,
the mapping of data/features.py (`snippet_times_s`, `num_snippets`), so the files read like any other
features. A video that cannot be decoded is reported and skipped; the others go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..version import __version__
from ..data.features import num_snippets, write_feature_file
from ..devices import resolve_device
from ..errors import InputError
from .backbones import Backbone, build_backbone
from .decode import iter_frames, iter_snippets, probe_video, require_av

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass
class ExtractionResult:
    """Which feature files were written, which videos were skipped (file exists) and which failed, with why."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)  # feature files
    skipped: list[Path] = field(default_factory=list)  # existing feature files, kept (no overwrite)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (video file, reason)

    def summary(self) -> str:
        lines = [f"{len(self.written)} written, {len(self.skipped)} skipped (already there; --overwrite to redo), "
                 f"{len(self.failed)} failed -> {self.out_dir}"]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def find_videos(videos: str | Path | Iterable[str | Path]) -> list[Path]:
    """A video file, a folder (its files with a suffix in VIDEO_SUFFIXES, sorted) or a list of files -> paths."""
    if isinstance(videos, (str, Path)):
        path = Path(videos)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not files:
                raise InputError.at(path, f"no video files in this folder (suffixes {', '.join(VIDEO_SUFFIXES)})")
            return files
        files = [path]
    else:
        files = [Path(v) for v in videos]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise InputError.at(missing[0], f"video file not found ({len(missing)} of {len(files)} missing)")
    return files


def extract_features(
    videos: str | Path | Iterable[str | Path],
    out_dir: str | Path,
    *,
    backbone: str | Backbone = "r2plus1d_18",
    weights: str = "default",
    window_frames: int = 16,
    stride_frames: int = 16,
    batch_size: int = 16,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
) -> ExtractionResult:
    """Extract features of every video in `videos` into `out_dir/<file stem>.npz` (see `extract_video`).

    backbone: a name of backbones.BACKBONES, built once with `weights` ("default", "random" or a
    state-dict file), or an already built `Backbone` (then `weights` is unused). Existing files are
    skipped unless `overwrite`. A video that fails is listed in `failed` and the others go on.
    """
    for name, value in (("--snippet", window_frames), ("--stride", stride_frames), ("--batch-size", batch_size)):
        if value < 1:
            raise InputError.at(name, f"must be a positive number of frames/snippets, got {value}")
    files = find_videos(videos)
    _check_unique_ids(files)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExtractionResult(out_dir)
    todo = []
    for path in files:
        out = out_dir / f"{path.stem}.npz"
        if out.exists() and not overwrite:
            result.skipped.append(out)
        else:
            todo.append((path, out))
    if not todo:
        return result
    dev = resolve_device(device)
    require_av()  # missing PyAV: one error now, not one per video
    net = backbone if isinstance(backbone, Backbone) else build_backbone(backbone, weights,
                                                                         window_frames=window_frames)
    net.model.to(dev)
    bar = tqdm(todo, desc=f"extract {net.name}", unit="video", disable=not progress)
    for path, out in bar:
        try:
            features, meta = extract_video(path, net, window_frames=window_frames, stride_frames=stride_frames,
                                           batch_size=batch_size, device=dev, on_batch=_show_snippets(bar, path.stem))
        except InputError as e:
            result.failed.append((path, str(e).removeprefix(f"{path}: ")))
            continue
        result.written.append(write_feature_file(out, features, meta))
    return result


def extract_video(path: str | Path, net: Backbone, *, window_frames: int, stride_frames: int, batch_size: int,
                  device: torch.device, on_batch=None) -> tuple[np.ndarray, dict]:
    """One video -> (float32[n, F], meta), n = num_snippets(num_frames / fps, fps, stride, snippet).

    Streams the video: only the frames of the current batch of snippets are in memory.
    `on_batch(snippets_done, snippets_expected)` is called after each batch (for progress).
    """
    path = Path(path)
    info = probe_video(path)
    expected = num_snippets(info.num_frames / info.fps, info.fps, stride_frames, window_frames)
    counter = FrameCounter(iter_frames(path, net.resize, net.crop_size))
    outputs = []
    for batch in batched(iter_snippets(counter, window_frames, stride_frames), batch_size):
        outputs.append(snippet_features(net, batch, device))
        if on_batch is not None:
            on_batch(sum(len(o) for o in outputs), expected)
    if not outputs:
        raise InputError.at(path, "no frame could be decoded")
    features = torch.cat(outputs).numpy()  # (n, F)
    duration_s = counter.n / info.fps
    meta = {
        "backbone": net.name, "weights": net.weights, "feature_dim": net.feature_dim,
        "stride_frames": stride_frames, "window_frames": window_frames, "fps": info.fps,
        "num_frames": counter.n, "duration_s": duration_s, "num_snippets": int(features.shape[0]),
        "crop_size": net.crop_size, "seqattnet_version": __version__,
    }
    return features, meta


def snippet_features(net: Backbone, snippets: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """One forward pass: B snippets, each uint8[frames, crop, crop, 3] -> float32 Tensor[B, F] on the CPU.
    Snippets go in batches of the same size and alignment wherever features are compared bit for bit
    (`extract` and `watch`): a network's arithmetic may differ with the batch it runs in."""
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(snippets)).to(device)  # (B, snippet, crop, crop, 3) uint8
        return net.model(net.normalise(x)).float().cpu()  # (B, F)


class FrameCounter:
    """Passes the frames through and counts them: the decoded count, which containers do not always report."""

    def __init__(self, frames: Iterator[np.ndarray]):
        self.frames, self.n = frames, 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.frames:
            self.n += 1
            yield frame


def _show_snippets(bar: tqdm, video_id: str):
    """A callback writing "<video_id>: done/~expected snippets" beside the progress bar."""
    return lambda done, expected: bar.set_postfix_str(f"{video_id}: {done}/~{expected} snippets")


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` consecutive items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_unique_ids(files: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise InputError.at(path, f"same video id {path.stem!r} as {seen[path.stem]}: their feature files collide")
        seen[path.stem] = path
