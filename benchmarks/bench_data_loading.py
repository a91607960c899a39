"""One epoch of data loading: the memory-mapped cache [N, F, T] against reading per-video .npy files.

Generates ActivityNet-sized data (default 9,649 training videos, F = 400, snippets every 16 frames at
30 fps, durations 18–224 s), builds the cache once, then times one shuffled epoch through a
DataLoader (batch 16, no workers) from the per-video files and from the cache, and prints the ratio.

    python benchmarks/bench_data_loading.py                 # ActivityNet size, ~5 GB of temporary files
    python benchmarks/bench_data_loading.py --videos 1000   # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from seqattnet.data.dataset import FeatureSpec, VideoDataset, collate
from seqattnet.data.features import num_snippets
from seqattnet.structures import AnnotationSet, VideoAnnotation

FPS, STRIDE = 30.0, 16


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_data(folder: Path, videos: int, feature_dim: int, seed: int) -> AnnotationSet:
    """Per-video .npy files [n_snippets, F] and matching annotations (one segment per video)."""
    rng = np.random.default_rng(seed)
    durations = np.round(rng.uniform(18.0, 224.0, videos), 2)
    base = rng.standard_normal((num_snippets(durations.max(), FPS, STRIDE, STRIDE), feature_dim), dtype=np.float32)
    entries = {}
    for i, duration in enumerate(durations):
        vid = f"bench{i:05d}"
        n = num_snippets(duration, FPS, STRIDE, STRIDE)
        np.save(folder / f"{vid}.npy", base[:n] + np.float32(i % 97))
        entries[vid] = VideoAnnotation(vid, "training", float(duration), np.array([[0.1, 0.6]]) * duration, ["a"], FPS)
    return AnnotationSet(entries, ["a"], source="generated")


def epoch_seconds(dataset: VideoDataset, batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += batch.features.shape[0]
    assert seen == len(dataset)
    return time.perf_counter() - start


def drop_from_page_cache(path: Path) -> bool:
    """Ask the kernel to forget the file's cached pages, for a cold read (no root needed)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=9649, help="ActivityNet v1.3 training: 9,649")
    parser.add_argument("--feature-dim", type=int, default=400)
    parser.add_argument("--temporal-scale", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seqattnet-bench-", dir=args.workdir))
    try:
        print(f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}, "
              f"torch {torch.__version__} with {torch.get_num_threads()} threads")
        features = work / "features"
        features.mkdir()
        t = time.perf_counter()
        annotations = make_data(features, args.videos, args.feature_dim, seed=0)
        size = sum(p.stat().st_size for p in features.iterdir()) / 1e9
        print(f"per-video .npy files: {args.videos} videos, {size:.2f} GB, written in {time.perf_counter() - t:.1f} s")

        spec = FeatureSpec(args.feature_dim, stride_frames=STRIDE, window_frames=STRIDE)
        cache = work / "cache" / "grid.npy"
        t = time.perf_counter()
        VideoDataset(annotations, features, ["a"], spec, args.temporal_scale, cache_path=cache)
        print(f"cache [N, F, T] = [{args.videos}, {args.feature_dim}, {args.temporal_scale}] float32, "
              f"{cache.stat().st_size / 1e9:.2f} GB, built once in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        cached = VideoDataset(annotations, features, ["a"], spec, args.temporal_scale, cache_path=cache)
        print(f"dataset construction with a matching cache: {time.perf_counter() - t:.2f} s")
        plain = VideoDataset(annotations, features, ["a"], spec, args.temporal_scale)

        files_s = epoch_seconds(plain, args.batch_size)
        print(f"epoch from per-video .npy files (read, check, rescale): {files_s:.2f} s")
        warm_s = epoch_seconds(cached, args.batch_size)
        print(f"epoch from the cache, warm page cache:                  {warm_s:.2f} s")
        if drop_from_page_cache(cache):
            cold = VideoDataset(annotations, features, ["a"], spec, args.temporal_scale, cache_path=cache)
            cold_s = epoch_seconds(cold, args.batch_size)
            print(f"epoch from the cache, after dropping it from the page cache: {cold_s:.2f} s")
        print(f"ratio per-video files / cache (warm): {files_s / warm_s:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
