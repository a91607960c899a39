"""Slow, direct implementations of the official ActivityNet evaluator's algorithms, one prediction at a
time in plain Python, as Evaluation/eval_detection.py and eval_proposal.py do them (without pandas).

They are the yardstick for `seqattnet.evaluation`: the property tests compare against them, and the
benchmark times them. Where the official code leaves something undefined, they make the same choice as
the package, so the two must agree exactly:
- equal scores keep input order (the official argsort is not stable);
- a prediction equally close to two instances takes the one listed first;
- proposal counts per video are floored from floats as the official code does (`float_counts=False`
  gives the exact-integer counting of `exact_counts=True`), and the per-video budget counts every
  proposal given, as the official code does (`subset_budget=True`: only those on the instances' videos).

Instances: (video, label, start, end); predictions: (video, label, score, start, end), in input order.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def iou(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    inter = max(0.0, min(a_end, b_end) - max(a_start, b_start))
    union = (a_end - a_start) + (b_end - b_start) - inter
    return inter / union if union > 0 else 0.0


def interpolated_ap(precision: list[float], recall: list[float]) -> float:
    """VOC 2011 all-points interpolation, written as the official utils.interpolated_prec_rec."""
    mprec = [0.0] + list(precision) + [0.0]
    mrec = [0.0] + list(recall) + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def class_ap(instances, predictions, tious) -> list[float]:
    """AP of one class at each threshold (official compute_average_precision_detection)."""
    if not predictions:
        return [0.0] * len(tious)
    by_video = defaultdict(list)  # official: ground_truth.groupby('video-id')
    for index, (video, _, start, end) in enumerate(instances):
        by_video[video].append((index, start, end))
    ranked = sorted(predictions, key=lambda p: -p[2])  # Python's sort is stable: ties keep input order
    locked = [[False] * len(instances) for _ in tious]
    tp = [[0] * len(ranked) for _ in tious]
    for idx, (video, _, _, start, end) in enumerate(ranked):
        candidates = [(iou(start, end, s, e), index) for index, s, e in by_video.get(video, [])]
        candidates.sort(key=lambda c: -c[0])  # stable: equal IoUs keep instance order
        for k, threshold in enumerate(tious):
            for overlap, index in candidates:
                if overlap < threshold:
                    break
                if locked[k][index]:
                    continue
                locked[k][index] = True
                tp[k][idx] = 1
                break
    aps = []
    for k in range(len(tious)):
        hits, precision, recall = 0, [], []
        for n, t in enumerate(tp[k], start=1):
            hits += t
            precision.append(hits / n)
            recall.append(hits / len(instances))
        aps.append(interpolated_ap(precision, recall))
    return aps


def detection_ap(instances, predictions, tious) -> dict[str, list[float]]:
    """{class: AP per threshold} for the classes present in `instances`; other labels must not occur."""
    classes = sorted({label for _, label, _, _ in instances})
    gt_of = {c: [g for g in instances if g[1] == c] for c in classes}
    pred_of = defaultdict(list)
    for p in predictions:
        if p[1] not in gt_of:
            raise KeyError(p[1])  # the official code fails here too
        pred_of[p[1]].append(p)
    return {c: class_ap(gt_of[c], pred_of[c], tious) for c in classes}


def proposal_curve(instances, proposals, max_avg_proposals=100, tious=np.linspace(0.5, 0.95, 10),
                   float_counts=True, subset_budget=False):
    """Official average_recall_vs_avg_nr_proposals -> (recall[K][100], average recall[100], AN[100], AUC).

    Videos are those of the instances; proposals on other videos are not scored, but the truncation
    ratio max_avg * videos / proposals counts them (all proposals given), unless `subset_budget`.
    Labels are not used.
    """
    videos = list(dict.fromkeys(g[0] for g in instances))
    gt_of = {v: [(s, e) for video, _, s, e in instances if video == v] for v in videos}
    props = defaultdict(list)
    for p in proposals:
        if p[0] in gt_of:
            props[p[0]].append(p)
    ranked = {v: [(s, e) for _, _, _, s, e in sorted(props[v], key=lambda p: -p[2])] for v in videos}
    total = sum(len(r) for r in ranked.values()) if subset_budget else len(proposals)
    n_videos = len(videos)
    kept = {}
    for v in videos:
        n = len(ranked[v])
        if total == 0:
            kept[v] = 0
        elif float_counts:
            kept[v] = min(int(n * (max_avg_proposals * float(n_videos) / total)), n)
        else:
            kept[v] = min(n, n * max_avg_proposals * n_videos // total)
    total_kept = sum(kept.values())
    recall = []
    for threshold in tious:
        row = []
        for j in range(1, 101):
            matches = 0
            for v in videos:
                n = kept[v]
                if total_kept == 0:
                    count = 0
                elif float_counts:
                    count = min(int(n * (j / 100.0 * (max_avg_proposals * float(n_videos) / total_kept))), n)
                else:
                    count = min(n, n * j * max_avg_proposals * n_videos // (100 * total_kept))
                for s, e in gt_of[v]:
                    if any(iou(s, e, ps, pe) >= threshold for ps, pe in ranked[v][:count]):
                        matches += 1
            row.append(matches / len(instances))
        recall.append(row)
    average = [sum(r[j] for r in recall) / len(recall) for j in range(100)]
    an = [j * max_avg_proposals / 100 for j in range(1, 101)]
    if float_counts and total_kept > 0:  # the official axis: pcn * (total kept / videos)
        an = [j / 100.0 * (max_avg_proposals * float(n_videos) / total_kept) * (float(total_kept) / n_videos)
              for j in range(1, 101)]
    auc = sum((an[i] - an[i - 1]) * (average[i] + average[i - 1]) / 2.0 for i in range(1, 100)) / an[-1]
    return recall, average, an, auc


def flatten(ground_truth, results):
    """An AnnotationSet and a result dict -> (instances, predictions) for the functions above."""
    from ..structures import canonical_video_id

    instances = [(canonical_video_id(vid), label, float(s), float(e))
                 for vid, video in ground_truth.videos.items()
                 for (s, e), label in zip(video.segments_s, video.labels)]
    predictions = [(canonical_video_id(vid), p.get("label"), float(p["score"]), float(p["segment"][0]),
                    float(p["segment"][1])) for vid, preds in results.items() for p in preds]
    return instances, predictions
