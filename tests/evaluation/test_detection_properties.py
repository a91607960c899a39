"""The fast evaluator against a slow, direct implementation of the official algorithm, on random data.

Random ground truth and predictions without ties in score (the official order of ties is arbitrary).
Half of the predictions are jittered copies of instances, so that matches and contests happen.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqattnet.evaluation import evaluate_detection, evaluate_proposals
from seqattnet.structures import AnnotationSet, VideoAnnotation
from seqattnet.testing import reference_eval as ref


def random_case(seed: int, n_videos: int, n_classes: int, max_instances: int, max_predictions: int):
    rng = np.random.default_rng(seed)
    videos = {}
    for v in range(n_videos):
        m = int(rng.integers(0, max_instances + 1))
        start = rng.uniform(0, 80, m)
        segments = np.stack([start, start + rng.uniform(0.5, 30, m)], axis=1)
        labels = [f"c{rng.integers(n_classes)}" for _ in range(m)]
        videos[f"v{v}"] = VideoAnnotation(f"v{v}", "validation", 120.0, segments, labels)
    classes = sorted({label for video in videos.values() for label in video.labels})
    gt = AnnotationSet(videos, classes, "gt")
    raw = []
    for video_id in [*videos, "elsewhere"]:  # "elsewhere": a video outside the evaluated ground truth
        video = videos.get(video_id)
        for _ in range(int(rng.integers(0, max_predictions + 1))):
            if video is not None and len(video.labels) and rng.random() < 0.5:
                i = int(rng.integers(len(video.labels)))
                s, e = np.sort(video.segments_s[i] + rng.normal(0, 2, 2))
                label = video.labels[i] if rng.random() < 0.8 else None
            else:
                s = rng.uniform(0, 100)
                e = s + rng.uniform(0, 30)
                label = None
            if label is None and classes:
                label = classes[int(rng.integers(len(classes)))]
            raw.append((video_id, {"label": label, "segment": [float(s), float(e)]}))
    scores = (rng.permutation(len(raw)) + 1.0) / (len(raw) + 1.0)  # distinct: no ties
    results: dict = {}
    for (video_id, p), score in zip(raw, scores):
        results.setdefault(video_id, []).append({**p, "score": float(score)})
    return gt, results


cases = st.builds(
    random_case,
    seed=st.integers(0, 2**32 - 1),
    n_videos=st.integers(1, 5),
    n_classes=st.integers(1, 4),
    max_instances=st.integers(1, 6),
    max_predictions=st.integers(0, 25),
)
thresholds = st.lists(st.sampled_from([0.1, 0.3, 0.5, 0.55, 0.7, 0.75, 0.9, 0.95]), min_size=1, max_size=5)


@settings(max_examples=120, deadline=None)
@given(case=cases, tious=thresholds)
def test_detection_matches_the_official_algorithm(case, tious):
    gt, results = case
    if not gt.classes:
        return
    metrics = evaluate_detection(gt, results, tious)
    expected = ref.detection_ap(*ref.flatten(gt, results), tious)
    np.testing.assert_allclose(metrics.ap, [expected[c] for c in metrics.classes], rtol=0, atol=1e-12)
    np.testing.assert_allclose(metrics.mAP, np.mean([expected[c] for c in metrics.classes], axis=0), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=cases, tious=thresholds, max_avg=st.sampled_from([1, 3, 10, 100]), exact=st.booleans(),
       subset_budget=st.booleans())
def test_proposals_match_the_official_algorithm(case, tious, max_avg, exact, subset_budget):
    gt, results = case
    if not gt.classes:
        return
    metrics = evaluate_proposals(gt, results, max_avg, tious, exact_counts=exact, subset_budget=subset_budget)
    recall, average, an, auc = ref.proposal_curve(*ref.flatten(gt, results), max_avg, tious, float_counts=not exact,
                                                  subset_budget=subset_budget)
    np.testing.assert_allclose(metrics.recall, recall, atol=1e-12)
    np.testing.assert_allclose(metrics.ar, average, atol=1e-12)
    np.testing.assert_allclose(metrics.an, an)
    assert abs(metrics.auc - auc) < 1e-12
