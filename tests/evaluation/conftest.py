"""Shared helpers for the evaluation tests: tiny ground truths built in code (the slow reference is
seqattnet.testing.reference_eval, which the benchmarks time too)."""

import numpy as np
import pytest

from seqattnet.structures import AnnotationSet, VideoAnnotation


def build_ground_truth(videos: dict, subset: str = "validation", classes=None) -> AnnotationSet:
    """{video: [(start, end, label), ...]} -> AnnotationSet, all videos in `subset`, duration 100 s."""
    annotations = {
        vid: VideoAnnotation(vid, subset, 100.0, np.array([[s, e] for s, e, _ in inst], dtype=float).reshape(-1, 2),
                             [label for _, _, label in inst])
        for vid, inst in videos.items()
    }
    names = classes if classes is not None else sorted({label for inst in videos.values() for *_, label in inst})
    return AnnotationSet(annotations, list(names), "gt.json")


@pytest.fixture
def make_gt():
    return build_ground_truth


def pred(label, score, start, end):
    return {"label": label, "score": score, "segment": [start, end]}


@pytest.fixture
def P():
    return pred
