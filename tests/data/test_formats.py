"""Every registered format is reachable from every consumer: each feature format of FEATURE_FORMATS
from the dataset, the windows, `check-data` and `predict`; each annotation format of
ANNOTATION_FORMATS from `read_annotations`. A format added to a table without a writer here fails."""

import json

import numpy as np
import pytest
import torch

from seqattnet.config import load_config
from seqattnet.data.annotations import ANNOTATION_FORMATS, read_annotations
from seqattnet.data.check import DataReport, check_dataset
from seqattnet.data.dataset import FeatureSpec, VideoDataset
from seqattnet.data.features import FEATURE_FORMATS, num_snippets
from seqattnet.data.windows import WindowDataset
from seqattnet.engine.checkpoint import save_checkpoint
from seqattnet.engine.run import predict_files
from seqattnet.errors import InputError
from seqattnet.model import SeqAttNet
from seqattnet.structures import AnnotationSet, VideoAnnotation

CLASSES = ["jump", "run"]
F, T = 8, 16
SPEC = FeatureSpec(feature_dim=F, stride_frames=16, window_frames=16, fps=30.0)
DURATIONS = {"aaa": 20.0, "bbb": 12.0}


def features_of(video: str) -> np.ndarray:
    n = num_snippets(DURATIONS[video], 30.0, 16, 16)
    return (np.arange(n * F, dtype=np.float32).reshape(n, F) / 7 + len(video) + ord(video[0]))  # (n, F)


def write_csv(path, array):
    header = ",".join(f"f{i}" for i in range(array.shape[1]))
    np.savetxt(path, array, delimiter=",", header=header, comments="", fmt="%.8g")


def write_store(path, arrays):
    h5py = pytest.importorskip("h5py", reason="h5py is optional (pip install seqattnet[hdf5])")
    with h5py.File(path, "w") as f:
        for video, array in arrays.items():
            f[f"v_{video}"] = array


PER_VIDEO = {".npy": np.save, ".npz": lambda p, a: np.savez(p, features=a),
             ".pt": lambda p, a: torch.save(torch.from_numpy(a), p), ".csv": write_csv}
STORES = {".h5": write_store, ".hdf5": write_store}


def test_every_registered_feature_format_has_a_writer_here():
    assert set(FEATURE_FORMATS) == set(PER_VIDEO) | set(STORES)
    assert {s for s, f in FEATURE_FORMATS.items() if f.store} == set(STORES)


def write_features(tmp_path, suffix: str):
    """The videos' features in one format -> (data.features path, file_pattern)."""
    arrays = {v: features_of(v) for v in DURATIONS}
    if suffix in STORES:
        STORES[suffix](tmp_path / f"feats{suffix}", arrays)
        return tmp_path / f"feats{suffix}", "{video_id}.npy"
    folder = tmp_path / "features"
    folder.mkdir()
    for video, array in arrays.items():
        PER_VIDEO[suffix](folder / f"v_{video}{suffix}", array)
    return folder, "{video_id}" + suffix


def reference(tmp_path):
    """The same features as .npy files, in a folder of their own -> (folder, file_pattern)."""
    (tmp_path / "ref").mkdir()
    return write_features(tmp_path / "ref", ".npy")


def annotations() -> AnnotationSet:
    return AnnotationSet({v: VideoAnnotation(v, "training", d, [[1.0, 5.0]], ["jump"], 30.0)
                          for v, d in DURATIONS.items()}, CLASSES, source="anno.json")


@pytest.mark.parametrize("suffix", sorted(FEATURE_FORMATS))
def test_the_dataset_reads_every_feature_format(tmp_path, suffix):
    path, pattern = write_features(tmp_path, suffix)
    ds = VideoDataset(annotations(), path, CLASSES, SPEC, T, file_pattern=pattern)
    folder, pattern = reference(tmp_path)
    ref = VideoDataset(annotations(), folder, CLASSES, SPEC, T, file_pattern=pattern)
    for i in range(len(ds)):
        np.testing.assert_allclose(ds[i].features.numpy(), ref[i].features.numpy(), rtol=1e-6)


@pytest.mark.parametrize("suffix", sorted(FEATURE_FORMATS))
def test_windows_read_every_per_video_format_and_refuse_a_store(tmp_path, suffix):
    path, pattern = write_features(tmp_path, suffix)
    if suffix in STORES:
        with pytest.raises(InputError, match="per-video files"):
            WindowDataset(annotations(), path, CLASSES, SPEC, T, file_pattern=pattern)
        return
    ds = WindowDataset(annotations(), path, CLASSES, SPEC, T, file_pattern=pattern)
    first = ds[0].features.numpy()  # (F, T): the first T snippets of the first video
    np.testing.assert_allclose(first, features_of(ds.windows[0].video_id)[:T].T, rtol=1e-6)


@pytest.mark.parametrize("suffix", sorted(FEATURE_FORMATS))
def test_check_data_reads_every_feature_format(tmp_path, suffix):
    path, pattern = write_features(tmp_path, suffix)
    report = check_dataset(DataReport(source="anno.json"), annotations(), CLASSES, path, pattern, SPEC, T,
                           ["training"])
    assert report.errors == [] and report.feature_files_read == len(DURATIONS)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    cfg = load_config("demo", [f"model.temporal_scale={T}", f"model.max_duration={T}", f"model.feature_dim={F}",
                               "model.num_classes=2", "model.base_channels=16", "model.bm_channels=8",
                               "model.map_channels=8", "model.num_samples=4", "data.fps=30"])
    torch.manual_seed(0)
    save_checkpoint(root / "model.pt", SeqAttNet(cfg.model), cfg, CLASSES)
    return root / "model.pt"


@pytest.mark.parametrize("suffix", sorted(FEATURE_FORMATS))
def test_predict_reads_every_feature_format(tmp_path, suffix, checkpoint):
    path, _ = write_features(tmp_path, suffix)
    detections, _ = predict_files(checkpoint, path, device="cpu", progress=False)
    assert sorted(d.video_id for d in detections) == sorted(DURATIONS)
    by_id = {d.video_id: d for d in predict_files(checkpoint, reference(tmp_path)[0], device="cpu", progress=False)[0]}
    for d in detections:
        np.testing.assert_allclose(d.scores, by_id[d.video_id].scores, rtol=1e-5)


def test_read_annotations_reaches_every_annotation_format(tmp_path):
    entry = {"duration_second": 20.0, "annotations": [{"segment": [1.0, 5.0], "label": "jump"}]}
    (tmp_path / "anet.json").write_text(json.dumps(
        {"database": {"aaa": {"subset": "training", "duration": 20.0, "annotations": entry["annotations"]}}}))
    (tmp_path / "bmn").mkdir()
    (tmp_path / "bmn" / "anno.json").write_text(json.dumps({"v_aaa": entry}))
    (tmp_path / "bmn" / "video_info_new.csv").write_text(
        "video,numFrame,seconds,fps,rfps,subset,featureFrame\nv_aaa,600,20.0,30.0,30,training,592\n")
    files = {"activitynet": tmp_path / "anet.json", "bmn": tmp_path / "bmn" / "anno.json"}
    assert [f.name for f in ANNOTATION_FORMATS] == list(files)
    for name, path in files.items():
        videos = read_annotations(path).videos
        assert list(videos) == ["aaa"] and videos["aaa"].labels == ["jump"], name
