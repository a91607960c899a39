"""BMN's ActivityNet layout end to end: anet_anno_action.json + video_info_new.csv + one CSV of T rows per
video, segments normalised by the corrected duration featureFrame / numFrame × seconds."""

import json

import numpy as np
import pytest

from seqattnet.cli import main
from seqattnet.data.annotations import read_annotations
from seqattnet.data.dataset import FeatureSpec, VideoDataset

T, F = 16, 8
# video: (subset, seconds, numFrame, featureFrame, [(start_s, end_s, label)])
VIDEOS = {
    "v_aaa": ("training", 100.0, 3000, 2992, [(10.0, 40.0, "Jumping"), (60.0, 99.9, "Running")]),
    "v_bbb": ("training", 50.0, 1500, 1488, [(5.0, 20.0, "Running")]),
    "v_ccc": ("validation", 80.0, 2400, 2384, [(0.0, 30.0, "Jumping")]),
}


def write_bmn_layout(root, T=T, F=F):
    """The three files BMN's tooling reads, and features/<v_id>.csv with a header f0…f{F-1}."""
    (root / "features").mkdir(parents=True)
    anno, rows = {}, ["video,numFrame,seconds,fps,rfps,subset,featureFrame"]
    rng = np.random.default_rng(0)
    for vid, (subset, seconds, frames, feature_frames, segs) in VIDEOS.items():
        anno[vid] = {"duration_second": seconds, "duration_frame": frames, "feature_frame": feature_frames,
                     "annotations": [{"segment": [s, e], "label": l} for s, e, l in segs]}
        rows.append(f"{vid},{frames},{seconds},30.0,30,{subset},{feature_frames}")
        header = ",".join(f"f{i}" for i in range(F))
        body = "\n".join(",".join(f"{x:.6f}" for x in r) for r in rng.normal(size=(T, F)))
        (root / "features" / f"{vid}.csv").write_text(header + "\n" + body + "\n")
    (root / "anet_anno_action.json").write_text(json.dumps(anno))
    (root / "video_info_new.csv").write_text("\n".join(rows) + "\n")
    (root / "action_name.csv").write_text("action\nJumping\nRunning\n")
    return root


def test_segments_are_normalised_by_the_corrected_duration(tmp_path):
    root = write_bmn_layout(tmp_path)
    annotations = read_annotations(root / "anet_anno_action.json")
    assert annotations.videos["aaa"].feature_duration_s == pytest.approx(2992 / 3000 * 100.0)
    ds = VideoDataset(annotations, root / "features", ["Jumping", "Running"], FeatureSpec(F, rescaled=True), T,
                      file_pattern="{video_id}.csv")
    sample = ds[ds.video_ids.index("aaa")]
    corrected = 2992 / 3000 * 100.0  # 99.733 s
    assert sample.duration_s == pytest.approx(corrected)  # detections map back with it, as BMN's post-processing
    expected = np.array([[10.0 / corrected, 40.0 / corrected], [60.0 / corrected, 1.0]])  # 99.9 s clipped to 1
    np.testing.assert_allclose(sample.segments_norm.numpy(), expected, rtol=1e-6)
    assert ds.skipped == []  # a 0.17 s overshoot is within the tolerance
    assert sample.features.shape == (F, T)


def test_native_features_keep_the_annotated_duration(tmp_path):
    """The correction belongs to BMN's rescaled rows only: native snippets carry their own times."""
    root = write_bmn_layout(tmp_path)
    for vid in VIDEOS:
        np.save(root / "features" / f"{vid}.npy", np.zeros((40, F), dtype=np.float32))
    ds = VideoDataset(read_annotations(root / "anet_anno_action.json"), root / "features", ["Jumping", "Running"],
                      FeatureSpec(F), T)
    assert ds[ds.video_ids.index("aaa")].duration_s == 100.0


def test_activitynet_config_trains_one_epoch_on_bmn_csv(tmp_path, capsys):
    root = write_bmn_layout(tmp_path / "data")
    tiny = [f"data.root={root}", "data.features=features", "model.num_classes=2", f"model.feature_dim={F}",
            f"model.temporal_scale={T}", f"model.max_duration={T}", "model.base_channels=16", "model.bm_channels=16",
            "model.map_channels=8", "model.num_samples=8", "train.epochs=1", "train.batch_size=2"]
    args = [a for item in tiny for a in ("--set", item)]
    code = main(["train", "--config", "activitynet", *args, "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "run" / "results_validation.json").read_text())["results"]
    assert list(results) == ["ccc"]
    corrected = 2384 / 2400 * 80.0
    assert all(0 <= p["segment"][0] <= p["segment"][1] <= corrected + 1e-6 for p in results["ccc"])
