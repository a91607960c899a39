"""Sliding windows over a video that arrives while it runs (engine/stream.py) against the whole-video paths."""

import dataclasses

import numpy as np
import pytest
import torch

from seqattnet.config import load_config
from seqattnet.data.windows import Window, window_starts
from seqattnet.engine.build import build_model
from seqattnet.engine.inference import detect
from seqattnet.engine.stream import WindowStream
from seqattnet.engine.windowed import joined, merge_windows, overlapping, window_shares

F, T, FPS = 8, 8, 30.0
SETS = [f"model.feature_dim={F}", "model.num_classes=3", f"model.temporal_scale={T}", f"model.max_duration={T}",
        "model.base_channels=8", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4",
        "windows.enabled=true", "windows.merge=centre", "inference.top_k_classes=2"]


@pytest.fixture(scope="module")
def model_cfg():
    torch.manual_seed(0)
    cfg = load_config("thumos14", SETS)
    return build_model(cfg).eval(), cfg


def _chunks(rows: np.ndarray, seed: int) -> list[np.ndarray]:
    rng, out, lo = np.random.default_rng(seed), [], 0
    while lo < len(rows):
        k = int(rng.integers(1, 7))
        out.append(rows[lo:lo + k])
        lo += k
    return out


@pytest.mark.parametrize("n", [3, 8, 9, 37])
def test_a_stream_fed_in_pieces_gives_the_bits_of_the_whole_video(model_cfg, n):
    model, cfg = model_cfg
    rows = np.random.default_rng(n).normal(size=(n, F)).astype(np.float32)
    whole = WindowStream(model, cfg, "v", FPS)
    expected = whole.push(rows) + whole.close()
    stream, got, seen = WindowStream(model, cfg, "v", FPS), [], set()
    for piece in _chunks(rows, n):
        for part in stream.push(piece):
            assert part.window.item_id not in seen  # each window given once
            seen.add(part.window.item_id)
            # final only once no window still to run overlaps it, and never more than a window behind
            assert not overlapping(part.window, stream.window(stream.next_start))
            assert stream.depends_until(part.window) <= stream.n - 1
            got.append(part)
        assert len(stream.rows) <= T + 6  # only the rows of windows not run yet are held
    got += stream.close()
    assert [p.window.start_idx for p in got] == window_starts(n, T, 0.5)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a.segments_s, b.segments_s)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_the_stream_suppresses_as_evaluation_merges(model_cfg):
    """The windows run one by one through `detect` and merged by merge_windows (evaluation's path) give the
    stream's detections: one suppression rule, whichever path runs it."""
    model, cfg = model_cfg
    n = 29
    rows = np.random.default_rng(1).normal(size=(n, F)).astype(np.float32)
    stream = WindowStream(model, cfg, "v", FPS)
    mine = joined("v", stream.push(rows) + stream.close())
    duration = stream.duration_s
    windows = [dataclasses.replace(stream.window(s), video_duration_s=duration) for s in window_starts(n, T, 0.5)]
    padded = np.zeros((windows[-1].start_idx + T, F), np.float32)
    padded[:n] = rows
    shares = window_shares(windows)
    dets = [detect(model, torch.from_numpy(np.ascontiguousarray(padded[w.start_idx:w.start_idx + T].T))[None],
                   [w.item_id], torch.tensor([w.span_s], dtype=torch.float64), cfg.inference, nms=False,
                   shares=shares)[0] for w in windows]
    theirs, = merge_windows(dets, {w.item_id: w for w in windows}, cfg.inference)
    assert len(mine.scores) > 0
    np.testing.assert_array_equal(mine.segments_s, theirs.segments_s)
    np.testing.assert_array_equal(mine.scores, theirs.scores)


def test_local_suppression_keeps_max_detections_a_window_and_decays_across_windows():
    from seqattnet.config import InferenceConfig
    from seqattnet.structures import Detections

    cfg = InferenceConfig(max_detections=2)
    a, b = Window("v@0", "v", 0, 0.0, 10.0, 30.0), Window("v@5", "v", 5, 5.0, 10.0, 30.0)
    far = Window("v@20", "v", 20, 20.0, 10.0, 30.0)  # overlaps neither
    same = Detections("v@0", np.array([[6.0, 9.0], [1.0, 2.0], [3.0, 4.0]]), np.array([0.9, 0.5, 0.4], np.float32),
                      np.zeros(3, np.int64))
    twin = Detections("v@5", np.array([[1.0, 4.0]]), np.array([0.8], np.float32), np.zeros(1, np.int64))  # 6-9 s
    alone = Detections("v@20", np.array([[1.0, 4.0]]), np.array([0.8], np.float32), np.zeros(1, np.int64))
    merged, = merge_windows([same, twin, alone], {w.item_id: w for w in (a, b, far)}, cfg)
    assert len(merged.scores) == 2 + 1 + 1  # v@0 keeps its best 2 of 3
    assert merged.scores[0] == np.float32(0.9) and merged.scores[1] == np.float32(0.8)  # 21-24 s: undecayed
    twin_score = merged.scores[np.flatnonzero((merged.segments_s == [6.0, 9.0]).all(1))]
    assert len(twin_score) == 2 and twin_score.min() < 0.8 * 0.2  # the 6-9 s twin decayed by the 0.9 one


def test_local_suppression_decays_above_t1_whatever_the_segments_width():
    """The threshold is soft_nms_t1 for a 1 s and a 9 s pair alike: BMN's width term, t1 + (t2 - t1) * width, would
    spare the long pair (IoU 0.6 < 0.5 + 0.4 * 0.9 of a 10 s window) and decay the short one."""
    from seqattnet.config import InferenceConfig
    from seqattnet.structures import Detections

    cfg = InferenceConfig(soft_nms_t1=0.5, soft_nms_t2=0.9)
    window = Window("v@0", "v", 0, 0.0, 10.0, 10.0)
    for kept, other in (([0.0, 9.0], [0.0, 5.4]), ([0.0, 1.0], [0.0, 0.6])):  # IoU 0.6 each
        det = Detections("v@0", np.array([kept, other]), np.array([0.9, 0.8], np.float32), np.zeros(2, np.int64))
        merged, = merge_windows([det], {"v@0": window}, cfg)
        assert merged.scores[1] == pytest.approx(0.8 * np.exp(-0.6 ** 2 / cfg.soft_nms_sigma), rel=1e-6)
