"""The built-in THUMOS-shaped dataset: its statistics, the class relations, per-video fps, the hard mode."""

import json

import numpy as np
import pytest

from seqattnet.data.annotations import read_annotations, read_class_names
from seqattnet.data.dataset import FeatureSpec
from seqattnet.data.features import num_snippets
from seqattnet.data.synthetic_thumos import DUPLICATE_PAIR, FOLLOW_PAIR, generate_thumos_dataset
from seqattnet.data.windows import WindowDataset
from seqattnet.errors import InputError

SMALL = dict(num_train=6, num_val=4, feature_dim=8, progress=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """THUMOS14's 200 + 212 videos with 4-d features: enough for the statistics, a few seconds to write."""
    out = tmp_path_factory.mktemp("thumos") / "stats"
    return generate_thumos_dataset(out, num_train=200, num_val=212, feature_dim=4)


def videos_of(folder):
    return list(read_annotations(folder / "annotations.json").videos.values())


def test_layout_statistics_are_near_thumos14(sample):
    videos = videos_of(sample)
    durations = np.array([v.duration_s for v in videos])
    counts = np.array([len(v.labels) for v in videos])
    lengths = np.concatenate([v.segments_s[:, 1] - v.segments_s[:, 0] for v in videos])
    assert np.median(durations) == pytest.approx(151, abs=20) and durations.mean() == pytest.approx(209, abs=30)
    assert counts.mean() == pytest.approx(15, abs=3) and np.median(counts) == pytest.approx(8, abs=3)
    assert counts.max() > 100  # dense videos exist
    assert np.median(lengths) == pytest.approx(2.9, abs=0.5) and lengths.mean() == pytest.approx(4.0, abs=0.8)
    classes_per_video = np.array([len(set(v.labels)) for v in videos])
    assert 0.7 < (classes_per_video == 1).mean() < 0.92  # THUMOS14: 85 %; repeats of one or two classes
    main_share = [max(v.labels.count(c) for c in set(v.labels)) / len(v.labels) for v in videos]
    assert np.median(main_share) == 1.0 and np.percentile(main_share, 5) >= 0.4
    coverage = [(v.segments_s[:, 1] - v.segments_s[:, 0]).sum() / v.duration_s for v in videos]
    assert 0.15 < np.mean(coverage) < 0.45  # background between actions (THUMOS14: 0.29)


def test_duplicate_pair_is_exact_and_the_follow_pair_overlaps(sample):
    classes = read_class_names(sample / "classes.txt")
    a, b = (classes[c] for c in DUPLICATE_PAIR)
    lead, follow = (classes[c] for c in FOLLOW_PAIR)
    duplicated = alone = overlaps = 0
    for v in videos_of(sample):
        labels = np.array(v.labels)
        seg_a, seg_b = v.segments_s[labels == a], v.segments_s[labels == b]
        # every instance of a is annotated again as b with the very same segment
        assert {tuple(s) for s in seg_a} <= {tuple(s) for s in seg_b}
        duplicated += len(seg_a)
        alone += len(seg_b) - len(seg_a)
        for s in v.segments_s[labels == follow]:
            leads = v.segments_s[labels == lead]
            overlaps += int(((leads[:, 0] < s[0]) & (s[0] < leads[:, 1])).any())
    assert duplicated > 50 and alone > 50  # b also occurs on its own
    assert overlaps > 50  # the follower starts inside its leader


def test_files_have_per_video_fps_and_native_rate_rows(tmp_path):
    out = generate_thumos_dataset(tmp_path / "d", seed=2, num_train=40, num_val=20, feature_dim=8, progress=False)
    annotations = read_annotations(out / "annotations.json")
    assert annotations.subsets == {"validation": 40, "test": 20}
    raw = json.loads((out / "annotations.json").read_text())["database"]
    fps = {v.fps for v in annotations.videos.values()}
    assert fps <= {24.0, 25.0, 29.97, 30.0} and 30.0 in fps and len(fps) > 1
    for video in annotations.videos.values():
        features = np.load(out / "features" / f"{video.video_id}.npy")
        assert features.dtype == np.float16
        assert features.shape == (num_snippets(video.duration_s, video.fps, 4, 16), 8)  # one row per snippet
        entry = raw[video.video_id]
        assert entry["subset"] in ("Validation", "Test") and entry["fps"] == video.fps
        for ann in entry["annotations"]:
            np.testing.assert_allclose(ann["segment(frames)"], np.array(ann["segment"]) * video.fps, atol=0.06)
    meta = json.loads((out / "dataset.json").read_text())
    spec = FeatureSpec(**meta["feature_spec"])
    assert (spec.fps, spec.stride_frames, spec.rescaled) == (None, 4, False)
    classes = read_class_names(out / "classes.txt")
    windows = WindowDataset(annotations.subset("validation"), out / "features", classes, spec, 32)
    assert windows[0].features.shape == (8, 32) and windows[0].features.dtype.is_floating_point


def test_deterministic_and_float32_on_request(tmp_path):
    a = generate_thumos_dataset(tmp_path / "a", seed=5, **SMALL)
    b = generate_thumos_dataset(tmp_path / "b", seed=5, dtype="float32", **SMALL)
    c = generate_thumos_dataset(tmp_path / "c", seed=6, **SMALL)
    assert (a / "annotations.json").read_bytes() == (b / "annotations.json").read_bytes()
    assert (a / "annotations.json").read_bytes() != (c / "annotations.json").read_bytes()
    x, y = (np.load(p / "features" / "video_test_0000001.npy") for p in (a, b))
    assert y.dtype == np.float32 and np.array_equal(x, y.astype(np.float16))
    with pytest.raises(InputError, match="num_classes >= 4"):
        generate_thumos_dataset(tmp_path / "e", num_classes=3, **SMALL)


def separation(folder):
    """Per video: distance of the mean action snippet from the mean background snippet over their spread."""
    out = []
    for v in videos_of(folder):
        x = np.load(folder / "features" / f"{v.video_id}.npy").astype(np.float64)
        t = (np.arange(len(x)) * 4 + 8) / v.fps
        inside = ((t[:, None] >= v.segments_s[:, 0]) & (t[:, None] < v.segments_s[:, 1])).any(1)
        if inside.sum() > 5 and (~inside).sum() > 5:
            gap = np.linalg.norm(x[inside].mean(0) - x[~inside].mean(0))
            out.append(gap / np.sqrt(x[~inside].var(0).sum()))
    return np.mean(out)


def test_hard_differs_from_standard(tmp_path):
    kw = dict(seed=1, num_train=30, num_val=0, feature_dim=16, progress=False)
    std = generate_thumos_dataset(tmp_path / "s", **kw)
    hard = generate_thumos_dataset(tmp_path / "h", mode="hard", **kw)
    sv, hv = videos_of(std), videos_of(hard)
    assert [v.duration_s for v in sv] == [v.duration_s for v in hv]  # the same videos ...
    moved = [np.abs(a.segments_s - b.segments_s).max() for a, b in zip(sv, hv) if a.labels == b.labels]
    assert len(moved) > 20 and np.mean(moved) > 0.1  # ... annotated elsewhere: annotators disagree
    assert separation(hard) < 0.85 * separation(std)  # weaker actions in busier background
    meta = json.loads((hard / "dataset.json").read_text())
    assert meta["knobs"]["look_alike_distractors"] and meta["knobs"]["distractors_per_minute"] == 3.0
