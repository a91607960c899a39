from pathlib import Path

import numpy as np
import pytest
import torch

from seqattnet.data.annotations import read_annotations
from seqattnet.data.dataset import Batch, FeatureSpec, VideoDataset, collate
from seqattnet.data.features import num_snippets, seconds_to_cell, snippet_times_s
from seqattnet.errors import InputError
from seqattnet.structures import AnnotationSet, VideoAnnotation

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLASSES = ["jump", "run", "swim"]
F, T = 6, 10
SPEC = FeatureSpec(feature_dim=F, stride_frames=16, window_frames=16, fps=None)


def make_annotations(videos: dict[str, tuple[float, list, list]], fps: float | None = 30.0) -> AnnotationSet:
    """{id: (duration_s, [[start, end], ...], [label, ...])} -> AnnotationSet."""
    return AnnotationSet(
        {vid: VideoAnnotation(vid, "training", d, np.array(seg, dtype=float).reshape(-1, 2), labels, fps)
         for vid, (d, seg, labels) in videos.items()},
        CLASSES,
        source="anno.json",
    )


def ramp_features(duration_s: float, fps: float = 30.0) -> np.ndarray:
    """Features whose column f is f + time in seconds: the grid value is easy to predict."""
    n = num_snippets(duration_s, fps, 16, 16)
    return (snippet_times_s(n, 16, 16, fps)[:, None] + np.arange(F)).astype(np.float32)  # (n, F)


@pytest.fixture
def folder(tmp_path):
    feats = tmp_path / "features"
    feats.mkdir()
    np.save(feats / "v_aaa.npy", ramp_features(20.0))  # BMN spelling on disk, plain id in annotations
    np.save(feats / "bbb.npy", ramp_features(40.0))
    np.save(feats / "ccc.npy", ramp_features(8.0))
    annotations = make_annotations({
        "aaa": (20.0, [[2.0, 6.0], [10.0, 20.5]], ["jump", "jump"]),  # 0.5 s overshoot: within tolerance
        "bbb": (40.0, [[0.0, 40.0]], ["swim"]),
        "ccc": (8.0, [], []),
    })
    return tmp_path, feats, annotations


def test_sample_fields_shapes_and_values(folder):
    _, feats, annotations = folder
    ds = VideoDataset(annotations, feats, CLASSES, SPEC, T)
    assert len(ds) == 3 and ds.video_ids == ["aaa", "bbb", "ccc"] and ds.skipped == []
    s = ds[0]
    assert s.video_id == "aaa" and s.duration_s == 20.0
    assert s.features.shape == (F, T) and s.features.dtype == torch.float32
    np.testing.assert_allclose(s.segments_norm.numpy(), [[0.1, 0.3], [0.5, 1.0]])  # clipped to 1
    assert s.segments_norm.dtype == torch.float32 and s.labels.dtype == torch.int64
    assert s.labels.tolist() == [0, 0]
    # cell centres of a 20 s video at T = 10: 1, 3, …, 19 s, inside the snippets' range except the ends
    tau = (np.arange(T) + 0.5) / T * 20.0
    times = snippet_times_s(num_snippets(20.0, 30.0, 16, 16), 16, 16, 30.0)
    expected = np.clip(tau, times[0], times[-1])[None, :] + np.arange(F)[:, None]
    np.testing.assert_allclose(s.features.numpy(), expected, atol=1e-5)
    assert ds[2].segments_norm.shape == (0, 2) and ds[2].labels.shape == (0,)


def test_collate_and_to(folder):
    _, feats, annotations = folder
    ds = VideoDataset(annotations, feats, CLASSES, SPEC, T)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    batch = next(iter(loader))
    assert isinstance(batch, Batch)
    assert batch.features.shape == (3, F, T) and batch.video_ids == ["aaa", "bbb", "ccc"]
    assert batch.durations_s.tolist() == [20.0, 40.0, 8.0]
    assert [len(l) for l in batch.labels] == [2, 1, 0] and batch.segments_norm[1].tolist() == [[0.0, 1.0]]
    moved = batch.to("cpu")
    assert torch.equal(moved.features, batch.features) and moved.video_ids == batch.video_ids


def test_segments_outside_or_empty_are_skipped_and_counted(folder):
    _, feats, _ = folder
    annotations = make_annotations({
        "aaa": (20.0, [[25.0, 30.0], [3.0, 3.0], [-5.0, 4.0], [1.0, 2.0]], ["run", "run", "run", "run"]),
    })
    ds = VideoDataset(annotations, feats, CLASSES, SPEC, T)
    assert len(ds.skipped) == 3
    assert "annotations[0]" in ds.skipped[0] and "outside the video" in ds.skipped[0] and "'aaa'" in ds.skipped[0]
    assert "annotations[1]" in ds.skipped[1] and "zero-length" in ds.skipped[1]
    assert "annotations[2]" in ds.skipped[2] and "clipped" in ds.skipped[2]
    np.testing.assert_allclose(ds[0].segments_norm.numpy(), [[0.0, 0.2], [0.05, 0.1]])


@pytest.mark.parametrize("case, message", [
    ("missing_file", "feature file not found (tried v_zzz.npy and zzz.npy)"),
    ("wrong_dim", "feature dimension 4, expected 6"),
    ("unknown_label", "label 'dance' is not one of the 3 classes"),
    ("negative", "end 1.0 < start 5.0"),
    ("no_fps", "no fps in the annotations"),
    ("bad_duration", "duration must be positive"),
    ("bad_fps", "field 'fps': fps must be positive, got -30.0"),
    ("rescaled_rows", "rows, but data.rescaled"),
])
def test_bad_inputs_raise_naming_the_video(folder, case, message):
    _, feats, _ = folder
    spec, videos, fps = SPEC, {"zzz": (10.0, [[1.0, 2.0]], ["run"])}, 30.0
    np.save(feats / "zzz.npy", ramp_features(10.0))
    if case == "missing_file":
        (feats / "zzz.npy").unlink()
    elif case == "wrong_dim":
        np.save(feats / "zzz.npy", np.zeros((5, 4), np.float32))
    elif case == "unknown_label":
        videos = {"zzz": (10.0, [[1.0, 2.0]], ["dance"])}
    elif case == "negative":
        videos = {"zzz": (10.0, [[5.0, 1.0]], ["run"])}
    elif case == "no_fps":
        fps = None
    elif case == "bad_fps":  # built in code, not read from a file (whose reader refuses it already)
        fps = -30.0
    elif case == "bad_duration":
        videos = {"zzz": (0.0, [], [])}
    elif case == "rescaled_rows":
        spec = FeatureSpec(feature_dim=F, rescaled=True)
    with pytest.raises(InputError) as info:
        VideoDataset(make_annotations(videos, fps), feats, CLASSES, spec, T)
    assert "video 'zzz'" in str(info.value) and message in str(info.value)


def test_nan_in_a_file_is_reported_when_read(folder):
    _, feats, annotations = folder
    bad = ramp_features(40.0)
    bad[3, 1] = np.nan
    np.save(feats / "bbb.npy", bad)
    ds = VideoDataset(annotations, feats, CLASSES, SPEC, T)  # .npy files are probed by their header only
    with pytest.raises(InputError, match=r"bbb.npy, video 'bbb': 1 non-finite"):
        ds[1]


def test_fixed_fps_overrides_the_annotations(folder):
    _, feats, _ = folder
    annotations = make_annotations({"bbb": (40.0, [], [])}, fps=None)
    ds = VideoDataset(annotations, feats, CLASSES, FeatureSpec(F, fps=30.0), T)
    assert ds[0].features.shape == (F, T)


def test_rescaled_csv_features_pass_through(tmp_path):
    bmn = np.random.default_rng(0).standard_normal((T, F)).astype(np.float32)
    lines = [",".join(f"f{j}" for j in range(F))] + [",".join(repr(float(v)) for v in row) for row in bmn]
    (tmp_path / "v_abc.csv").write_text("\n".join(lines) + "\n")
    annotations = make_annotations({"abc": (33.3, [[1.0, 2.0]], ["run"])}, fps=None)
    ds = VideoDataset(annotations, tmp_path, CLASSES, FeatureSpec(F, rescaled=True), T, file_pattern="{video_id}.csv")
    np.testing.assert_array_equal(ds[0].features.numpy(), bmn.T)


def test_cache_is_written_once_and_reused(folder):
    root, feats, annotations = folder
    cache = root / "cache" / "grid.npy"
    first = VideoDataset(annotations, feats, CLASSES, SPEC, T, cache_path=cache)
    assert cache.is_file() and (root / "cache" / "grid.npy.index.json").is_file()
    assert sorted(p.name for p in cache.parent.iterdir()) == ["grid.npy", "grid.npy.index.json"]  # no temp files left
    plain = [s.features for s in VideoDataset(annotations, feats, CLASSES, SPEC, T)]
    assert all(torch.equal(first[i].features, plain[i]) for i in range(3))
    stamp = cache.stat().st_mtime_ns
    for path in feats.iterdir():  # a matching cache needs no feature file
        path.unlink()
    again = VideoDataset(annotations, feats, CLASSES, SPEC, T, cache_path=cache)
    assert cache.stat().st_mtime_ns == stamp
    assert all(torch.equal(again[i].features, plain[i]) for i in range(3))
    # another spec or another set of videos does not match: rebuilt, so the missing files are noticed
    with pytest.raises(InputError, match="feature file not found"):
        VideoDataset(annotations, feats, CLASSES, FeatureSpec(F, stride_frames=8), T, cache_path=cache)
    with pytest.raises(InputError, match="feature file not found"):
        VideoDataset(annotations, feats, CLASSES, SPEC, 20, cache_path=cache)
    fewer = AnnotationSet({k: v for k, v in annotations.videos.items() if k != "ccc"}, CLASSES)
    with pytest.raises(InputError, match="feature file not found"):
        VideoDataset(fewer, feats, CLASSES, SPEC, T, cache_path=cache)


def test_cache_rebuilds_when_durations_change(folder):
    root, feats, annotations = folder
    cache = root / "grid.npy"
    VideoDataset(annotations, feats, CLASSES, SPEC, T, cache_path=cache)
    annotations.videos["bbb"].duration_s = 39.0
    ds = VideoDataset(annotations, feats, CLASSES, SPEC, T, cache_path=cache)
    plain = VideoDataset(annotations, feats, CLASSES, SPEC, T)
    assert torch.equal(ds[1].features, plain[1].features)


@pytest.mark.skipif(not (SHARED / "data" / "activitynet").is_dir(), reason="needs ../shared/data (real ActivityNet files) beside the repository")
def test_real_bmn_feature_and_its_ground_truth(tmp_path):
    anet = SHARED / "data" / "activitynet"
    raw = np.load(anet / "v_4Lu8ECLHvK4.bmn100.npy")
    assert raw.shape == (100, 400) and raw.dtype == np.float64
    annotations = read_annotations(anet / "anet_anno_action.json.gz")
    video = annotations.videos["4Lu8ECLHvK4"]
    assert video.subset == "validation" and video.duration_s == pytest.approx(124.23)
    assert video.labels == ["Playing kickball"]
    only = AnnotationSet({"4Lu8ECLHvK4": video}, annotations.classes, annotations.source)
    ds = VideoDataset(only, anet, annotations.classes, FeatureSpec(400, rescaled=True), 100, file_pattern="{video_id}.bmn100.npy")
    sample = ds[0]
    np.testing.assert_allclose(sample.features.numpy(), raw.T.astype(np.float32))
    assert annotations.classes[sample.labels[0]] == "Playing kickball"
    # the segment [0.01, 124.23) s covers the video: it starts in cell 0 and ends in cell 99
    start_s, end_s = video.segments_s[0]
    assert seconds_to_cell(start_s, video.duration_s, 100) == 0 and seconds_to_cell(end_s, video.duration_s, 100) == 99
    # BMN normalises by the corrected duration featureFrame / numFrame × seconds (video_info_new.csv: 3712, 3718)
    corrected = 3712 / 3718 * 124.23
    assert video.feature_duration_s == pytest.approx(corrected) and sample.duration_s == pytest.approx(corrected)
    start_norm, end_norm = sample.segments_norm[0].tolist()
    assert start_norm == pytest.approx(0.01 / corrected, rel=1e-5) and end_norm == 1.0  # 124.23 s clipped to 124.03 s
    assert int(start_norm * 100) == 0 and min(int(end_norm * 100), 99) == 99


def test_batches_from_the_cache_match_single_reads(folder):
    root, feats, annotations = folder
    cached = VideoDataset(annotations, feats, CLASSES, SPEC, T, cache_path=root / "grid.npy")
    plain = VideoDataset(annotations, feats, CLASSES, SPEC, T)
    order = [2, 0, 1]
    batch = collate(cached.__getitems__(order))  # what DataLoader calls: one read of the rows
    reference = collate([plain[i] for i in order])  # stacked by copying
    assert batch.video_ids == reference.video_ids == ["ccc", "aaa", "bbb"]
    assert torch.equal(batch.features, reference.features) and batch.features.is_contiguous()
    assert all(torch.equal(a, b) for a, b in zip(batch.segments_norm, reference.segments_norm))
    loader = torch.utils.data.DataLoader(cached, batch_size=2, collate_fn=collate)
    assert torch.equal(torch.cat([b.features for b in loader]), torch.stack([s.features for s in plain]))
