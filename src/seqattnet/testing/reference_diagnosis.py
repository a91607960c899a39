"""A slow, direct implementation of DETAD's analyses (Alwassel et al., ECCV 2018), one prediction at a
time in plain Python, written from the definitions in docs/evaluation.md (which follow DETAD's
action_detector_diagnosis.py, false_positive_analysis.py, sensitivity_analysis.py and
false_negative_analysis.py). It is the yardstick of `seqattnet.evaluation.diagnosis`: the tests compare
the two on random cases, and benchmarks/bench_diagnosis.py times it.

It makes the package's choices where DETAD leaves something undefined (ties keep input order; a
prediction equally close to two instances takes the one listed first), uses N = M / C without rounding,
and returns the same quantities as `Diagnosis.to_dict()` under the same names.

Instances: (video, label, start, end) in ground-truth order; predictions: (video, label, score, start,
end) in input order; durations: video -> seconds (the videos of the ground truth).
"""

from __future__ import annotations

import math

from .reference_eval import interpolated_ap, iou

TYPES = ["true positive", "double detection", "wrong label", "localization", "confusion", "background"]


def match_class(instances, ranked, tious):
    """Greedy matching of one class's ranked predictions -> matched[i][k]: instance index or None.

    instances: [(index, video, start, end)] of the class."""
    locked = [set() for _ in tious]
    matched = []
    for video, _, _, start, end in ranked:
        candidates = sorted(((iou(start, end, s, e), i) for i, v, s, e in instances if v == video),
                            key=lambda c: -c[0])  # stable: equal tIoUs keep instance order
        row = []
        for k, threshold in enumerate(tious):
            hit = None
            for overlap, i in candidates:
                if overlap < threshold:
                    break
                if i not in locked[k]:
                    hit = i
                    locked[k].add(i)
                    break
            row.append(hit)
        matched.append(row)
    return matched


def ap_n(tp, n_positives, normalizer):
    """Interpolated AP of a ranked 0/1 list with precision_N = R N / (R N + FP); None without positives."""
    if n_positives == 0:
        return None
    hits = misses = 0
    precision, recall = [], []
    for t in tp:
        hits += t
        misses += 1 - t
        r = hits / n_positives
        precision.append(r * normalizer / (r * normalizer + misses) if r * normalizer + misses > 0 else 0.0)
        recall.append(r)
    return interpolated_ap(precision, recall) if tp else 0.0


def ap_plain(tp, n_positives):
    hits, precision, recall = 0, [], []
    for n, t in enumerate(tp, start=1):
        hits += t
        precision.append(hits / n)
        recall.append(hits / n_positives)
    return interpolated_ap(precision, recall) if tp else 0.0


def mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else None


def error_type(prediction, matched_k, threshold, instances):
    """DETAD's analyze_fp_error_types for one prediction at one threshold."""
    if matched_k is not None:
        return "true positive"
    video, label, _, start, end = prediction
    best, best_label = -1.0, None
    for g_video, g_label, s, e in instances:
        if g_video == video:
            overlap = iou(start, end, s, e)
            if overlap > best:  # strictly greater: the first listed wins a tie
                best, best_label = overlap, g_label
    if best_label is None or best < 0.1:
        return "background"
    if best >= threshold:
        return "double detection" if best_label == label else "wrong label"
    return "localization" if best_label == label else "confusion"


def bin_of(value, edges):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    for b in range(len(edges) - 1):
        if (edges[b] < value <= edges[b + 1]) or (b == 0 and value == edges[0]):
            return b
    return None


def diagnose(instances, predictions, durations, tious, bins, pr_tious=(0.5, 0.75, 0.95), boundary_tiou=0.5,
             instance_count="video"):
    """instance_count: "video" counts every instance of an instance's video (DETAD), "class" those of its class."""
    classes = list(dict.fromkeys(label for _, label, _, _ in instances))
    all_tious = list(tious) + [t for t in (*pr_tious, boundary_tiou) if all(abs(t - u) > 1e-9 for u in tious)]
    n_of = {c: sum(1 for g in instances if g[1] == c) for c in classes}
    normalizer = len(instances) / len(classes)
    ranked, matched = {}, {}
    for c in classes:
        ranked[c] = sorted([p for p in predictions if p[1] == c], key=lambda p: -p[2])  # stable
        own = [(i, g[0], g[2], g[3]) for i, g in enumerate(instances) if g[1] == c]
        matched[c] = match_class(own, ranked[c], all_tious)
    K = len(tious)

    def tp_list(c, k, rows=None):
        rows = range(len(ranked[c])) if rows is None else rows
        return [int(matched[c][i][k] is not None) for i in rows]

    out = {"mAP_per_class": {c: [ap_plain(tp_list(c, k), n_of[c]) for k in range(K)] for c in classes},
           "ap_n_per_class": {c: [ap_n(tp_list(c, k), n_of[c], normalizer) for k in range(K)] for c in classes},
           "N": normalizer}
    out["average_mAP_n"] = mean([v for c in classes for v in out["ap_n_per_class"][c]])

    # False-positive profile on the top 10 G of each class, in slices of G.
    counts = [[[0] * K for _ in TYPES] for _ in range(10)]
    n_slice = [0] * 10
    types = {}
    for c in classes:
        for i, p in enumerate(ranked[c][:10 * n_of[c]]):
            s = i // n_of[c]
            n_slice[s] += 1
            for k in range(K):
                t = error_type(p, matched[c][i][k], tious[k], instances)
                types[c, i, k] = t
                counts[s][TYPES.index(t)][k] += 1
    out["counts"], out["n_slice"] = counts, n_slice
    top = {c: range(min(len(ranked[c]), 10 * n_of[c])) for c in classes}
    base = mean([ap_n(tp_list(c, k, top[c]), n_of[c], normalizer) for c in classes for k in range(K)])
    out["average_mAP_n_top"] = base
    out["gain"] = {}
    for kind in TYPES[1:]:
        values = [ap_n([int(matched[c][i][k] is not None) for i in top[c] if types[c, i, k] != kind],
                       n_of[c], normalizer) for c in classes for k in range(K)]
        out["gain"][kind] = mean(values) - base

    # Characteristics and the binned analyses.
    chars = {"coverage": [], "length": [], "instances": []}
    for v, label, s, e in instances:
        d = durations[v]
        chars["coverage"].append(min((e - s) / d, 1.0) if d > 0 else float("nan"))
        chars["length"].append(e - s)
        chars["instances"].append(sum(1 for g in instances
                                      if g[0] == v and (instance_count == "video" or g[1] == label)))
    found = detected(classes, ranked, matched, n_of, normalizer, K)
    out["sensitivity"], out["false_negative_by_bin"] = {}, {}
    for name, (edges, names) in bins.items():
        which = [bin_of(x, edges) for x in chars[name]]
        out["sensitivity"][name], out["false_negative_by_bin"][name] = {}, {}
        for b, bin_name in enumerate(names):
            members = {i for i, w in enumerate(which) if w == b}
            per_class = []
            for c in classes:
                npos = sum(1 for i in members if instances[i][1] == c)
                if npos == 0:
                    continue
                kept = [i for i in range(len(ranked[c]))
                        if all(matched[c][i][k] is None or matched[c][i][k] in members for k in range(K))]
                per_class.append(mean([ap_n(tp_list(c, k, kept), npos, normalizer) for k in range(K)]))
            out["sensitivity"][name][bin_name] = mean(per_class)
            out["false_negative_by_bin"][name][bin_name] = (
                mean([sum(1 for i in members if i not in found[k]) / len(members) for k in range(K)])
                if members else None)
    out["false_negative"] = [1 - len(found[k]) / len(instances) for k in range(K)]

    # Boundary errors of the matches at boundary_tiou.
    kb = min(range(len(all_tious)), key=lambda k: abs(all_tious[k] - boundary_tiou))
    start_s, end_s = [], []
    for c in classes:
        for i, p in enumerate(ranked[c]):
            g = matched[c][i][kb]
            if g is not None:
                start_s.append(p[3] - instances[g][2])
                end_s.append(p[4] - instances[g][3])
    out["boundary"] = {"start_s": start_s, "end_s": end_s}

    # PR curves: class-averaged interpolated precision at recall 0, 0.01, ..., 1.
    out["pr"] = []
    for t in pr_tious:
        k = min(range(len(all_tious)), key=lambda j: abs(all_tious[j] - t))
        curve = [0.0] * 101
        for c in classes:
            tp = tp_list(c, k)
            hits, pts = 0, []
            for n, x in enumerate(tp, start=1):
                hits += x
                pts.append((hits / n_of[c], hits / n))
            for j in range(101):
                r = j / 100
                curve[j] += max([prec for rec, prec in pts if rec >= r - 1e-12], default=0.0)
        out["pr"].append([x / len(classes) for x in curve])
    return out


def detected(classes, ranked, matched, n_of, normalizer, K, min_precision_n=0.05):
    """Per threshold, the instances counted as found: matched where the class's normalized precision down
    to the matching prediction exceeds min_precision_n."""
    found = [set() for _ in range(K)]
    for c in classes:
        for k in range(K):
            hits = misses = 0
            for i in range(len(ranked[c])):
                g = matched[c][i][k]
                hits += g is not None
                misses += g is None
                r = hits / n_of[c]
                precision = r * normalizer / (r * normalizer + misses) if r * normalizer + misses > 0 else 0.0
                if g is not None and precision > min_precision_n:
                    found[k].add(g)
    return found
