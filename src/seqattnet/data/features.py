"""Per-video feature files: reading, checking and writing them, in every format of `FEATURE_FORMATS`.

A feature file holds one row per snippet: float[n_snippets, F]; how snippets map to seconds and to the
model's T grid is in grid.py (its functions are importable from here too).

Formats: `.npy`, `.npz` (one array, or the key "feats" / "features"), `.pt` (a tensor), `.csv`
(BMN: header f0 … f399, one row per snippet) and HDF5 (one dataset per video, needs h5py).
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import above, at_least
from ..errors import InputError, brief, quoted, unpickling_refused
from ..files import atomic_write
from ..structures import canonical_video_id
from .grid import (grid_centres_s, index_to_seconds, num_snippets, rescale_to_grid,  # noqa: F401  (importable
                   seconds_to_cell, seconds_to_index, snippet_times_s)  # from here as before grid.py held them)

_NPZ_KEYS = ("feats", "features")


# --- readers ------------------------------------------------------------------------------------


def read_feature_file(path: str | Path, *, expected_dim: int | None = None, video: str | None = None) -> np.ndarray:
    """Read one video's features -> float32[n_snippets, F], validated.

    Raises InputError naming the file (and video) when it is missing, unreadable, not 2-D, empty,
    holds NaN/inf, or its feature dimension differs from `expected_dim`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError.at(path, "feature file not found", video=video)
    suffix = path.suffix.lower()
    if suffix not in FEATURE_SUFFIXES:
        raise InputError.at(path, f"unknown feature format {suffix!r}; expected one of {FEATURE_SUFFIXES}", video=video)
    try:
        raw = FEATURE_FORMATS[suffix].read(path)
    except _BadContent as e:
        raise InputError.at(path, str(e), video=video) from None
    except (OSError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise InputError.at(path, f"cannot read the features ({brief(e)})", video=video) from None
    return check_features(raw, path, video=video, expected_dim=expected_dim)


def probe_rows(path: Path, video: str, feature_dim: int) -> int:
    """Rows of a per-video feature file, checked for shape; read whole unless its format has a `shape`."""
    fmt = FEATURE_FORMATS.get(path.suffix.lower())
    if fmt is None or fmt.shape is None:
        return read_feature_file(path, expected_dim=feature_dim, video=video).shape[0]
    try:
        shape = fmt.shape(path)
    except _BadContent as e:
        raise InputError.at(path, str(e), video=video) from None
    except (OSError, ValueError, EOFError) as e:
        raise InputError.at(path, f"cannot read the features ({brief(e)})", video=video) from None
    check_shape(shape, path, video=video, expected_dim=feature_dim)
    return shape[0]


def write_feature_file(path: str | Path, features: np.ndarray, meta: dict) -> Path:
    """One video's features float[n_snippets, F] and how they were made, as `.npz` ("features", "meta").

    meta is JSON-able (backbone, feature_dim, stride_frames, window_frames, fps, ...) and is read back
    by `read_feature_meta`. Written to a temporary file, then renamed: a crash leaves no partial file.
    """
    import json

    path = Path(path)
    features = check_features(features, path)
    with atomic_write(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, features=features, meta=np.array(json.dumps(meta, sort_keys=True)))
    return path


def read_feature_meta(path: str | Path) -> dict | None:
    """The metadata `write_feature_file` stored beside the features; None for files without it."""
    import json

    path = Path(path)
    if path.suffix.lower() != ".npz":
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "meta" not in archive:
                return None
            meta = json.loads(str(archive["meta"]))
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise InputError.at(path, f"cannot read the feature metadata ({brief(e)})") from None
    return _checked_meta(meta, path)


# The numbers of the metadata that times and shapes are computed from, and the values each may take.
_META_NUMBERS = {"fps": above(0), "duration_s": above(0), "stride_frames": above(0), "feature_dim": above(0),
                 "window_frames": at_least(0)}


def _checked_meta(meta: object, path: Path) -> dict:
    """`meta` when it is an object whose numbers of _META_NUMBERS (where present) are finite and within
    their rule; else InputError naming the file and the key."""
    if not isinstance(meta, dict):
        raise InputError.at(path, f"the feature metadata must be a JSON object, got {type(meta).__name__}",
                            field="meta")
    for key, rule in _META_NUMBERS.items():
        value = meta.get(key)
        if value is None:
            continue
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and rule.allows(value)):
            raise InputError.at(path, f"must be a finite number {rule}, got {quoted(value)}", field=f"meta.{key}")
    return meta


def read_hdf5_features(
    h5_path: str | Path, video_id: str, *, expected_dim: int | None = None, h5_file=None
) -> np.ndarray:
    """One video's features from an HDF5 file holding a dataset per video (key `v_<id>` or `<id>`).

    A group under that key is also accepted when it holds a "feats" / "features" dataset. With
    `h5_file` (the file, already open with `open_hdf5`) it is read without opening h5_path again.
    -> float32[n_snippets, F], validated as in `read_feature_file`.
    """
    h5_path = Path(h5_path)
    if h5_file is None:
        with open_hdf5(h5_path, video=video_id) as f:
            return read_hdf5_features(h5_path, video_id, expected_dim=expected_dim, h5_file=f)
    try:
        raw = hdf5_node(h5_file, h5_path, video_id)[()]
    except (OSError, ValueError, KeyError) as e:
        raise InputError.at(h5_path, f"cannot read the features ({brief(e)})", video=video_id) from None
    return check_features(raw, h5_path, video=video_id, expected_dim=expected_dim)


def open_hdf5(h5_path: str | Path, *, video: str | None = None):
    """h5py.File(h5_path, "r"); InputError naming the file when h5py is missing or it cannot be opened."""
    try:
        import h5py
    except ImportError:
        raise InputError.at(h5_path, "reading HDF5 features needs h5py: pip install seqattnet[hdf5]") from None
    if not Path(h5_path).is_file():
        raise InputError.at(h5_path, "feature file not found", video=video)
    try:
        return h5py.File(h5_path, "r")
    except OSError as e:
        raise InputError.at(h5_path, f"cannot open the HDF5 file ({e})", video=video) from None


def hdf5_node(h5_file, h5_path: str | Path, video_id: str):
    """The h5py.Dataset of a video in an open file; its `.shape` is read without the data."""
    import h5py

    keys = [k for k in id_spellings(video_id) if k in h5_file]
    if not keys:
        raise InputError.at(h5_path, f"no dataset for this video (tried {id_spellings(video_id)})", video=video_id)
    node = h5_file[keys[0]]
    if isinstance(node, h5py.Group):
        inner = [k for k in _NPZ_KEYS if k in node]
        if not inner:
            raise InputError.at(h5_path, f"group has no {_NPZ_KEYS} dataset", video=video_id)
        node = node[inner[0]]
    return node


def check_features(raw: object, source: object, *, video: str | None = None, expected_dim: int | None = None) -> np.ndarray:
    """Validate an array read from `source` -> float32[n_snippets, F]."""
    array = np.asarray(raw)
    problem = dtype_problem(array.dtype)
    if problem:
        raise InputError.at(source, problem, video=video)
    check_shape(array.shape, source, video=video, expected_dim=expected_dim)
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: reported below
        array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        first = ", ".join(f"[{r}, {c}]" for r, c in zip(rows[:3], cols[:3]))
        raise InputError.at(
            source,
            f"{rows.size} non-finite values (NaN or inf, in float32) in {np.unique(rows).size} of "
            f"{array.shape[0]} snippets; first at [snippet, feature] {first}",
            video=video,
        )
    return array


class FeatureDimensionError(InputError):
    """A feature file whose F is not the expected one; `found` is its F, `transposed` whether its rows are."""

    def __init__(self, message: str, found: int, transposed: bool):
        super().__init__(message)
        self.found, self.transposed = found, transposed


def dtype_problem(dtype: np.dtype) -> str:
    """Why features of this dtype cannot be read as float32 ("" when they can)."""
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        return f"features must be numbers, got dtype {dtype}"
    if np.issubdtype(dtype, np.complexfloating):  # a cast would keep the real parts, dropping the rest with a warning
        return f"features must be real numbers, got dtype {dtype}"
    return ""


def check_shape(shape: tuple[int, ...], source: object, *, video: str | None = None, expected_dim: int | None = None) -> None:
    """Raise InputError unless shape is [n_snippets > 0, expected_dim] (FeatureDimensionError for the F)."""
    if len(shape) != 2:
        raise InputError.at(source, f"features must be 2-D [n_snippets, F], got shape {shape}", video=video)
    if shape[0] == 0:
        raise InputError.at(source, f"no snippets (shape {shape})", video=video)
    if expected_dim is not None and shape[1] != expected_dim:
        transposed = shape[0] == expected_dim
        hint = " (transposed? the layout is [n_snippets, F])" if transposed else ""
        message = str(InputError.at(source, f"feature dimension {shape[1]}, expected {expected_dim}{hint}; shape {shape}",
                                    video=video))
        raise FeatureDimensionError(message, shape[1], transposed)


def find_feature_file(feature_dir: Path, video_id: str, file_pattern: str = "{video_id}.npy") -> Path | None:
    """The file of a video in feature_dir, trying the id as `v_<id>` and `<id>`; None if neither exists."""
    for spelling in id_spellings(video_id):
        path = feature_dir / file_pattern.format(video_id=spelling)
        if path.is_file():
            return path
    return None


def id_spellings(video_id: str) -> list[str]:
    """The spellings a video's file or dataset is looked for under: `v_<id>`, then `<id>`."""
    canonical = canonical_video_id(video_id)
    return [f"v_{canonical}", canonical]


class _BadContent(Exception):
    """A loader read the file but found no feature array in it; read_feature_file adds the file and video."""


def _load_npy(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    """The array of a .npy file (with mmap_mode "r": a memory map, of which only the header is read yet)."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":  # every .npy starts so; without it numpy talks of pickled data
            raise _BadContent("not a numpy array file (no .npy header); save the features with numpy.save")
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e) or "Python objects" in str(e):
            raise _BadContent("holds Python objects, not an array of numbers; save a float array") from None
        raise


def _load_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        keys = [k for k in archive.keys() if k != "meta"]  # "meta": write_feature_file's metadata
        if len(keys) == 1:
            return archive[keys[0]]
        for key in _NPZ_KEYS:
            if key in archive:
                return archive[key]
    raise _BadContent(f"holds arrays {keys}; expected one array or one named {_NPZ_KEYS}")


def _load_pt(path: Path) -> np.ndarray:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds (a text file: KeyError) for what is not its format
        what = unpickling_refused(e)
        if what is None:
            raise _BadContent(f"not a readable torch file ({brief(e)}); save the features with torch.save") from None
        raise _BadContent(f"holds objects other than tensors ({what}), which seqattnet does not load because "
                          "unpickling them could run code; save a plain tensor with torch.save") from None
    if isinstance(obj, dict):
        obj = next((obj[k] for k in _NPZ_KEYS if k in obj), obj)
    if not isinstance(obj, torch.Tensor):
        raise _BadContent(f"expected a tensor (or a dict with {_NPZ_KEYS}), got {type(obj).__name__}")
    return obj.detach().float().numpy() if obj.is_floating_point() else obj.numpy()


def _load_csv(path: Path) -> np.ndarray:
    """BMN's layout: a header line (f0, f1, …) then one comma-separated row per snippet."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
        has_header = bool(first.strip()) and not _is_number(first.split(",")[0])
        f.seek(0)
        with warnings.catch_warnings():  # an empty file: numpy warns, then "no snippets" says it in one line
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(f, delimiter=",", skiprows=1 if has_header else 0, dtype=np.float64, ndmin=2)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _npy_shape(path: Path) -> tuple[int, ...]:
    """The array's shape from the header alone, after its dtype: a file that could never be read is
    refused when a dataset is built, not in the middle of training."""
    array = _load_npy(path, mmap_mode="r")
    problem = dtype_problem(array.dtype)
    if problem:
        raise _BadContent(problem)
    return array.shape


def _npy_rows(path: Path, start: int, count: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[start:start + count])  # those rows only


def _hdf5_videos(h5_file) -> list[str]:
    return sorted(h5_file.keys())


@dataclass(frozen=True)
class FeatureFormat:
    """One kind of feature file. A per-video format holds one video's rows [n_snippets, F]; a store holds
    every video of a dataset under its id (data.features names the file itself, not a folder)."""

    read: Callable  # per-video: path -> raw rows; a store's: (open file, path, video_id, F) -> checked rows
    shape: Callable | None = None  # path (a store's: open file, path, video_id) -> the rows' shape, not
    # reading them; None: read them
    read_rows: Callable | None = None  # per-video: (path, start, count) -> only those rows (windows); None: all
    open: Callable | None = None  # a store's: path -> the open file (a context manager); None: per-video
    videos: Callable | None = None  # a store's: open file -> its keys, one per video

    @property
    def store(self) -> bool:
        return self.open is not None


def _hdf5_read(h5_file, path: Path, video_id: str, feature_dim: int | None) -> np.ndarray:
    return read_hdf5_features(path, video_id, expected_dim=feature_dim, h5_file=h5_file)


def _hdf5_shape(h5_file, path: Path, video_id: str) -> tuple[int, ...]:
    return hdf5_node(h5_file, path, video_id).shape  # no data read


_HDF5 = FeatureFormat(_hdf5_read, shape=_hdf5_shape, open=open_hdf5, videos=_hdf5_videos)
# The one table of feature formats, by suffix: datasets, windows, `check-data` and `predict` read through
# it (data/sources.py); a new format is a reader above and an entry here.
FEATURE_FORMATS: dict[str, FeatureFormat] = {
    ".npy": FeatureFormat(_load_npy, shape=_npy_shape, read_rows=_npy_rows),
    ".npz": FeatureFormat(_load_npz),
    ".pt": FeatureFormat(_load_pt),
    ".csv": FeatureFormat(_load_csv),
    ".h5": _HDF5,
    ".hdf5": _HDF5,
}
FEATURE_SUFFIXES = tuple(k for k, f in FEATURE_FORMATS.items() if not f.store)  # one file per video
HDF5_SUFFIXES = tuple(k for k, f in FEATURE_FORMATS.items() if f.store)  # one file for every video
