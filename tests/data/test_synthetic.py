import json

import numpy as np
import pytest

from seqattnet.data import synthetic
from seqattnet.data.annotations import read_annotations, read_class_names
from seqattnet.data.dataset import FeatureSpec, VideoDataset
from seqattnet.data.features import num_snippets
from seqattnet.data.synthetic import SignalKnobs, ar1_noise, generate_synthetic_dataset, sample_segments
from seqattnet.errors import InputError

SMALL = dict(num_train=12, num_val=4, num_classes=6, num_groups=2, feature_dim=16, progress=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """800 videos with tiny features: enough for the layout's statistics, about a second to write."""
    out = tmp_path_factory.mktemp("syn") / "stats"
    generate_synthetic_dataset(out, num_train=640, num_val=160, feature_dim=4, progress=False)
    return out


def read_all(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    a = read_all(generate_synthetic_dataset(tmp_path / "a", seed=3, **SMALL))
    b = read_all(generate_synthetic_dataset(tmp_path / "b", seed=3, **SMALL))
    c = read_all(generate_synthetic_dataset(tmp_path / "c", seed=4, **SMALL))
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert a["annotations.json"] != c["annotations.json"]
    assert a["features/syn00.npy"] != c["features/syn00.npy"]


def test_files_agree_with_the_annotations(tmp_path):
    out = generate_synthetic_dataset(tmp_path / "d", seed=1, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temporary folder left beside it
    annotations = read_annotations(out / "annotations.json")
    classes = read_class_names(out / "classes.txt")
    meta = json.loads((out / "dataset.json").read_text())
    assert len(classes) == 6 and meta["classes"] == classes and meta["seed"] == 1
    assert meta["generator_version"] == synthetic.GENERATOR_VERSION and meta["knobs"]["latent_dim"] == 32
    assert annotations.subsets == {"training": 12, "validation": 4} == meta["videos"]
    assert set(annotations.classes) <= set(classes)
    files = {p.stem for p in (out / "features").iterdir()}
    assert files == set(annotations.videos)
    for video in annotations.videos.values():
        features = np.load(out / "features" / f"{video.video_id}.npy")
        assert features.dtype == np.float32 and features.shape == (num_snippets(video.duration_s, 30.0, 16, 16), 16)
        assert len(set(video.labels)) == 1 and video.fps == 30.0
        seg = video.segments_s
        assert (seg[:, 1] > seg[:, 0]).all() and seg.min() >= 0 and seg.max() <= video.duration_s
        assert (seg[1:, 0] >= seg[:-1, 1]).all()  # sorted, non-overlapping
    # the dataset reads it with the spec it records
    ds = VideoDataset(annotations, out / "features", classes, FeatureSpec(**meta["feature_spec"]), 20)
    assert ds.skipped == [] and ds[0].features.shape == (16, 20)


def test_layout_statistics_are_near_activitynet(sample):
    videos = list(read_annotations(sample / "annotations.json").videos.values())
    counts = np.array([len(v.labels) for v in videos])
    shares = [(counts == 1).mean(), (counts == 2).mean(), (counts == 3).mean(), (counts >= 4).mean()]
    np.testing.assert_allclose(shares, [0.75, 0.13, 0.05, 0.07], atol=0.04)
    lengths = np.concatenate([(v.segments_s[:, 1] - v.segments_s[:, 0]) / v.duration_s for v in videos])
    p10, median, p90 = np.percentile(lengths, [10, 50, 90])
    assert median == pytest.approx(0.32, abs=0.05) and p10 == pytest.approx(0.03, abs=0.015) and p90 == pytest.approx(0.95, abs=0.04)
    coverage = np.mean([(v.segments_s[:, 1] - v.segments_s[:, 0]).sum() / v.duration_s for v in videos])
    assert coverage == pytest.approx(0.65, abs=0.04)
    durations = np.array([v.duration_s for v in videos])
    assert durations.mean() == pytest.approx(118, abs=8)
    assert np.percentile(durations, 5) == pytest.approx(18, abs=5) and np.percentile(durations, 95) == pytest.approx(224, abs=10)


def test_classes_are_balanced_and_grouped(sample):
    annotations = read_annotations(sample / "annotations.json")
    classes = read_class_names(sample / "classes.txt")
    assert len(classes) == 20 and len({name.split("-")[0] for name in classes}) == 5  # 5 groups of 4
    per_class = {c: 0 for c in classes}
    for video in annotations.subset("training").videos.values():
        per_class[video.labels[0]] += 1
    assert set(per_class.values()) == {32}  # 640 training videos / 20 classes


def test_features_carry_the_action(sample):
    """Snippets inside instances project higher on the class prototype than background snippets."""
    annotations = read_annotations(sample / "annotations.json")
    inside, outside = [], []
    for video in list(annotations.videos.values())[:200]:
        x = np.load(sample / "features" / f"{video.video_id}.npy")
        t = (np.arange(len(x)) * 16 + 8) / 30.0
        mask = ((t[:, None] >= video.segments_s[:, 0]) & (t[:, None] < video.segments_s[:, 1])).any(1)
        inside.append(x[mask]), outside.append(x[~mask])
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    assert np.linalg.norm(inside.mean(0) - outside.mean(0)) > 0.1  # the shared "actionness" direction
    assert np.isfinite(inside).all() and 0.5 < inside.std() < 5


def test_sample_segments_fit_short_videos():
    rng = np.random.default_rng(0)
    for duration in [1.0, 3.0, 5.0, 18.0]:
        for _ in range(200):
            seg = sample_segments(rng, duration)
            assert len(seg) >= 1 and seg.min() >= 0 and seg.max() <= duration
            assert (seg[:, 1] > seg[:, 0]).all() and (seg[1:, 0] >= seg[:-1, 1]).all()


def test_ar1_noise_matches_the_recurrence():
    eps = np.random.default_rng(0).standard_normal((300, 4))
    reference = eps.copy()
    reference[1:] *= np.sqrt(1 - 0.8**2)
    for t in range(1, len(reference)):  # the obvious loop
        reference[t] += 0.8 * reference[t - 1]
    np.testing.assert_allclose(ar1_noise(eps, 0.8), reference, atol=1e-12)
    long = ar1_noise(np.random.default_rng(1).standard_normal((4000, 64)), 0.8)
    assert long.var() == pytest.approx(1.0, abs=0.05)
    assert np.corrcoef(long[:-1].ravel(), long[1:].ravel())[0, 1] == pytest.approx(0.8, abs=0.02)


def test_existing_folder_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "e"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="not empty"):
        generate_synthetic_dataset(out, **SMALL)
    generate_synthetic_dataset(out, overwrite=True, **SMALL)
    assert not (out / "mine.txt").exists() and (out / "annotations.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]


def test_a_crash_leaves_nothing_half_written(tmp_path, monkeypatch):
    calls = []

    def failing_render(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("disk full")
        return np.zeros((3, 16), np.float32)

    monkeypatch.setattr(synthetic, "_render", failing_render)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_synthetic_dataset(tmp_path / "f", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_knobs_change_the_features_not_the_layout(tmp_path):
    a = generate_synthetic_dataset(tmp_path / "a", **SMALL)
    b = generate_synthetic_dataset(tmp_path / "b", knobs=SignalKnobs(action_strength=2.0), **SMALL)
    assert (a / "annotations.json").read_bytes() == (b / "annotations.json").read_bytes()
    assert not np.array_equal(np.load(a / "features" / "syn00.npy"), np.load(b / "features" / "syn00.npy"))


def test_hard_mode_records_itself_and_differs_from_standard(tmp_path):
    standard = generate_synthetic_dataset(tmp_path / "s", seed=2, **SMALL)
    hard = generate_synthetic_dataset(tmp_path / "h", seed=2, mode="hard", **SMALL)
    meta = json.loads((hard / "dataset.json").read_text())
    assert meta["parameters"]["mode"] == "hard" and meta["knobs"]["label_jitter"] == 0.04
    assert meta["knobs"]["scene_across_groups"] is True
    a, b = read_annotations(standard / "annotations.json"), read_annotations(hard / "annotations.json")
    assert a.videos.keys() == b.videos.keys()
    moved = [np.abs(a.videos[v].segments_s - b.videos[v].segments_s).max() for v in a.videos]
    assert max(moved) > 0  # the annotators moved boundaries away from where the signal changes
    with pytest.raises(InputError, match="synthetic.mode"):
        generate_synthetic_dataset(tmp_path / "x", mode="easy", **SMALL)


def test_annotators_stay_inside_the_video_and_between_neighbours():
    rng = np.random.default_rng(0)
    signal = np.array([[1.0, 9.0], [10.0, 30.0], [31.0, 39.5]])
    starts, ends = [], []
    for _ in range(2000):
        seg = synthetic.annotate(rng, signal, 40.0, 0.3)
        assert seg.min() >= 0 and seg.max() <= 40.0 and (seg[:, 1] > seg[:, 0]).all()
        assert (seg[1:, 0] >= seg[:-1, 1]).all()  # never overlapping: each stops at the middle of a gap
        assert (seg[:, 0] <= signal[:, 0] + 0.25 * 20.0 + 0.01).all()
        starts.append(seg[1, 0])
        ends.append(seg[1, 1])
    # the middle instance (20 s): N(0, 6^2) errors clipped to [9.5, 15] and [25, 30.5]
    assert 9.5 <= min(starts) and max(starts) <= 15.0 and 25.0 <= min(ends) and max(ends) <= 30.5
    assert abs(np.median(starts) - 10.0) < 0.6 and abs(np.median(ends) - 30.0) < 0.6


def test_one_ramp_per_boundary_is_half_at_the_boundary():
    times = np.array([8.0, 10.0, 11.0, 19.0, 20.0, 24.0])
    ramps = np.array([[2.0, 8.0]])  # a sharp start, a slow end
    a = synthetic.activation(times, np.array([[10.0, 20.0]]), ramps)
    np.testing.assert_allclose(a, [0.0, 0.5, 1.0, 0.625, 0.5, 0.0])
    np.testing.assert_allclose(synthetic.activation(times, np.array([[10.0, 20.0]]), 2.0),
                               [0.0, 0.5, 1.0, 1.0, 0.5, 0.0])


def test_scenes_shared_across_groups():
    knobs = synthetic.SIGNAL_MODES["hard"]
    world = synthetic.World.make(np.random.default_rng(0), 6, 2, 8, knobs)
    np.testing.assert_array_equal(world.scenes[0], world.scenes[3])  # first class of groups 1 and 2
    assert not np.array_equal(world.scenes[0], world.scenes[1])
    standard = synthetic.World.make(np.random.default_rng(0), 6, 2, 8, SignalKnobs())
    assert not np.array_equal(standard.scenes[0], standard.scenes[3])
