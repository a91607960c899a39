"""Writing a generated dataset (synthetic.py, synthetic_thumos.py): the checks before any work, the
feature files and metadata written into a temporary folder and renamed into place at the end."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import InputError


def check_request(who: str, out_dir: Path, num_train: int, num_val: int, overwrite: bool) -> None:
    """What every generator (`who`) refuses before any work: no videos asked for, or a non-empty out_dir
    without overwrite."""
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise InputError.at(who, f"needs some videos, got num_train={num_train}, num_val={num_val}")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError.at(out_dir, "exists and is not empty; pass overwrite=True to replace it")


def write_dataset(out_dir: Path, videos: list, render: Callable[[int, Any], np.ndarray],
                  write_metadata: Callable[[Path], None], progress: bool) -> Path:
    """Write features/<video_id>.npy of each video (`render(i, video)` -> [n_snippets, F]) and the metadata
    (`write_metadata(folder)`) into a temporary folder beside out_dir, renamed to out_dir at the end, so an
    interrupted run leaves no half-written dataset; returns out_dir."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "features").mkdir(parents=True)
        for i, video in enumerate(tqdm(videos, desc="generating videos", unit="video", disable=not progress)):
            np.save(tmp / "features" / f"{video.video_id}.npy", render(i, video))
        write_metadata(tmp)
        move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def write_json(path: Path, data: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename tmp to out_dir; an existing out_dir is moved aside first and removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
