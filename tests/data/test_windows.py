"""Sliding windows of T native snippets: the split, the time map, segments clipped to windows."""

import json

import numpy as np
import pytest

from seqattnet.data.annotations import read_annotations
from seqattnet.data.dataset import FeatureSpec
from seqattnet.data.features import index_to_seconds
from seqattnet.data.windows import RandomWindows, WindowDataset, clip_to_window, window_geometry, window_starts


@pytest.mark.parametrize("n, T, overlap, expected", [
    (10, 16, 0.5, [0]),  # shorter than a window: one, padded
    (16, 16, 0.5, [0]),
    (17, 16, 0.5, [0, 8]),
    (40, 16, 0.5, [0, 8, 16, 24]),  # 24 + 16 = 40 reaches the end
    (41, 16, 0.5, [0, 8, 16, 24, 32]),
    (40, 16, 0.0, [0, 16, 32]),
    (40, 16, 0.75, [0, 4, 8, 12, 16, 20, 24]),
])
def test_window_starts(n, T, overlap, expected):
    assert window_starts(n, T, overlap) == expected


def test_cell_centres_are_the_window_snippets():
    """Cell t of the window from snippet s sits at snippet s + t: offset + (t + 0.5)/T · span = c_{s+t}."""
    T, stride, window, fps, start = 16, 4, 16, 30.0, 24
    offset, span = window_geometry(start, T, stride, window, fps)
    assert span == pytest.approx(16 * 4 / 30)
    cells = offset + (np.arange(T) + 0.5) / T * span
    np.testing.assert_allclose(cells, index_to_seconds(start + np.arange(T), stride, window, fps), atol=1e-12)


def test_seconds_window_seconds_round_trip():
    offset, span = window_geometry(37, 128, 4, 16, 29.97)
    segments_s = np.array([[offset + 1.0, offset + 3.5], [offset + 0.25, offset + 10.0]])
    norm, kept = clip_to_window(segments_s, offset, span, 0.3)
    assert kept.all()
    np.testing.assert_allclose(offset + norm * span, segments_s, rtol=0, atol=1e-12)


def test_fragments_are_kept_or_dropped_by_their_share():
    # window [0, 1] in normalised units (offset 0, span 10 s); segments in seconds
    segments = np.array([[2.0, 4.0],    # inside
                         [9.0, 12.0],   # 1 of 3 s inside: 0.33 >= 0.3, kept, clipped to [0.9, 1]
                         [9.5, 12.0],   # 0.5 of 2.5 s: 0.2 < 0.3, dropped
                         [-50.0, 50.0],  # longer than the window: it fills it, kept
                         [11.0, 12.0]])  # outside
    norm, kept = clip_to_window(segments, 0.0, 10.0, 0.3)
    assert kept.tolist() == [True, True, False, True, False]
    np.testing.assert_allclose(norm, [[0.2, 0.4], [0.9, 1.0], [0.0, 1.0]])


def write_thumos(root, n_snippets=(40, 10), F=4):
    """ActionFormer-style JSON: two videos at 30 fps, features every 4 frames over 16 (c_i = (4i + 8)/30 s)."""
    (root / "features").mkdir(parents=True)
    database = {}
    for k, n in enumerate(n_snippets):
        vid = f"video_validation_{k}"
        duration = ((n - 1) * 4 + 16) / 30.0
        database[vid] = {"subset": "Validation", "duration": duration, "fps": 30.0,
                         "annotations": [{"label": "Jump", "segment": [1.0, 2.0], "label_id": 0}]}
        feats = np.arange(n, dtype=np.float32)[:, None] + np.zeros((1, F), np.float32)  # row i holds i
        np.save(root / "features" / f"{vid}.npy", feats)
    (root / "thumos.json").write_text(json.dumps({"database": database}))
    return read_annotations(root / "thumos.json")


def test_window_dataset_items(tmp_path):
    annotations = write_thumos(tmp_path)
    ds = WindowDataset(annotations, tmp_path / "features", ["Jump"], FeatureSpec(4, 4, 16), 16, overlap=0.5)
    assert [w.item_id for w in ds.windows] == ["video_validation_0@0", "video_validation_0@8",
                                               "video_validation_0@16", "video_validation_0@24",
                                               "video_validation_1@0"]
    last = ds[3]
    assert last.video_id == "video_validation_0@24" and last.features.shape == (4, 16)
    np.testing.assert_array_equal(last.features[0].numpy(), np.arange(24, 40))  # native rows, no rescaling
    short = ds[4]  # a 10-snippet video: rows 0..9, then zero padding
    np.testing.assert_array_equal(short.features[0].numpy(), np.r_[np.arange(10), np.zeros(6)])
    # [1, 2] s is in window 0 (0.2 .. 2.33 s) and cut by window 8 (1.27 .. 3.4 s): its fragment there
    # is 0.73 of it, kept; windows 16 and 24 start after it
    w0 = ds.windows[0]
    np.testing.assert_allclose(ds[0].segments_norm.numpy(), [[(1.0 - w0.offset_s) / w0.span_s,
                                                              (2.0 - w0.offset_s) / w0.span_s]], rtol=1e-6)
    assert len(ds[1].segments_norm) == 1 and len(ds[2].segments_norm) == 0
    assert ds[0].duration_s == pytest.approx(16 * 4 / 30.0)


def test_dropped_fragments_are_counted_and_listed(tmp_path):
    annotations = write_thumos(tmp_path, n_snippets=(40,))
    ds = WindowDataset(annotations, tmp_path / "features", ["Jump"], FeatureSpec(4, 4, 16), 16, overlap=0.5,
                       min_fraction=0.9)  # window 8 keeps only 0.73 of [1, 2] s
    assert len(ds.dropped_fragments) == 1 and "window from snippet 8" in ds.dropped_fragments[0]
    assert len(ds.skipped) == 1 and ds.skipped[0].startswith("1 segment fragments")
    assert len(ds[1].segments_norm) == 0


def test_nan_in_a_window_names_the_file(tmp_path):
    annotations = write_thumos(tmp_path, n_snippets=(40,))
    feats = np.zeros((40, 4), np.float32)
    feats[30, 1] = np.nan
    np.save(tmp_path / "features" / "video_validation_0.npy", feats)
    ds = WindowDataset(annotations, tmp_path / "features", ["Jump"], FeatureSpec(4, 4, 16), 16)
    ds[0]
    with pytest.raises(ValueError, match="video_validation_0.npy.*non-finite"):
        ds[3]


def test_random_windows_draw_k_crops_per_video_from_the_seed_and_epoch(tmp_path):
    annotations = write_thumos(tmp_path, n_snippets=(200, 10))
    base = WindowDataset(annotations, tmp_path / "features", ["Jump"], FeatureSpec(4, 4, 16), 16, overlap=0.5)
    crops = RandomWindows(base, per_video=3, seed=7)
    assert len(crops) == 6 < len(base)  # 3 per video instead of every overlapping window (25 + 1)
    first = list(crops.starts)
    assert [v for v, _ in first] == [0, 0, 0, 1, 1, 1]
    assert all(0 <= s <= 200 - 16 for v, s in first if v == 0) and all(s == 0 for v, s in first if v == 1)
    assert RandomWindows(base, per_video=3, seed=7).starts == first  # reproducible from the seed
    crops.set_epoch(2)
    assert crops.starts != first  # new windows each epoch ...
    crops.set_epoch(1)
    assert crops.starts == first  # ... from (seed, epoch) alone: a resumed run draws the same
    crops.set_epoch(3)
    starts = {s for v, s in crops.starts if v == 0}
    assert not starts <= set(range(0, 200, 8))  # anywhere, not only on the overlapping windows' grid
    for i, (v, s) in enumerate(crops.starts):
        item = crops[i]
        assert item.video_id == f"video_validation_{v}@{s}"
        n = 200 if v == 0 else 10
        np.testing.assert_array_equal(item.features[0].numpy()[: n - s], np.arange(s, min(s + 16, n)))  # its rows
        offset, span = window_geometry(s, 16, 4, 16, 30.0)
        end = min(2.0, ((n - 1) * 4 + 16) / 30.0)  # the segment clipped to its video
        expected, _ = clip_to_window(np.array([[1.0, end]]), offset, span, 0.3)
        np.testing.assert_allclose(item.segments_norm.numpy(), expected, rtol=1e-6)
