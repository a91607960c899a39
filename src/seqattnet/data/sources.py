"""Where a dataset's features are: a folder of per-video files or one store file, in any format of
`FEATURE_FORMATS` (data/features.py). Datasets, windows, `check-data` and `predict` locate, probe and
read every video through a `FeatureSource`, so none of them names a format.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError, brief, quoted
from .features import (FEATURE_FORMATS, FEATURE_SUFFIXES, FeatureFormat, check_features, check_shape,
                       find_feature_file, id_spellings, probe_rows, read_feature_file)


class FeatureSource:
    """`path`: a folder of per-video files named by `file_pattern` (the id spelled `v_<id>` or `<id>`), or
    one store file (HDF5) holding a dataset per video under either spelling. A store is opened on first
    use in each process (DataLoader workers each open their own) or for a block with `opened()`."""

    def __init__(self, path: str | Path, file_pattern: str = "{video_id}.npy"):
        self.path, self.file_pattern = Path(path), check_file_pattern(file_pattern)
        fmt = FEATURE_FORMATS.get(self.path.suffix.lower())
        self.store: FeatureFormat | None = fmt if fmt is not None and fmt.store and not self.path.is_dir() else None
        self._open = None  # (pid, open store file) once this process has read from the store

    def locate(self, video_id: str) -> Path | None:
        """The file holding the video (a store: the store itself); None where no file is found."""
        return self.path if self.store is not None else find_feature_file(self.path, video_id, self.file_pattern)

    def tried(self, video_id: str) -> str:
        """The file names `locate` looks for, "v_x.npy and x.npy", for a message."""
        return " and ".join(self.file_pattern.format(video_id=v) for v in id_spellings(video_id))

    def rows(self, path: Path, video_id: str, feature_dim: int) -> int:
        """The video's snippets, its shape checked, reading no data where the format allows."""
        if self.store is None:
            return probe_rows(path, video_id, feature_dim)
        shape = self.store.shape(self._file(), path, video_id)
        check_shape(shape, path, video=video_id, expected_dim=feature_dim)
        return shape[0]

    def read(self, path: Path, video_id: str, feature_dim: int | None = None) -> np.ndarray:
        """The video's features, validated -> float32[n_snippets, F]."""
        if self.store is None:
            return read_feature_file(path, expected_dim=feature_dim, video=video_id)
        return self.store.read(self._file(), path, video_id, feature_dim)

    def read_rows(self, path: Path, video_id: str, start: int, count: int, feature_dim: int) -> np.ndarray | None:
        """Rows [start, start + count) of a per-video file whose format reads them alone, checked like a
        whole file -> float32[<= count, F]; None when the format reads whole files only."""
        fmt = FEATURE_FORMATS.get(path.suffix.lower())
        if self.store is not None or fmt is None or fmt.read_rows is None:
            return None
        return check_features(fmt.read_rows(path, start, count), path, video=video_id, expected_dim=feature_dim)

    def videos(self) -> list[str]:
        """The ids of a store's videos."""
        if self.store is None:
            raise ValueError(f"{self.path} is not a store of videos")
        return list(self.store.videos(self._file()))

    @contextmanager
    def opened(self) -> Iterator[None]:
        """A store held open for the block and closed after it (so that workers do not inherit it)."""
        if self.store is None:
            yield
            return
        with self.store.open(self.path) as handle:
            self._open = (os.getpid(), handle)
            try:
                yield
            finally:
                self._open = None

    def _file(self):
        """The store, opened once per process: a handle inherited through fork is not used."""
        if self._open is None or self._open[0] != os.getpid():
            self._open = (os.getpid(), self.store.open(self.path))
        return self._open[1]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": None}  # an open h5py.File does not pickle (spawned workers)


def check_file_pattern(pattern: str) -> str:
    """`pattern` when it names each video's file by `{video_id}` and nothing else to fill in; else
    InputError (without {video_id} every video would read the same file)."""
    try:
        names = {pattern.format(video_id=v) for v in ("a", "b")}
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise InputError.at("data.file_pattern", f"{quoted(pattern)} is not a file name pattern ({brief(e)}); "
                            "use {video_id} for the video's id, e.g. '{video_id}.npy'") from None
    if len(names) == 1:
        raise InputError.at("data.file_pattern", f"{quoted(pattern)} does not contain {{video_id}}, so every video "
                            "would read the same file; e.g. '{video_id}.npy'")
    return pattern


def feature_files(path: Path) -> list[Path]:
    """The per-video feature files of a folder, in name order."""
    return sorted(p for p in path.iterdir() if p.suffix in FEATURE_SUFFIXES)
