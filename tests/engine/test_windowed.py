"""Merging sliding-window detections into one set per video, and a windowed THUMOS-style run end to end."""

import json

import numpy as np
import pytest
import torch

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.data.annotations import read_annotations
from seqattnet.errors import InputError
from seqattnet.config import InferenceConfig
from seqattnet.data.windows import Window, window_geometry
from seqattnet.structures import Detections
from seqattnet.engine.windowed import (WindowPart, merge_windows, overlapping, own_shares, suppress_in_context,
                                       to_video_seconds, window_shares)
from seqattnet.postprocess.decode import Candidates, candidates_in


def window(start, video="vid", T=16, duration=60.0):
    offset, span = window_geometry(start, T, 4, 16, 30.0)
    return Window(f"{video}@{start}", video, start, offset, span, duration)


def test_times_are_mapped_back_exactly():
    w = window(24)  # offset ((24 - 0.5)·4 + 8)/30 = 3.4 s, span 64/30 s
    assert w.offset_s == pytest.approx(3.4)
    got = to_video_seconds(np.array([[0.0, w.span_s], [0.5, 1.0]]), w)
    np.testing.assert_allclose(got, [[3.4, 3.4 + 64 / 30], [3.9, 4.4]], rtol=0, atol=1e-12)


def test_two_windows_detecting_the_same_action_give_one_detection():
    a, b = window(0), window(8)  # overlapping by 8 snippets
    action = np.array([1.5, 2.0])  # video seconds, inside both windows
    dets = [Detections(a.item_id, (action - a.offset_s)[None], np.array([0.9]), np.array([3])),
            Detections(b.item_id, (action - b.offset_s)[None], np.array([0.8]), np.array([3]))]
    windows = {w.item_id: w for w in (a, b)}
    hard, = merge_windows(dets, windows, InferenceConfig(), method="hard")
    assert hard.video_id == "vid" and len(hard.scores) == 1
    np.testing.assert_allclose(hard.segments_s, [action], rtol=0, atol=1e-12)
    assert hard.scores[0] == pytest.approx(0.9) and hard.labels.tolist() == [3]
    # the config's Gaussian Soft-NMS keeps the duplicate, decayed by exp(-IoU² / sigma) = exp(-1 / 0.4)
    soft, = merge_windows(dets, windows, InferenceConfig())
    np.testing.assert_allclose(soft.scores, [0.9, 0.8 * np.exp(-1 / 0.4)], rtol=1e-5)


@pytest.mark.parametrize("classes", ["agnostic", "per_class"])
def test_windows_suppressed_together_keep_what_each_keeps_alone(classes):
    rng = np.random.default_rng(0)
    parts = []
    for k, start in enumerate(range(0, 64, 8)):  # 8 windows, each overlapping two on either side
        w, m = window(start), [0, 30, 5, 60, 1, 44, 17, 9][k]  # detections of very different numbers
        lo = rng.uniform(w.offset_s, w.offset_s + w.span_s, m)
        segments = np.stack([lo, np.minimum(lo + rng.uniform(0.05, 1.0, m), w.offset_s + w.span_s)], 1)
        scores = rng.choice([0.3, 0.5, 0.9], m).astype(np.float32)  # ties
        parts.append(WindowPart(w, segments, scores, rng.integers(0, 3, m)))
    cfg = InferenceConfig(max_detections=12, soft_nms_classes=classes)
    items = [(p, [q for q in parts if overlapping(p.window, q.window)]) for p in parts]
    together = suppress_in_context(items, cfg)
    assert sum(len(p.scores) for p in together) > 12
    for item, got in zip(items, together):
        alone, = suppress_in_context([item], cfg)
        assert got.window == alone.window and len(alone.scores) == min(12, len(item[0].scores))
        np.testing.assert_array_equal(got.segments_s, alone.segments_s)
        np.testing.assert_array_equal(got.scores, alone.scores)
        np.testing.assert_array_equal(got.labels, alone.labels)


def test_distinct_actions_of_several_windows_survive_and_are_clipped_to_the_video():
    a, b = window(0, duration=4.0), window(8, duration=4.0)
    dets = [Detections(a.item_id, np.array([[0.1, 0.6]]), np.array([0.7]), np.array([0])),
            Detections(b.item_id, np.array([[1.0, 5.0]]), np.array([0.6]), np.array([1]))]
    other = window(0, video="other")
    dets.append(Detections(other.item_id, np.zeros((0, 2)), np.zeros(0), np.zeros(0, np.int64)))
    merged = {d.video_id: d for d in merge_windows(dets, {w.item_id: w for w in (a, b, other)}, InferenceConfig())}
    vid = merged["vid"]
    np.testing.assert_allclose(vid.segments_s, [[a.offset_s + 0.1, a.offset_s + 0.6], [b.offset_s + 1.0, 4.0]])
    np.testing.assert_allclose(vid.scores, [0.7, 0.6], rtol=1e-6)  # no overlap: no decay
    assert len(merged["other"].scores) == 0


F, T = 8, 16
TINY = [f"model.feature_dim={F}", "model.num_classes=2", f"model.temporal_scale={T}", f"model.max_duration={T}",
        "model.base_channels=16", "model.bm_channels=16", "model.map_channels=8", "model.num_samples=8",
        "train.epochs=1", "train.batch_size=4", "data.features=features",
        "windows.train_per_video=0"]  # every overlapping window, counted below


def write_thumos(root):
    """Three Validation and two Test videos at 30 fps, I3D-like rows every 4 frames; one unannotated testing video."""
    (root / "features").mkdir(parents=True)
    rng = np.random.default_rng(0)
    database = {}
    for k, (subset, n) in enumerate([("Validation", 60), ("Validation", 45), ("Validation", 30),
                                     ("Test", 50), ("Test", 12)]):
        vid = f"video_{subset.lower()}_{k}"
        duration = ((n - 1) * 4 + 16) / 30.0
        anns = [{"label": ["Jump", "Run"][k % 2], "segment": [1.0, 2.5]},
                {"label": "Run", "segment": [duration - 2.0, duration - 0.5]}]
        database[vid] = {"subset": subset, "duration": duration, "fps": 30.0, "annotations": anns}
        np.save(root / "features" / f"{vid}.npy", rng.normal(size=(n, F)).astype(np.float32))
    (root / "thumos.json").write_text(json.dumps({"database": database}))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = write_thumos(tmp_path_factory.mktemp("thumos"))
    sets = [f"data.root={root}", "data.annotations=thumos.json", *TINY]
    code = main(["train", "--config", "thumos14", *[a for s in sets for a in ("--set", s)],
                 "--out", str(root / "run"), "--quiet"])
    assert code == 0
    return root


def test_inference_variants_evaluated_in_one_pass_equal_their_own_evaluations(run):
    from dataclasses import replace

    from seqattnet.engine.build import load_ground_truth
    from seqattnet.engine.checkpoint import load_model
    from seqattnet.engine.evaluate import evaluate_model, evaluate_variants

    model, cfg, classes = load_model(run / "run" / "last.pt")
    truth, _ = load_ground_truth(cfg)
    changes = [{}, {"refine": False}, {"top_k_classes": 1}, {"soft_nms_t1": 0.5, "soft_nms_t2": 0.9},
               {"max_detections": 3}, {"window_suppression": "video"}, {"max_candidates": 7}, {"peak_ratio": 0.9}]
    inferences = [replace(cfg.inference, **change) for change in changes]
    together = evaluate_variants(model, cfg, inferences, truth, classes, "test", torch.device("cpu"), progress=False)
    alone = [evaluate_model(model, replace(cfg, inference=inf), truth, classes, "test", torch.device("cpu"), progress=False)
             for inf in inferences]
    assert len({json.dumps(r.results, sort_keys=True) for r in alone}) > 4  # the variants do differ
    for a, b in zip(together, alone):
        assert a.results == b.results and a.summary() == b.summary()


def test_the_log_counts_windows_and_the_videos_they_come_from(run):
    from seqattnet.data.windows import window_starts

    windows = sum(len(window_starts(n, 16, 0.5)) for n in (60, 45, 30))  # the three Validation videos, T = 16
    assert windows > 3 and f"training on {windows} windows of 3 videos," in (run / "run" / "train.log").read_text()


def test_windowed_run_evaluates_per_video_with_the_thumos_protocol(run, capsys):
    from seqattnet.data.windows import window_starts

    metrics = json.loads((run / "run" / "metrics.json").read_text())  # end of training: on Validation
    assert metrics["tious"] == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
    capsys.readouterr()
    out = run / "test.json"
    assert main(["evaluate", "--checkpoint", str(run / "run" / "last.pt"), "--split", "test", "--json",
                 "--out", str(out)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["tious"] == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7]) and 0 <= last["average_mAP"] <= 1
    results = json.loads(out.read_text())["results"]
    assert sorted(results) == ["video_test_3", "video_test_4"]  # one entry per video, not per window
    durations = {"video_test_3": (49 * 4 + 16) / 30.0, "video_test_4": (11 * 4 + 16) / 30.0}
    windows = {"video_test_3": len(window_starts(50, T, 0.5)), "video_test_4": len(window_starts(12, T, 0.5))}
    for video, preds in results.items():
        assert 0 < len(preds) <= 200 * windows[video]  # thumos14 keeps 200 a window (inference.max_detections)
        assert all(0 <= p["segment"][0] < p["segment"][1] <= durations[video] + 1e-9 for p in preds)


def test_predict_on_a_long_feature_file_uses_the_same_windows_as_evaluation(run, capsys):
    out = run / "test_eval.json"
    assert main(["evaluate", "--checkpoint", str(run / "run" / "last.pt"), "--split", "test", "--out", str(out)]) == 0
    expected = json.loads(out.read_text())["results"]["video_test_3"]
    pred = run / "pred.json"
    assert main(["predict", "--checkpoint", str(run / "run" / "last.pt"),
                 "--features", str(run / "features" / "video_test_3.npy"), "--out", str(pred),
                 "--annotations", str(run / "thumos.json")]) == 0
    got = json.loads(pred.read_text())["results"]["video_test_3"]
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose([p["segment"] for p in got], [p["segment"] for p in expected], atol=1e-6)
    np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in expected], atol=1e-6)
    assert [p["label"] for p in got] == [p["label"] for p in expected]


def test_training_on_the_built_in_thumos_layout_with_random_windows(tmp_path):
    """The documented command: the THUMOS-shaped built-in data generated on the fly, 2 random windows a video."""
    root = tmp_path / "data"
    sets = [*TINY, "synthetic.generate=true", "synthetic.layout=thumos", f"data.root={root}",
            "data.annotations=annotations.json", "synthetic.train_videos=3", "synthetic.val_videos=1",
            "synthetic.classes=4", "synthetic.groups=2", "model.num_classes=4", "windows.train_per_video=2",
            "model.temporal_scale=64", "model.max_duration=32", "train.epochs=2"]
    assert main(["train", "--config", "thumos14", *[a for s in sets for a in ("--set", s)],
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert read_annotations(root / "annotations.json").subsets == {"validation": 3, "test": 1}
    log = (tmp_path / "run" / "train.log").read_text()
    assert "training on 6 random windows of 3 videos," in log and "epoch 2/2" in log  # 2 a video, not every window
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["tious"] == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7]) and 0 <= metrics["average_mAP"] <= 1


def test_random_windows_need_windows():
    with pytest.raises(InputError, match="'windows.train_per_video' 2 needs 'windows.enabled' true"):
        load_config("demo", ["windows.train_per_video=2"])


def test_centre_rule_takes_an_action_cut_by_a_window_edge_from_the_window_holding_it():
    a, b = window(0), window(8)  # T = 16 cells of 0.133 s: a 0.2 .. 2.33 s, b 1.27 .. 3.4 s
    np.testing.assert_allclose(own_shares([b, a]), [[1.8, np.inf], [-np.inf, 1.8]], atol=1e-12)  # border: 1.8 s
    shares = window_shares([b, a])
    np.testing.assert_allclose(shares[a.item_id], (-np.inf, (1.8 - a.offset_s) / a.span_s))
    np.testing.assert_allclose(shares[b.item_id], ((1.8 - b.offset_s) / b.span_s, np.inf))
    # the action [1.6, 2.6] s: cells [10, 16) of a (cut by its end, centred at 1.93 s), cells [2, 10) of b
    # (whole, centred at 2.07 s); [2, 6) of a is centred at 0.73 s, [0, 4) of b at 1.53 s
    candidates = Candidates(torch.tensor([[0, 10, 16], [0, 2, 6], [1, 2, 10], [1, 0, 4]]),
                            torch.tensor([0.9, 0.8, 0.7, 0.6]))
    kept = candidates_in(candidates, torch.tensor([shares[a.item_id], shares[b.item_id]]), 16)
    assert kept.proposals.tolist() == [[0, 2, 6], [1, 2, 10]]  # each from the window it is centred in
    np.testing.assert_allclose(kept.confidence, [0.8, 0.7])


def test_evaluation_with_the_centre_rule_sends_each_window_only_its_own_candidates(run):
    """Unrefined, every candidate a window returns is a proposal centred in that window's share."""
    from seqattnet.engine.build import build_dataset, load_ground_truth
    from seqattnet.engine.checkpoint import load_model
    from torch.utils.data import DataLoader

    from seqattnet.data.dataset import collate
    from seqattnet.engine.inference import predict_batches

    model, cfg, classes = load_model(run / "run" / "last.pt", overrides=["inference.refine=false"])
    truth, _ = load_ground_truth(cfg)
    dataset = build_dataset(cfg, "test", truth, classes)
    shares = window_shares(dataset.windows)
    # video_test_3: 6 windows of 16 (50 snippets), the first from -inf; video_test_4: one window, all its own
    assert len(shares) == 7 and sum(np.isfinite(lo) for lo, _ in shares.values()) == 5

    def outside(with_shares):
        count = 0
        for batch, in predict_batches(model, DataLoader(dataset, batch_size=4, collate_fn=collate), [cfg.inference],
                                      torch.device("cpu"), False, nms=False, shares=shares if with_shares else None):
            for det in batch:
                lo, hi = shares[det.video_id]
                centre = det.segments_s.mean(axis=1) / det.duration_s  # normalised window time
                count += int(((centre < lo) | (centre >= hi)).sum())
        return count

    assert outside(with_shares=True) == 0 and outside(with_shares=False) > 0


def test_a_transposed_feature_file_is_not_answered_with_a_feature_dim_fix(monkeypatch):
    """Its 'found' dimension is the snippet count: setting model.feature_dim to it would be wrong."""
    from seqattnet.config import Config
    from seqattnet.data.features import FeatureDimensionError
    from seqattnet.engine import build

    def transposed(*args, **kwargs):
        raise FeatureDimensionError("v.npy: feature dimension 50, expected 400 (transposed?)", 50, True)

    monkeypatch.setattr(build, "build_dataset", transposed)
    with pytest.raises(FeatureDimensionError) as info:
        build.build_training_sets(Config(), None, [])
    assert "transposed?" in str(info.value) and "feature_dim" not in str(info.value)
