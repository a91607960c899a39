"""The built-in THUMOS14-shaped dataset: many short actions in long videos, features at their native rate.

`generate_thumos_dataset(out_dir)` writes the same files as `synthetic.generate_synthetic_dataset`
(annotations.json, features/<id>.npy, classes.txt, dataset.json), laid out like ActionFormer's THUMOS14
file: subsets "Validation" (trained on) and "Test" (evaluated), a per-video `fps` (24, 25, 29.97 or 30),
`segment`, `segment(frames)` and `label_id` per instance. Feature files hold one row per snippet of
stride 4 / window 16 frames at the video's fps (not rescaled), `float16` by default: a 2048-d THUMOS-sized
set is half as large (the readers convert to float32).

Layout (per video, matching the figures of THUMOS14 in the shared data README):
- duration from THUMOS14's quantiles (median ≈ 155 s, mean ≈ 210 s, up to 28 min);
- the number of instances from THUMOS14's quantiles (median 8, mean ≈ 15, up to 218), drawn in
  correlation with the duration (long videos hold more) and capped so that the actions cover at most
  `MAX_COVERAGE` of the video; the rest is background between them;
- one main class per video, whose instances repeat; in `SECOND_CLASS_P` of the videos a second class
  takes a share of them;
- instance lengths: log-normal around a per-class median (THUMOS14's per-class medians, 1.1–8.8 s;
  overall median ≈ 3 s, mean ≈ 4 s);
- two built-in class relations of THUMOS14: class 0 is annotated a second time as class 1 with the same
  segment, every instance (CliffDiving / Diving; class 1 also occurs alone), and class 3 follows
  class 2, starting inside it (CricketBowling / CricketShot: classes that co-occur and overlap).

Features are made as in synthetic.py (a latent space, class prototypes in confusable groups, a scene,
AR(1) noise, a fixed projection to F): every signal class of a video adds its prototype over its
instances, so overlapping instances of two classes add up. Distractors are unlabelled bursts in the
background, `distractors_per_minute` on average.

Two modes (`THUMOS_MODES`): "standard" and "hard", built to differ: weaker actions, longer boundary
ramps that vary from boundary to boundary, annotators that disagree with the signal (each boundary moved
by N(0, (label_jitter x length)^2)), three times as many distractors, and distractors that look like
the video's own actions (the prototype of a class of the video's group, not of another group).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .grid import num_snippets, snippet_times_s
from .synthetic import (GENERATOR_VERSION, SignalKnobs, World, activation, ar1_noise, dataset_record, mix,
                        place_distractors, quantile)
from .synthetic_files import check_request, write_dataset, write_json

# THUMOS14 (validation + test, 412 videos) quantiles, from the shared annotation file: (probability, value).
DURATION_QUANTILES_S = (
    (0.0, 8.9), (0.05, 31.2), (0.10, 42.6), (0.25, 88.8), (0.50, 154.6), (0.75, 228.7), (0.90, 430.4),
    (0.95, 704.1), (0.99, 1144.2), (1.0, 1673.4),
)
COUNT_QUANTILES = (  # instances per video
    (0.0, 1.0), (0.05, 1.0), (0.10, 2.0), (0.25, 3.0), (0.50, 8.0), (0.75, 20.0), (0.90, 36.0), (0.95, 51.5),
    (0.99, 93.8), (1.0, 218.0),
)
CLASS_MEDIANS_S = (  # median instance length of each of THUMOS14's 20 classes, shuffled once, seconds
    2.7, 2.5, 1.2, 1.1, 3.0, 1.5, 2.2, 8.75, 2.3, 4.2, 7.1, 4.5, 6.3, 7.1, 6.4, 4.65, 2.9, 1.5, 4.25, 1.7,
)
FPS_CHOICES = ((30.0, 0.925), (29.97, 0.044), (25.0, 0.027), (24.0, 0.004))  # THUMOS14's frame rates, shares
LENGTH_SIGMA = 0.55  # log-normal spread of an instance's length around its class's median
COUNT_DURATION_CORRELATION = 0.6  # Gaussian-copula correlation of instance count and duration
MAX_COVERAGE = 0.8  # instances are dropped until their total length fits in this share of the video
SECOND_CLASS_P = 0.15  # videos with a second class (besides the built-in pairs)
DUPLICATE_PAIR = (0, 1)  # every instance of class 0 is annotated again as class 1, same segment
FOLLOW_PAIR = (2, 3)  # class 3 starts inside an instance of class 2 ...
FOLLOW_P = 0.8  # ... after this share of them
SUBSETS = ("Validation", "Test")  # ActionFormer's names: train on Validation, evaluate on Test


@dataclass
class ThumosKnobs:
    """How a THUMOS-shaped dataset's features are made: SignalKnobs (whose distractor_rate is unused
    here) and what this layout adds."""

    signal: SignalKnobs = field(default_factory=SignalKnobs)
    distractors_per_minute: float = 1.0  # mean number (Poisson) of unlabelled bursts per minute of video
    look_alike_distractors: bool = False  # True: a distractor wears a class prototype of the video's own group


THUMOS_MODES = {
    "standard": ThumosKnobs(SignalKnobs(ramp_snippets=2.0, distractor_s=(1.0, 6.0), min_instance_s=0.3,
                                       min_gap_s=0.3)),
    "hard": ThumosKnobs(SignalKnobs(instance_share=0.45, action_strength=0.8, scene_class_share=0.5,
                                    ramp_snippets=5.0, distractor_strength=0.8, distractor_s=(1.0, 8.0),
                                    ramp_jitter=0.6, label_jitter=0.1, scene_across_groups=True,
                                    min_instance_s=0.3, min_gap_s=0.3),
                        distractors_per_minute=3.0, look_alike_distractors=True),
}


@dataclass
class _Video:
    video_id: str
    subset: str
    duration_s: float
    fps: float
    main_class: int
    signal_s: np.ndarray  # float64 [K, 2] where the features change, by instance
    signal_class: np.ndarray  # int [K] the class whose prototype instance k wears
    segments_s: np.ndarray  # float64 [A, 2] annotated (jittered in "hard"; duplicates included), rounded to 0.01 s
    labels: np.ndarray  # int [A]


def generate_thumos_dataset(
    out_dir: Path,
    *,
    num_train: int = 200,  # videos in the "Validation" subset (THUMOS14 trains on it)
    num_val: int = 212,  # videos in the "Test" subset
    num_classes: int = 20,  # at least 4: the duplicate pair and the overlapping pair are classes 0-3
    num_groups: int = 5,  # groups of confusable classes (classes 0 and 1 share one)
    feature_dim: int = 2048,  # F, as I3D's 1024 RGB + 1024 flow
    stride_frames: float = 4,  # frames between snippets (THUMOS14 I3D)
    window_frames: float = 16,  # frames one snippet sees
    dtype: str = "float16",  # of the feature files: "float16" (half the disk) or "float32"
    seed: int = 0,  # the same seed, version and parameters give the same files
    progress: bool = True,  # show a tqdm progress bar
    mode: str = "standard",  # "standard" or "hard" (THUMOS_MODES): the knobs used when `knobs` is None
    knobs: ThumosKnobs | None = None,
    overwrite: bool = False,  # replace an existing non-empty out_dir
) -> Path:
    """Write a THUMOS-shaped synthetic dataset to out_dir (see the module docstring) and return out_dir."""
    if mode not in THUMOS_MODES:
        raise InputError.at("synthetic.mode", f"unknown mode {mode!r}; expected one of {sorted(THUMOS_MODES)}")
    if num_classes < 4 or not 1 <= num_groups <= num_classes:
        raise InputError.at("generate_thumos_dataset", f"needs num_classes >= 4 and 1 <= num_groups <= num_classes, "
                            f"got {num_classes}, {num_groups}")
    if dtype not in ("float16", "float32"):
        raise InputError.at("generate_thumos_dataset", f"dtype must be 'float16' or 'float32', got {dtype!r}")
    out_dir = Path(out_dir)
    check_request("generate_thumos_dataset", out_dir, num_train, num_val, overwrite)
    knobs = knobs or THUMOS_MODES[mode]
    params = dict(layout="thumos", num_train=num_train, num_val=num_val, num_classes=num_classes,
                  num_groups=num_groups, feature_dim=feature_dim, stride_frames=stride_frames,
                  window_frames=window_frames, dtype=dtype, seed=seed, mode=mode)
    world = World.make(np.random.default_rng([seed, 0]), num_classes, num_groups, feature_dim, knobs.signal)
    videos = thumos_layouts(seed, num_train, num_val, num_classes, knobs.signal)
    return write_dataset(
        out_dir, videos,
        lambda i, video: _render(video, world, np.random.default_rng([seed, 2, i]), knobs, stride_frames,
                                 window_frames).astype(dtype, copy=False),
        lambda folder: _write_metadata(folder, videos, world.class_names, params, knobs), progress)


# --- annotations --------------------------------------------------------------------------------


def thumos_layouts(seed: int, num_train: int, num_val: int, num_classes: int, knobs: SignalKnobs) -> list[_Video]:
    """Durations, fps, classes and segments of all videos; main classes balanced within each subset."""
    videos = []
    fps_values, fps_probs = zip(*FPS_CHOICES)
    for subset, count, stream in ((SUBSETS[0], num_train, 1), (SUBSETS[1], num_val, 2)):
        mains = np.random.default_rng([seed, 1, stream]).permutation(np.arange(count) % num_classes)
        for j, main in enumerate(mains):
            rng = np.random.default_rng([seed, 3, len(videos)])
            z_duration, z_other = rng.standard_normal(2)
            duration = round(quantile(DURATION_QUANTILES_S, _normal_cdf(z_duration)), 2)
            rho = COUNT_DURATION_CORRELATION
            count_u = _normal_cdf(rho * z_duration + math.sqrt(1 - rho**2) * z_other)
            k = max(1, round(quantile(COUNT_QUANTILES, count_u)))
            fps = float(rng.choice(fps_values, p=np.asarray(fps_probs) / sum(fps_probs)))
            signal, signal_class = _instances(rng, duration, k, int(main), num_classes, knobs)
            segments, labels = annotate_thumos(rng, signal, signal_class, duration, knobs.label_jitter)
            video_id = f"video_{subset.lower()}_{j + 1:07d}"
            videos.append(_Video(video_id, subset, duration, fps, int(main), signal, signal_class, segments, labels))
    return videos


def _instances(rng: np.random.Generator, duration_s: float, k: int, main: int, num_classes: int,
               knobs: SignalKnobs) -> tuple[np.ndarray, np.ndarray]:
    """Instances of one video: k placed one after the other with background between them, plus the
    follow-up instances of FOLLOW_PAIR -> (segments float64[K, 2] sorted by start, classes int[K])."""
    classes = np.full(k, main)
    if rng.random() < SECOND_CLASS_P and k > 1:  # a second class takes a share of the instances
        others = [c for c in range(num_classes) if c not in (main, *DUPLICATE_PAIR)]
        classes[rng.random(k) < rng.uniform(0.2, 0.5)] = rng.choice(others)
    lengths = np.exp(np.log(np.asarray(CLASS_MEDIANS_S)[classes % len(CLASS_MEDIANS_S)])
                     + LENGTH_SIGMA * rng.standard_normal(k))
    lengths = np.clip(lengths, knobs.min_instance_s, 0.5 * duration_s)
    while len(lengths) > 1 and lengths.sum() + len(lengths) * knobs.min_gap_s > MAX_COVERAGE * duration_s:
        lengths, classes = lengths[:-1], classes[:-1]  # too many for the video: drop the last
    lengths = np.minimum(lengths, MAX_COVERAGE * duration_s)
    background = duration_s - lengths.sum() - (len(lengths) - 1) * knobs.min_gap_s
    gaps = max(background, 0.0) * rng.dirichlet(np.ones(len(lengths) + 1))  # before, between, after
    gaps[1:-1] += knobs.min_gap_s
    starts = gaps[0] + np.concatenate([[0.0], np.cumsum(lengths[:-1] + gaps[1:-1])])
    segments = np.stack([starts, starts + lengths], axis=1)  # (k, 2)
    leaders = np.flatnonzero((classes == FOLLOW_PAIR[0]) & (rng.random(len(classes)) < FOLLOW_P))
    if len(leaders):  # the follower starts in the second half of its leader and may run past it
        lead = segments[leaders]
        start = lead[:, 0] + rng.uniform(0.5, 0.9, len(leaders)) * (lead[:, 1] - lead[:, 0])
        length = np.exp(np.log(CLASS_MEDIANS_S[FOLLOW_PAIR[1]]) + LENGTH_SIGMA * rng.standard_normal(len(leaders)))
        follow = np.stack([start, np.minimum(start + np.maximum(length, knobs.min_instance_s), duration_s)], axis=1)
        segments = np.concatenate([segments, follow])
        classes = np.concatenate([classes, np.full(len(leaders), FOLLOW_PAIR[1])])
    order = np.argsort(segments[:, 0], kind="stable")
    return np.clip(segments[order], 0.0, duration_s), classes[order]


def annotate_thumos(rng: np.random.Generator, signal_s: np.ndarray, classes: np.ndarray, duration_s: float,
                    jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """What the annotators write -> (segments float64[A, 2], labels int[A]), rounded to 0.01 s.

    Each boundary is moved by N(0, (jitter x length)^2) (none when jitter is 0), keeping at least half of
    the instance inside the video; then every instance of DUPLICATE_PAIR[0] is written a second time,
    with the same (moved) segment, as DUPLICATE_PAIR[1].
    """
    segments = signal_s.copy()
    if jitter > 0:
        length = signal_s[:, 1] - signal_s[:, 0]
        moved = signal_s + rng.normal(0.0, 1.0, signal_s.shape) * jitter * length[:, None]
        segments[:, 0] = np.clip(moved[:, 0], 0.0, signal_s[:, 0] + 0.25 * length)
        segments[:, 1] = np.clip(moved[:, 1], signal_s[:, 1] - 0.25 * length, duration_s)
    segments = np.round(segments, 2)
    twice = classes == DUPLICATE_PAIR[0]
    return (np.concatenate([segments, segments[twice]]),
            np.concatenate([classes, np.full(int(twice.sum()), DUPLICATE_PAIR[1])]))


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# --- features -----------------------------------------------------------------------------------


def _render(video: _Video, world: World, rng: np.random.Generator, knobs: ThumosKnobs, stride_frames: float,
            window_frames: float) -> np.ndarray:
    """Features of one video -> float32 [n_snippets, F]."""
    signal = knobs.signal
    n = num_snippets(video.duration_s, video.fps, stride_frames, window_frames)
    times = snippet_times_s(n, stride_frames, window_frames, video.fps)
    ramp_s = np.full(video.signal_s.shape, signal.ramp_snippets * stride_frames / video.fps)  # (K, 2)
    if signal.ramp_jitter > 0:
        ramp_s = ramp_s * np.exp(signal.ramp_jitter * rng.standard_normal(ramp_s.shape))
    z = signal.latent_dim
    scene = mix(world.scenes[video.main_class], rng.standard_normal(z), signal.scene_class_share)
    noise = ar1_noise(rng.standard_normal((n, z)), signal.noise_ar)  # (n, Z)
    latent = signal.scene_strength * scene + signal.noise_std * noise  # (n, Z)
    for c in np.unique(video.signal_class):  # each class's prototype over its own instances
        mine = video.signal_class == c
        prototype = mix(world.prototypes[c], rng.standard_normal(z), 1.0 - signal.instance_share)
        latent += signal.action_strength * activation(times, video.signal_s[mine], ramp_s[mine])[:, None] * prototype
    latent += _distractor_signal(video, world, rng, knobs, times, stride_frames)
    # einsum rather than @: BLAS's threads stall on busy shared cores (see synthetic._render)
    features = np.einsum("nz,zf->nf", latent.astype(np.float32), world.projection)  # (n, F)
    features += signal.white_std * rng.standard_normal(features.shape, dtype=np.float32)
    return features


def _distractor_signal(video: _Video, world: World, rng: np.random.Generator, knobs: ThumosKnobs,
                       times: np.ndarray, stride_frames: float) -> np.ndarray:
    """Unlabelled bursts in the background -> float64[n, Z] to add to the latent features."""
    rate = knobs.distractors_per_minute * video.duration_s / 60.0
    busy = _union(video.signal_s)  # distractors stay a second away from any instance
    bursts = place_distractors(rng, busy, video.duration_s, rate, knobs.signal.distractor_s)
    if not len(bursts):
        return np.zeros((len(times), knobs.signal.latent_dim))
    group = world.group_of[video.main_class]
    same = world.group_of == group if knobs.look_alike_distractors else world.group_of != group
    pool = np.flatnonzero(same & ~np.isin(np.arange(len(world.group_of)), video.signal_class))
    prototype = world.prototypes[rng.choice(pool)] if pool.size else rng.standard_normal(knobs.signal.latent_dim)
    strength = knobs.signal.action_strength * knobs.signal.distractor_strength
    ramp_s = knobs.signal.ramp_snippets * stride_frames / video.fps
    return strength * activation(times, bursts, ramp_s)[:, None] * prototype


def _union(segments_s: np.ndarray) -> np.ndarray:
    """Sorted segments (they may overlap) -> the sorted, disjoint segments covering the same time."""
    out: list[list[float]] = []
    for start, end in segments_s[np.argsort(segments_s[:, 0], kind="stable")]:
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


# --- files --------------------------------------------------------------------------------------


def _write_metadata(folder: Path, videos: list[_Video], class_names: list[str], params: dict,
                    knobs: ThumosKnobs) -> None:
    database = {
        v.video_id: {
            "subset": v.subset,
            "duration": v.duration_s,
            "fps": v.fps,
            "annotations": [{"label": class_names[c], "segment": [float(s), float(e)],
                             "segment(frames)": [round(s * v.fps, 1), round(e * v.fps, 1)], "label_id": int(c)}
                            for (s, e), c in zip(v.segments_s, v.labels)],
        }
        for v in videos
    }
    write_json(folder / "annotations.json", {"version": f"seqattnet-synthetic-thumos {GENERATOR_VERSION}",
                                              "database": database})
    (folder / "classes.txt").write_text("".join(name + "\n" for name in class_names), encoding="utf-8")
    subsets = {s: sum(v.subset == s for v in videos) for s in SUBSETS}
    write_json(folder / "dataset.json", {
        **dataset_record("seqattnet.data.synthetic_thumos", params, knobs, None, subsets, class_names),
        "relations": {"duplicate": [class_names[c] for c in DUPLICATE_PAIR],
                      "follows": [class_names[c] for c in FOLLOW_PAIR]},
    })
