"""VideoDataset reading one HDF5 file keyed by video id (OpenTAD / ActionFormer practice)."""

import json
import pickle

import numpy as np
import pytest
import torch

from seqattnet.config import load_config
from seqattnet.data.annotations import read_annotations
from seqattnet.data.check import check_config
from seqattnet.data.dataset import FeatureSpec, VideoDataset, collate
from seqattnet.data.features import num_snippets, snippet_times_s
from seqattnet.data.windows import WindowDataset
from seqattnet.engine.build import build_dataset
from seqattnet.errors import InputError
from seqattnet.structures import AnnotationSet, VideoAnnotation

h5py = pytest.importorskip("h5py", reason="h5py is optional (pip install seqattnet[hdf5])")

CLASSES = ["jump", "run", "swim"]
F, T = 6, 10
SPEC = FeatureSpec(feature_dim=F, stride_frames=16, window_frames=16, fps=None)

DURATIONS = {"aaa": 20.0, "bbb": 40.0, "v_ccc": 8.0}  # annotation ids: without and with the v_ prefix
KEYS = {"aaa": "v_aaa", "bbb": "bbb", "v_ccc": "ccc"}  # their keys in the file: the other spelling, or the same


def make_annotations(videos: dict[str, tuple[float, list, list]]) -> AnnotationSet:
    """{id: (duration_s, [[start, end], ...], [label, ...])} -> AnnotationSet at 30 fps."""
    return AnnotationSet(
        {vid: VideoAnnotation(vid, "training", d, np.array(seg, dtype=float).reshape(-1, 2), labels, 30.0)
         for vid, (d, seg, labels) in videos.items()},
        CLASSES,
        source="anno.json",
    )


def ramp_features(duration_s: float) -> np.ndarray:
    """Features whose column f is f + time in seconds, at 30 fps -> float32 [n, F]."""
    n = num_snippets(duration_s, 30.0, 16, 16)
    return (snippet_times_s(n, 16, 16, 30.0)[:, None] + np.arange(F)).astype(np.float32)  # (n, F)


@pytest.fixture
def sources(tmp_path):
    """The same features as one HDF5 file and as a folder of .npy files, and their annotations."""
    folder = tmp_path / "features"
    folder.mkdir()
    with h5py.File(tmp_path / "feats.h5", "w") as f:
        for vid, duration in DURATIONS.items():
            f[KEYS[vid]] = ramp_features(duration) * (1 + len(vid))  # videos differ beyond their length
            np.save(folder / f"{KEYS[vid]}.npy", f[KEYS[vid]][()])
    annotations = make_annotations({
        "aaa": (20.0, [[2.0, 6.0]], ["jump"]),
        "bbb": (40.0, [[0.0, 40.0]], ["swim"]),
        "v_ccc": (8.0, [], []),
    })
    return tmp_path / "feats.h5", folder, annotations


def grids(ds: VideoDataset) -> np.ndarray:
    return np.stack([ds[i].features.numpy() for i in range(len(ds))])  # (N, F, T)


def test_hdf5_grid_equals_the_npy_folder(sources, tmp_path):
    h5_path, folder, annotations = sources
    ds = VideoDataset(annotations, h5_path, CLASSES, SPEC, T)
    expected = grids(VideoDataset(annotations, folder, CLASSES, SPEC, T))
    assert ds.hdf5 and ds.video_ids == ["aaa", "bbb", "v_ccc"] and ds.skipped == []
    assert expected.shape == (3, F, T) and not np.allclose(expected[0], expected[1])
    np.testing.assert_array_equal(grids(ds), expected)
    cached = VideoDataset(annotations, h5_path, CLASSES, SPEC, T, cache_path=tmp_path / "cache.npy")
    np.testing.assert_array_equal(grids(cached), expected)
    np.testing.assert_array_equal(grids(pickle.loads(pickle.dumps(ds))), expected)  # after the file was opened


def test_hdf5_dataset_in_dataloader_workers(sources):
    h5_path, folder, annotations = sources
    ds = VideoDataset(annotations, h5_path, CLASSES, SPEC, T)
    ds[0]  # the parent holds the file open before the workers fork: each must open its own
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert [b.video_ids[0] for b in batches] == ds.video_ids
    expected = grids(VideoDataset(annotations, folder, CLASSES, SPEC, T))
    np.testing.assert_array_equal(np.concatenate([b.features.numpy() for b in batches]), expected)


def test_missing_video_names_the_file_and_the_video(sources):
    h5_path, _, annotations = sources
    with h5py.File(h5_path, "a") as f:
        del f["bbb"]
    with pytest.raises(InputError, match=r"feats\.h5, video 'bbb': no dataset for this video"):
        VideoDataset(annotations, h5_path, CLASSES, SPEC, T)


def test_wrong_dimension_names_the_file_and_the_video(sources):
    h5_path, _, annotations = sources
    with pytest.raises(InputError, match=rf"feats\.h5, video 'aaa': feature dimension {F}, expected {F + 1}"):
        VideoDataset(annotations, h5_path, CLASSES, FeatureSpec(feature_dim=F + 1), T)


def test_missing_hdf5_file_is_an_input_error(tmp_path, sources):
    _, _, annotations = sources
    with pytest.raises(InputError, match=r"nope\.hdf5.*feature file not found"):
        VideoDataset(annotations, tmp_path / "nope.hdf5", CLASSES, SPEC, T)


def test_config_pointing_at_the_file_builds_and_checks(sources, tmp_path):
    h5_path, folder, annotations = sources
    (tmp_path / "annotations.json").write_text(json.dumps({"version": "1.3", "database": {
        vid: {"subset": "training", "duration": d, "fps": 30.0, "annotations": []} for vid, d in DURATIONS.items()}}))
    overrides = [f"data.root={tmp_path}", "data.annotations=annotations.json", "data.features=feats.h5",
                 "data.rescaled=false", "data.classes=", "data.cache=true", f"model.feature_dim={F}",
                 "model.temporal_scale=10", "model.max_duration=10", "model.num_classes=3",
                 "model.conv_groups=1"]
    cfg = load_config("activitynet", overrides)
    anno = read_annotations(tmp_path / "annotations.json")
    ds = build_dataset(cfg, "training", anno, CLASSES)
    assert ds.hdf5 and (tmp_path / "cache" / "training_T10.npy").is_file()
    np.testing.assert_array_equal(grids(ds), grids(VideoDataset(annotations, folder, CLASSES, SPEC, T)))
    report = check_config(load_config("activitynet", overrides + ["data.val_subset=training"]))
    assert not any("feature" in e or "feats.h5" in e for e in report.errors), report.errors
    assert report.snippets["min"] == num_snippets(8.0, 30.0, 16, 16)


def test_windows_refuse_an_hdf5_file(sources):
    h5_path, _, annotations = sources
    with pytest.raises(InputError, match=r"feats\.h5: windows\.enabled reads a folder"):
        WindowDataset(annotations, h5_path, CLASSES, SPEC, T)
