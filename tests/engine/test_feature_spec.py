"""Checkpoints record the features they were trained on; predict refuses features made otherwise."""

import json

import numpy as np
import pytest
import torch

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.data.dataset import FeatureSpec
from seqattnet.data.features import write_feature_file
from seqattnet.engine.build import build_model
from seqattnet.engine.checkpoint import read_checkpoint, save_checkpoint
from seqattnet.errors import InputError

TINY = ["model.num_classes=3", "model.feature_dim=8", "model.temporal_scale=16", "model.max_duration=16",
        "model.base_channels=8", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4",
        "data.backbone=r2plus1d_18", "data.stride_frames=16", "data.window_frames=16"]
META = {"backbone": "r2plus1d_18", "feature_dim": 8, "stride_frames": 16, "window_frames": 16, "fps": 10.0}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = load_config("demo", TINY)
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    save_checkpoint(path, build_model(cfg), cfg, ["a", "b", "c"])
    return path


def _features(path, **changes):
    meta = {**META, **changes}
    rows = np.random.default_rng(0).normal(size=(40, meta["feature_dim"])).astype(np.float32)
    return write_feature_file(path, rows, meta)


def test_checkpoint_records_the_feature_spec(checkpoint):
    spec = read_checkpoint(checkpoint)["feature_spec"]
    assert spec["backbone"] == "r2plus1d_18" and spec["feature_dim"] == 8
    assert spec["stride_frames"] == 16 and spec["window_frames"] == 16


def test_predict_uses_the_files_fps(checkpoint, tmp_path):
    feats = _features(tmp_path / "clip.npz")
    out = tmp_path / "pred.json"
    assert main(["predict", "--checkpoint", str(checkpoint), "--features", str(feats), "--out", str(out)]) == 0
    preds = json.loads(out.read_text())["results"]["clip"]
    assert preds
    duration = ((40 - 1) * 16 + 16) / 10.0  # 64 s at the file's 10 fps, not the config's 30
    ends = np.array([p["segment"][1] for p in preds])
    assert ends.max() <= duration + 1e-6 and ends.max() > duration / 3  # 30 fps would end by 21.3 s


@pytest.mark.parametrize("change, needle", [
    ({"backbone": "s3d"}, "backbone 's3d' (expected 'r2plus1d_18')"),
    ({"stride_frames": 8}, "stride_frames 8 (expected 16"),
    ({"window_frames": 32}, "window_frames 32 (expected 16"),
])
def test_predict_refuses_features_made_otherwise(checkpoint, tmp_path, capsys, change, needle):
    feats = _features(tmp_path / "clip.npz", **change)
    code = main(["predict", "--checkpoint", str(checkpoint), "--features", str(feats), "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert needle in err and "clip.npz" in err and "seqattnet extract" in err
    assert not (tmp_path / "p.json").exists()


def test_files_without_metadata_pass_and_spec_compares_numbers_as_numbers():
    spec = FeatureSpec(8, 16, 16, backbone="r2plus1d_18")
    spec.check_meta(None, "x.npy")
    spec.check_meta({"feature_dim": 8, "stride_frames": 16.0, "window_frames": 16, "backbone": "r2plus1d_18"}, "x")
    with pytest.raises(InputError, match="feature_dim 512"):
        spec.check_meta({"feature_dim": 512}, "x.npz")
    with pytest.raises(InputError, match="backbone 'r3d_18' \\(expected ''\\)"):
        FeatureSpec(8).check_meta({"backbone": "r3d_18"}, "x.npz")


def test_training_data_made_otherwise_is_refused(tmp_path):
    from seqattnet.data.dataset import VideoDataset
    from seqattnet.structures import AnnotationSet, VideoAnnotation

    folder = tmp_path / "features"
    folder.mkdir()
    _features(folder / "aaa.npz", stride_frames=8)
    videos = {"aaa": VideoAnnotation("aaa", "training", 60.0, np.array([[1.0, 5.0]]), ["a"], 10.0)}
    annotations = AnnotationSet(videos, ["a"], source="anno.json")
    spec = FeatureSpec(8, 16, 16, backbone="r2plus1d_18")
    with pytest.raises(InputError, match=r"aaa.npz, video 'aaa': .*stride_frames 8 \(expected 16"):
        VideoDataset(annotations, folder, ["a"], spec, 16, file_pattern="{video_id}.npz")
    _features(folder / "aaa.npz")
    assert len(VideoDataset(annotations, folder, ["a"], spec, 16, file_pattern="{video_id}.npz")) == 1
