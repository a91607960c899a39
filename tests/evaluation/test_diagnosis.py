"""DETAD's analyses: hand-built cases with known answers, and random cases against the slow, direct
implementation in seqattnet/testing/reference_diagnosis.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqattnet.errors import InputError
from seqattnet.evaluation import TIOUS, evaluate_detection
from seqattnet.evaluation.characteristics import BINS, bin_index, instance_characteristics
from seqattnet.evaluation.diagnosis import diagnose
from seqattnet.evaluation.false_positives import ERROR_TYPES, error_types
from seqattnet.structures import AnnotationSet, VideoAnnotation
from seqattnet.testing import reference_diagnosis as ref


def hand_case():
    """Video `a` (100 s): A [10, 20], B [50, 80]; video `empty` (50 s) has no instance.

    Class A's predictions, best first: a wrong label (exactly on B), the true positive, a double detection,
    a localization error, a confusion, background in `a`, on `empty` and on a video outside the ground truth.
    """
    videos = {"a": VideoAnnotation("a", "validation", 100.0, [[10.0, 20.0], [50.0, 80.0]], ["A", "B"]),
              "empty": VideoAnnotation("empty", "validation", 50.0, np.zeros((0, 2)), [])}
    gt = AnnotationSet(videos, ["A", "B"])

    def p(label, score, start, end):
        return {"label": label, "score": score, "segment": [start, end]}

    results = {"a": [p("A", 0.95, 50.0, 80.0),   # tIoU 1 with B: wrong label
                     p("A", 0.90, 11.0, 20.5),   # tIoU 9/10.5 with A: true positive
                     p("A", 0.80, 10.0, 21.0),   # tIoU 10/11 with A, already taken: double detection
                     p("A", 0.70, 10.0, 40.0),   # tIoU 1/3 with A: localization
                     p("A", 0.60, 65.0, 100.0),  # tIoU 0.3 with B: confusion
                     p("A", 0.50, 85.0, 95.0),   # touches nothing: background
                     p("B", 0.99, 50.0, 80.0)],  # true positive
               "empty": [p("A", 0.40, 10.0, 20.0)],     # a video without ground truth: background
               "elsewhere": [p("A", 0.30, 0.0, 5.0)]}   # a video outside the ground truth: background
    return gt, results


def test_hand_case_gives_each_error_type():
    gt, results = hand_case()
    d = diagnose(gt, results, [0.5])
    fp = d.false_positives
    by_type = dict(zip(ERROR_TYPES, fp.counts.sum(axis=0)[:, 0].tolist()))
    assert by_type == {"true positive": 2, "double detection": 1, "wrong label": 1, "localization": 1,
                       "confusion": 1, "background": 3}
    # G = 1 for both classes: slice s holds the predictions of rank s of each class
    slice_types = [ERROR_TYPES[int(np.argmax(fp.counts[s, :, 0]))] for s in range(8) if fp.n[s] == 1]
    assert fp.n.tolist() == [2, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert slice_types == ["true positive", "double detection", "localization", "confusion", "background",
                           "background", "background"]
    assert fp.counts[0, :, 0].tolist() == [1, 0, 1, 0, 0, 0]  # rank 0: B's true positive, A's wrong label
    # N = 2 instances / 2 classes = 1. AP_N of A: its true positive comes after one false positive, so
    # precision_N = 1 / (1 + 1) = 0.5; B: 1. Removing the wrong label lifts A to 1: gain 0.25, others 0.
    assert d.normalizer == 1.0
    assert d.ap_n[:, 0].tolist() == [0.5, 1.0]
    assert fp.average_mAP_n == 0.75
    assert dict(zip(ERROR_TYPES[1:], fp.gain.tolist())) == {
        "double detection": 0.0, "wrong label": 0.25, "localization": 0.0, "confusion": 0.0, "background": 0.0}
    assert d.detection.ap[:, 0].tolist() == [0.5, 1.0]  # plain AP: precision 1/2 at A's true positive


def test_hand_case_bins_misses_and_boundaries():
    gt, results = hand_case()
    d = diagnose(gt, results, [0.5])
    coverage = {b.label: (b.instances, b.average_mAP_n) for b in d.sensitivity["coverage"]}
    assert coverage["XS"] == (1, 0.5) and coverage["S"] == (1, 1.0)  # A covers 0.1, B 0.3
    assert coverage["M"][0] == 0 and np.isnan(coverage["M"][1])
    assert [b.instances for b in d.sensitivity["length"]] == [2, 0, 0, 0, 0]  # 10 s and 30 s: both XS
    # Video a holds 2 instances (A and B): both in bin S (2-4) as DETAD counts, all classes together.
    assert [b.instances for b in d.sensitivity["instances"]] == [0, 2, 0, 0] and d.instance_count == "video"
    assert d.false_negative.tolist() == [0.0]
    b = d.boundary
    assert sorted(zip(b.start_s.tolist(), b.end_s.tolist())) == [(0.0, 0.0), (1.0, 0.5)]
    assert sorted(b.start_fraction.tolist()) == pytest.approx([0.0, 0.1])
    assert sorted(b.end_fraction.tolist()) == pytest.approx([0.0, 0.05])


def test_instances_per_video_count_every_class_as_detad_or_the_own_class_on_request():
    gt, results = hand_case()
    per_video, per_class = diagnose(gt, results, [0.5]), diagnose(gt, results, [0.5], instance_count="class")
    # A and B share video a: 2 instances in the video, 1 of each class.
    video_bins = {b.label: (b.instances, b.average_mAP_n) for b in per_video.sensitivity["instances"]}
    class_bins = {b.label: (b.instances, b.average_mAP_n) for b in per_class.sensitivity["instances"]}
    assert video_bins["XS"][0] == 0 and np.isnan(video_bins["XS"][1]) and video_bins["S"] == (2, 0.75)
    assert class_bins["XS"] == (2, 0.75) and class_bins["S"][0] == 0  # AP_N 0.5 (A) and 1 (B): mean 0.75
    assert per_class.to_dict()["instance_count"] == "class"
    videos = {"v": VideoAnnotation("v", "validation", 100.0, [[0, 5], [10, 15], [20, 25]], ["A", "A", "B"]),
              "w": VideoAnnotation("w", "validation", 100.0, [[0, 5]], ["B"])}
    arrays = _arrays(AnnotationSet(videos, ["A", "B"]))
    assert instance_characteristics(AnnotationSet(videos, ["A", "B"]), arrays)["instances"].tolist() == [3, 3, 3, 1]
    own = instance_characteristics(AnnotationSet(videos, ["A", "B"]), arrays, "class")["instances"]
    assert own.tolist() == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="instance_count"):
        instance_characteristics(AnnotationSet(videos, ["A", "B"]), arrays, "classes")


def test_fp_counts_add_up_and_gains_are_not_negative():
    rng = np.random.default_rng(3)
    for seed in range(5):
        gt, results = random_case(np.random.default_rng(seed), n_videos=25)
        d = diagnose(gt, results, TIOUS["activitynet"])
        fp = d.false_positives
        n_top = fp.n.sum()
        # every prediction of the top 10 G has exactly one type at each threshold
        assert (fp.counts.sum(axis=(0, 1)) == n_top).all()
        assert np.allclose(fp.share.sum(axis=1)[fp.n > 0], 1.0)
        assert (fp.gain >= 0).all()
        rng.random()


def test_an_instance_closer_to_another_class_makes_a_wrong_label_not_a_double_detection():
    # DETAD decides by the instance with the highest tIoU, whatever its label.
    videos = {"v": VideoAnnotation("v", "validation", 100.0, [[0.0, 10.0], [1.0, 10.0]], ["A", "B"])}
    gt = AnnotationSet(videos, ["A", "B"])
    segments = np.array([[0.0, 10.0], [1.0, 10.0]])
    types = error_types(_arrays(gt), np.array([0, 0]), np.array([0, 0]), segments,
                        np.array([[True], [False]]), np.array([0.5]))
    assert [ERROR_TYPES[t] for t in types[:, 0]] == ["true positive", "wrong label"]


def _arrays(gt):
    from seqattnet.evaluation.detection import GroundTruthArrays

    return GroundTruthArrays.from_annotations(gt)


def test_bins_are_closed_on_the_right_like_pandas_cut():
    edges = BINS["activitynet"]["coverage"].edges
    values = np.array([0.0, 0.1, 0.2, 0.2000001, 0.8, 0.81, 1.0, np.nan])
    assert bin_index(values, edges).tolist() == [0, 0, 0, 1, 3, 4, 4, -1]
    instances = BINS["activitynet"]["instances"].edges
    assert bin_index(np.array([1.0, 2.0, 4.0, 5.0, 8.0, 9.0, 100.0]), instances).tolist() == [0, 1, 1, 2, 2, 3, 3]


def random_case(rng, n_videos=12, n_classes=4, per_video=12):
    """Random ground truth (some videos without instances) and predictions: perturbed copies of the
    instances, some relabelled, plus random segments, also on a video outside the ground truth."""
    classes = [f"c{i}" for i in range(n_classes)]
    videos, results = {}, {}
    for v in range(n_videos):
        duration = float(rng.uniform(20, 300))
        k = int(rng.integers(0, 4))
        starts = rng.uniform(0, duration * 0.8, k)
        ends = np.minimum(starts + rng.uniform(0.5, duration, k), duration)
        labels = [classes[i] for i in rng.integers(0, n_classes, k)]
        videos[f"v{v}"] = VideoAnnotation(f"v{v}", "validation", duration, np.stack([starts, ends], 1), labels)
        preds = []
        for s, e, label in zip(starts, ends, labels):
            for _ in range(int(rng.integers(1, 4))):
                jitter = rng.normal(0, 0.15 * (e - s), 2)
                a, b = sorted((s + jitter[0], e + jitter[1]))
                name = label if rng.random() < 0.75 else classes[int(rng.integers(0, n_classes))]
                preds.append((name, a, b))
        for _ in range(per_video - len(preds)):
            a, b = sorted(rng.uniform(0, duration, 2))
            preds.append((classes[int(rng.integers(0, n_classes))], a, b))
        results[f"v{v}"] = [{"label": n, "score": float(rng.random()), "segment": [float(a), float(b)]}
                            for n, a, b in preds]
    results["outside"] = [{"label": classes[0], "score": float(rng.random()), "segment": [1.0, 5.0]}]
    gt = AnnotationSet(videos, classes)
    present = {label for video in videos.values() for label in video.labels}
    results = {v: [p for p in ps if p["label"] in present] for v, ps in results.items()}
    return gt, results


def reference_of(gt, results, tious, bins, instance_count="video"):
    instances = [(vid, label, float(s), float(e)) for vid, video in gt.videos.items()
                 for (s, e), label in zip(video.segments_s, video.labels)]
    predictions = [(vid, p["label"], p["score"], p["segment"][0], p["segment"][1])
                   for vid, ps in results.items() for p in ps]
    durations = {vid: video.duration_s for vid, video in gt.videos.items()}
    return ref.diagnose(instances, predictions, durations, list(tious),
                        {name: (b.edges, b.names) for name, b in bins.items()}, instance_count=instance_count)


def close(a, b):
    """Equal to 1e-9, None and NaN alike."""
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)):
        return (a is None or np.isnan(a)) and (b is None or np.isnan(b))
    return abs(a - b) <= 1e-9


@pytest.mark.parametrize("protocol,seed,instance_count",
                         [("activitynet", s, "video") for s in range(6)] + [("thumos", s, "video") for s in range(3)]
                         + [("activitynet", s, "class") for s in range(2)] + [("thumos", 0, "class")])
def test_matches_the_direct_implementation_on_random_cases(protocol, seed, instance_count):
    gt, results = random_case(np.random.default_rng(seed))
    tious, bins = TIOUS[protocol], BINS[protocol]
    d = diagnose(gt, results, tious, protocol=protocol, instance_count=instance_count)
    r = reference_of(gt, results, tious, bins, instance_count)
    order = d.classes
    assert np.allclose(d.detection.ap, [r["mAP_per_class"][c] for c in order], atol=1e-12)
    assert np.allclose(d.ap_n, [r["ap_n_per_class"][c] for c in order], atol=1e-12)
    assert close(d.average_mAP_n, r["average_mAP_n"]) and d.normalizer == r["N"]
    fp = d.false_positives
    assert fp.counts.tolist() == r["counts"] and fp.n.tolist() == r["n_slice"]
    assert close(fp.average_mAP_n, r["average_mAP_n_top"])
    assert all(close(g, r["gain"][name]) for name, g in zip(ERROR_TYPES[1:], fp.gain))
    for name, bins_ in d.sensitivity.items():
        assert all(close(b.average_mAP_n, r["sensitivity"][name][b.label]) for b in bins_), name
        assert all(close(b.false_negative_average, r["false_negative_by_bin"][name][b.label]) for b in bins_), name
    assert np.allclose(d.false_negative, r["false_negative"], atol=1e-12)
    assert sorted(d.boundary.start_s.tolist()) == pytest.approx(sorted(r["boundary"]["start_s"]), abs=1e-12)
    assert sorted(d.boundary.end_s.tolist()) == pytest.approx(sorted(r["boundary"]["end_s"]), abs=1e-12)
    assert np.allclose(d.pr.precision, r["pr"], atol=1e-12)
    assert (fp.gain >= 0).all()


def test_plain_map_equals_evaluate_detection_and_json_holds_every_analysis():
    gt, results = random_case(np.random.default_rng(7), n_videos=30)
    d = diagnose(gt, results, TIOUS["activitynet"])
    m = evaluate_detection(gt, results, TIOUS["activitynet"])
    assert np.array_equal(d.detection.ap, m.ap) and d.detection.average_mAP == m.average_mAP
    document = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert set(document) >= {"mAP", "normalized", "pr_curves", "false_positives", "sensitivity",
                             "false_negatives", "boundary_errors"}
    assert document["false_positives"]["counts"] == d.false_positives.counts.tolist()
    assert document["mAP"]["average"] == m.average_mAP


def test_bad_input_is_an_input_error():
    gt, results = hand_case()
    with pytest.raises(InputError, match="'Z' is not a class"):
        diagnose(gt, {"a": [{"label": "Z", "score": 1.0, "segment": [0.0, 1.0]}]}, [0.5], source="p.json")
    with pytest.raises(InputError, match=r"p.json, video 'a', field '\[0\].segment': end 0.0 < start 1.0"):
        diagnose(gt, {"a": [{"label": "A", "score": 1.0, "segment": [1.0, 0.0]}]}, [0.5], source="p.json")
