"""The built-in synthetic dataset: ActivityNet-shaped annotations with features that are hard enough.

`generate_synthetic_dataset(out_dir)` writes

    out_dir/annotations.json      ActivityNet JSON ("database": {id: {subset, duration, fps, annotations}})
    out_dir/features/<id>.npy     float32 [n_snippets, F] at the native snippet rate (see features.py)
    out_dir/classes.txt           one class name per line
    out_dir/dataset.json          generator version, seed, every parameter, the feature spec

Layout (per video, matching the figures of ActivityNet v1.3 in the shared data README): the duration
follows ActivityNet's quantiles (mean ≈ 118 s, p5 ≈ 18 s, p95 ≈ 224 s); the number of instances is
1 / 2 / 3 / ≥4 with probability 0.755 / 0.13 / 0.048 / 0.067 (≥4: 4 + a geometric tail); a single
instance takes a share of the video drawn from ActivityNet's single-instance quantiles; several
instances share a total coverage drawn from ActivityNet's multi-instance quantiles, split by a flat
Dirichlet, separated by random gaps and never overlapping. All instances of a video have one class.

Features (per snippet j at time c_j, built in a `latent_dim`-dimensional space, then mapped to F by a
fixed random projection W and given a little white noise):

    z_j = scene_strength · s  +  a_j · action_strength · p  +  b_j · distractor_strength · q  +  noise_std · ε_j
    x_j = W z_j + white_std · η_j

- p, the instance's prototype: a shared "actionness" part, the class's group part (classes of a
  group are confusable), the class's own part, and a part of the instance's own (intra-class variation).
- a_j ∈ [0, 1]: soft boundaries, ramping from 0 to 1 over `ramp_snippets` snippets centred on each
  annotated boundary (so a_j = 0.5 exactly at the boundary).
- s, the video's scene: partly the class's scene, so the background hints at the class.
- q, b_j: unlabelled distractor bursts in the background, with the prototype of a class of another group.
- ε_j: AR(1) noise over snippets with coefficient `noise_ar` and unit variance.

Two modes (`mode=`, the config's `synthetic.mode`): "standard" (the knobs above) and "hard", a
second evaluation set built to differ on purpose (`SIGNAL_MODES["hard"]`, docs/data.md): weaker actions,
boundary ramps that vary from boundary to boundary and are longer on average, annotators whose
boundaries disagree with where the signal changes (each annotated boundary moved by a normal error of
`label_jitter` x the instance's length), more and longer distractors, more variation within a class,
and scenes shared across groups (class k of every group films in the same scene), so the background
points to the wrong group.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .grid import num_snippets, snippet_times_s
from .synthetic_files import check_request, write_dataset, write_json

GENERATOR_VERSION = 1  # bump whenever the same seed would give different files

# ActivityNet v1.3 (training + validation) quantiles, from the shared annotation file:
# (cumulative probability, value). Sampling interpolates linearly between them.
DURATION_QUANTILES_S = (  # p0 raised from 1.6 s and p100 lowered from 755 s: a few outliers
    (0.0, 5.0), (0.05, 18.0), (0.10, 29.9), (0.25, 61.3), (0.50, 115.4),
    (0.75, 173.7), (0.90, 211.1), (0.95, 224.5), (0.99, 236.9), (1.0, 240.0),
)
SINGLE_LENGTH_QUANTILES = (  # share of the video taken by the only instance of a video
    (0.0, 0.02), (0.05, 0.135), (0.10, 0.254), (0.20, 0.464), (0.30, 0.607), (0.40, 0.711), (0.50, 0.794),
    (0.60, 0.858), (0.70, 0.909), (0.80, 0.954), (0.90, 0.996), (1.0, 1.0),
)
MULTI_COVERAGE_QUANTILES = (  # share of the video covered by all instances, videos with ≥ 2 instances
    (0.0, 0.03), (0.10, 0.15), (0.25, 0.28), (0.50, 0.48), (0.75, 0.69), (0.90, 0.82), (1.0, 0.97),
)
INSTANCE_COUNT_PROBS = (0.755, 0.13, 0.048)  # 1, 2, 3 instances; the rest (0.067) is ≥ 4
MANY_INSTANCES_TAIL_P = 0.42  # ≥ 4 instances: 4 + Geometric(0.42) − 1, which gives ActivityNet's 4/5/6/… shares
MAX_INSTANCES = 20


@dataclass
class SignalKnobs:
    """How the features are made. Amplitudes are in units of the noise's standard deviation."""

    latent_dim: int = 32  # dimension of the space signal, scene and noise live in, before the projection to F
    actionness_share: float = 0.25  # share of every prototype common to all classes (action vs background)
    group_share: float = 0.75  # share of a class's own prototype common to its group: within-group cosine
    instance_share: float = 0.3  # share of an instance's prototype that is its own (intra-class variation)
    action_strength: float = 1.0  # amplitude of the action prototype inside an instance
    scene_strength: float = 0.8  # amplitude of the video's scene vector, in background and action alike
    scene_class_share: float = 0.3  # share of the scene drawn from the class's scene (context cue)
    ramp_snippets: float = 3.0  # snippets over which features ramp from background to action at a boundary
    distractor_rate: float = 0.6  # mean number (Poisson) of unlabelled distractor bursts per video
    distractor_strength: float = 0.6  # amplitude of a distractor, relative to action_strength
    distractor_s: tuple[float, float] = (2.0, 10.0)  # range of a distractor's length in seconds
    noise_ar: float = 0.8  # AR(1) coefficient of the noise from one snippet to the next
    noise_std: float = 1.0  # standard deviation of the AR(1) noise
    white_std: float = 0.3  # per-dimension white noise added after the projection to F
    min_instance_s: float = 0.5  # shortest instance, seconds
    min_gap_s: float = 0.5  # shortest background gap between two instances of a video, seconds
    ramp_jitter: float = 0.0  # > 0: each boundary's ramp is ramp_snippets x exp(N(0, ramp_jitter^2))
    label_jitter: float = 0.0  # > 0: annotated boundaries = signal boundaries + N(0, (label_jitter x length)^2)
    scene_across_groups: bool = False  # True: the k-th class of every group shares one scene


SIGNAL_MODES = {
    "standard": SignalKnobs(),
    "hard": SignalKnobs(instance_share=0.45, action_strength=0.8, scene_class_share=0.5, ramp_snippets=4.0,
                        distractor_rate=1.5, distractor_strength=0.8, distractor_s=(3.0, 30.0), ramp_jitter=0.6,
                        label_jitter=0.04, scene_across_groups=True),
}


@dataclass
class _Video:
    video_id: str
    subset: str
    duration_s: float
    class_id: int
    segments_s: np.ndarray  # float64 [K, 2] as annotated: sorted, non-overlapping, rounded to 0.01 s
    signal_s: np.ndarray  # float64 [K, 2] where the features change (segments_s unless knobs.label_jitter > 0)


def generate_synthetic_dataset(
    out_dir: Path,
    *,
    num_train: int = 1200,  # videos in the "training" subset
    num_val: int = 300,  # videos in the "validation" subset
    num_classes: int = 20,  # class count; 200 (ActivityNet) is too many for a CPU demo
    num_groups: int = 5,  # groups of confusable classes; classes are spread evenly over them
    feature_dim: int = 400,  # F, as TSN's 200 RGB + 200 flow (here just 400 numbers)
    fps: float = 30.0,  # frame rate of every video
    stride_frames: float = 16,  # frames between snippets, as ActivityNet's TSN features
    window_frames: float = 16,  # frames one snippet sees
    seed: int = 0,  # the same seed, version and parameters give the same files
    progress: bool = True,  # show a tqdm progress bar
    mode: str = "standard",  # "standard" or "hard" (SIGNAL_MODES): the knobs used when `knobs` is None
    knobs: SignalKnobs | None = None,  # how the features are made
    overwrite: bool = False,  # replace an existing non-empty out_dir
) -> Path:
    """Write a synthetic dataset to out_dir (see the module docstring) and return out_dir.

    Everything is written to a temporary folder beside out_dir and renamed at the end, so an
    interrupted run leaves no half-written dataset.
    """
    if mode not in SIGNAL_MODES:
        raise InputError.at("synthetic.mode", f"unknown mode {mode!r}; expected one of {sorted(SIGNAL_MODES)}")
    knobs = knobs or SIGNAL_MODES[mode]
    out_dir = Path(out_dir)
    if not 1 <= num_groups <= num_classes:
        raise InputError.at("generate_synthetic_dataset", f"needs 1 <= num_groups <= num_classes, got {num_groups}, {num_classes}")
    check_request("generate_synthetic_dataset", out_dir, num_train, num_val, overwrite)
    params = dict(num_train=num_train, num_val=num_val, num_classes=num_classes, num_groups=num_groups,
                  feature_dim=feature_dim, fps=fps, stride_frames=stride_frames, window_frames=window_frames, seed=seed,
                  mode=mode)
    world = World.make(np.random.default_rng([seed, 0]), num_classes, num_groups, feature_dim, knobs)
    videos = _layouts(seed, num_train, num_val, num_classes, knobs)

    return write_dataset(
        out_dir, videos,
        lambda i, video: _render(video, world, np.random.default_rng([seed, 2, i]), knobs, fps, stride_frames,
                                 window_frames),
        lambda folder: _write_metadata(folder, videos, world.class_names, fps, params, knobs), progress)


# --- annotations --------------------------------------------------------------------------------


def _layouts(seed: int, num_train: int, num_val: int, num_classes: int, knobs: SignalKnobs) -> list[_Video]:
    """Durations, classes and segments of all videos. Classes are balanced within each subset."""
    videos = []
    width = len(str(num_train + num_val - 1))
    for subset, count, stream in (("training", num_train, 1), ("validation", num_val, 2)):
        order_rng = np.random.default_rng([seed, 1, stream])
        class_ids = order_rng.permutation(np.arange(count) % num_classes)
        for class_id in class_ids:
            index = len(videos)
            rng = np.random.default_rng([seed, 3, index])
            duration = round(float(quantile(DURATION_QUANTILES_S, rng.random())), 2)
            signal = sample_segments(rng, duration, knobs.min_instance_s, knobs.min_gap_s)
            annotated = annotate(rng, signal, duration, knobs.label_jitter) if knobs.label_jitter > 0 else signal
            videos.append(_Video(f"syn{index:0{width}d}", subset, duration, int(class_id), annotated, signal))
    return videos


def annotate(rng: np.random.Generator, signal_s: np.ndarray, duration_s: float, jitter: float) -> np.ndarray:
    """Where an annotator puts the boundaries: each moved by N(0, (jitter x length)^2) -> float64[K, 2], seconds.

    The result stays inside the video, keeps at least half of each instance and does not cross the
    middle of the gap to a neighbouring instance, so annotations never overlap.
    """
    length = signal_s[:, 1] - signal_s[:, 0]
    moved = signal_s + rng.normal(0.0, 1.0, signal_s.shape) * jitter * length[:, None]
    middle = (signal_s[:-1, 1] + signal_s[1:, 0]) / 2  # middle of each gap between instances
    lo, hi = np.concatenate([[0.0], middle]), np.concatenate([middle, [duration_s]])
    start = np.clip(moved[:, 0], lo, signal_s[:, 0] + 0.25 * length)
    end = np.clip(moved[:, 1], signal_s[:, 1] - 0.25 * length, hi)
    return np.round(np.stack([start, end], axis=1), 2)


def sample_segments(rng: np.random.Generator, duration_s: float, min_instance_s: float = 0.5, min_gap_s: float = 0.5) -> np.ndarray:
    """Non-overlapping segments in a video of duration_s, shaped like ActivityNet's -> float64[K, 2], seconds.

    K is capped where K instances and K − 1 gaps of the minimum length would not fit in 95 % of the video.
    """
    k = _instance_count(rng)
    k = max(1, min(k, int((0.95 * duration_s + min_gap_s) // (min_instance_s + min_gap_s))))
    if k == 1:
        lengths = np.array([max(quantile(SINGLE_LENGTH_QUANTILES, rng.random()) * duration_s, min_instance_s)])
    else:
        coverage = quantile(MULTI_COVERAGE_QUANTILES, rng.random())
        coverage = np.clip(coverage, k * min_instance_s / duration_s, 1 - (k - 1) * min_gap_s / duration_s)
        spare = coverage * duration_s - k * min_instance_s
        lengths = min_instance_s + spare * rng.dirichlet(np.ones(k))
    lengths = np.minimum(lengths, duration_s)
    background = duration_s - lengths.sum() - (k - 1) * min_gap_s
    gaps = max(background, 0.0) * rng.dirichlet(np.ones(k + 1))  # before, between, after
    gaps[1:-1] += min_gap_s
    starts = gaps[0] + np.concatenate([[0.0], np.cumsum(lengths[:-1] + gaps[1:-1])])
    segments = np.stack([starts, starts + lengths], axis=1)  # (K, 2)
    return np.clip(np.round(segments, 2), 0.0, duration_s)


def _instance_count(rng: np.random.Generator) -> int:
    u = rng.random()
    for k, cumulative in enumerate(np.cumsum(INSTANCE_COUNT_PROBS), start=1):
        if u < cumulative:
            return k
    return min(MAX_INSTANCES, 3 + int(rng.geometric(MANY_INSTANCES_TAIL_P)))


def quantile(table: tuple[tuple[float, float], ...], u: float) -> float:
    probs, values = zip(*table)
    return float(np.interp(u, probs, values))


# --- features -----------------------------------------------------------------------------------


@dataclass
class World:
    """What all videos share: class prototypes and scenes, the projection to F."""

    class_names: list[str]
    group_of: np.ndarray  # int [C]
    prototypes: np.ndarray  # float64 [C, Z], unit variance per dimension
    scenes: np.ndarray  # float64 [C, Z]
    projection: np.ndarray  # float32 [Z, F], entries N(0, 1/Z): x keeps z's per-dimension variance

    @classmethod
    def make(cls, rng: np.random.Generator, num_classes: int, num_groups: int, feature_dim: int, knobs: SignalKnobs) -> "World":
        z = knobs.latent_dim
        group_of = np.arange(num_classes) * num_groups // num_classes  # contiguous, even groups
        actionness = rng.standard_normal(z)
        groups = rng.standard_normal((num_groups, z))
        own = rng.standard_normal((num_classes, z))
        specific = mix(groups[group_of], own, knobs.group_share)
        prototypes = mix(np.broadcast_to(actionness, specific.shape), specific, knobs.actionness_share)
        scenes = rng.standard_normal((num_classes, z))
        projection = (rng.standard_normal((z, feature_dim)) / math.sqrt(z)).astype(np.float32)
        in_group = np.bincount(group_of)
        g_width, k_width = len(str(num_groups)), len(str(in_group.max()))
        rank = [int((group_of[:c] == group_of[c]).sum()) for c in range(num_classes)]
        if knobs.scene_across_groups:  # the k-th class of every group films in the k-th class's scene of group 1
            scenes = scenes[np.asarray(rank)]
        names = [f"g{group_of[c] + 1:0{g_width}d}-{rank[c] + 1:0{k_width}d}" for c in range(num_classes)]
        return cls(names, group_of, prototypes, scenes, projection)


def mix(shared: np.ndarray, own: np.ndarray, share: float) -> np.ndarray:
    """√share·shared + √(1 − share)·own: unit variance stays unit variance, cosine ≈ share."""
    return math.sqrt(share) * shared + math.sqrt(1.0 - share) * own


def _render(video: _Video, world: World, rng: np.random.Generator, knobs: SignalKnobs, fps: float,
            stride_frames: float, window_frames: float) -> np.ndarray:
    """Features of one video -> float32 [n_snippets, F]."""
    n = num_snippets(video.duration_s, fps, stride_frames, window_frames)
    times = snippet_times_s(n, stride_frames, window_frames, fps)
    ramp_s = knobs.ramp_snippets * stride_frames / fps
    if knobs.ramp_jitter > 0:  # one ramp per boundary: (K, 2)
        ramp_s = ramp_s * np.exp(knobs.ramp_jitter * rng.standard_normal(video.signal_s.shape))
    z = knobs.latent_dim
    c = video.class_id

    scene = mix(world.scenes[c], rng.standard_normal(z), knobs.scene_class_share)
    prototype = mix(world.prototypes[c], rng.standard_normal(z), 1.0 - knobs.instance_share)
    action = activation(times, video.signal_s, ramp_s)  # (n,)
    bursts = place_distractors(rng, video.segments_s, video.duration_s, knobs.distractor_rate, knobs.distractor_s)
    others = np.flatnonzero(world.group_of != world.group_of[c])
    distractor = world.prototypes[rng.choice(others)] if others.size else rng.standard_normal(z)

    noise = ar1_noise(rng.standard_normal((n, z)), knobs.noise_ar)  # (n, Z)
    latent = knobs.scene_strength * scene + knobs.noise_std * noise  # (n, Z)
    latent += knobs.action_strength * action[:, None] * prototype
    if len(bursts):
        strength = knobs.action_strength * knobs.distractor_strength
        latent += strength * activation(times, bursts, knobs.ramp_snippets * stride_frames / fps)[:, None] * distractor
    # einsum rather than @: BLAS's threads stall on busy shared cores (14 ms vs 0.8 ms a video on 2 cores)
    features = np.einsum("nz,zf->nf", latent.astype(np.float32), world.projection)  # (n, F)
    features += knobs.white_std * rng.standard_normal(features.shape, dtype=np.float32)
    return features


def activation(times_s: np.ndarray, segments_s: np.ndarray, ramp_s: float | np.ndarray) -> np.ndarray:
    """Soft membership of each time in any segment: 0.5 at a boundary, ramping over ramp_s -> [n].

    ramp_s: one ramp for all boundaries, or float64[K, 2], one per boundary (start, end) of each segment.
    """
    if len(segments_s) == 0:
        return np.zeros_like(times_s)
    ramp = np.maximum(np.broadcast_to(ramp_s, segments_s.shape), 1e-9)  # (K, 2)
    rise = (times_s[:, None] - segments_s[None, :, 0]) / ramp[None, :, 0]  # (n, K)
    fall = (segments_s[None, :, 1] - times_s[:, None]) / ramp[None, :, 1]
    return np.clip(0.5 + np.minimum(rise, fall), 0.0, 1.0).max(axis=1)


def place_distractors(rng: np.random.Generator, segments_s: np.ndarray, duration_s: float, rate: float,
                      lengths_s: tuple[float, float]) -> np.ndarray:
    """Unlabelled bursts placed in the background of a video, at least a second away from any of its sorted,
    disjoint `segments_s` ([K, 2] s): Poisson(`rate`) of them, each uniform in `lengths_s` long -> [M, 2] s."""
    bounds = np.concatenate([[0.0], segments_s.ravel(), [duration_s]]).reshape(-1, 2)  # gaps (K+1, 2)
    gaps = bounds + np.array([1.0, -1.0])
    bursts = []
    for _ in range(rng.poisson(rate)):
        length = rng.uniform(*lengths_s)
        room = gaps[:, 1] - gaps[:, 0] - length
        if not (room > 0).any():
            break
        g = rng.choice(np.flatnonzero(room > 0))
        start = gaps[g, 0] + rng.uniform(0, room[g])
        bursts.append((start, start + length))
        gaps = np.insert(gaps, g + 1, [start + length + 1.0, gaps[g, 1]], axis=0)  # split the gap around it
        gaps[g, 1] = start - 1.0
    return np.asarray(bursts, dtype=np.float64).reshape(-1, 2)


def ar1_noise(innovations: np.ndarray, coefficient: float) -> np.ndarray:
    """Stationary AR(1) noise of unit variance along axis 0 from N(0, 1) innovations ε: [n, dim] -> [n, dim].

    x_0 = ε_0 and x_t = coefficient·x_{t−1} + √(1 − coefficient²)·ε_t, computed by doubling
    (after the step with shift 2^k, x_t sums the last 2^(k+1) innovations): log2(n) vector operations.
    """
    x = np.array(innovations, dtype=np.float64)
    x[1:] *= math.sqrt(1.0 - coefficient**2)
    weight, shift = coefficient, 1
    while shift < len(x):
        x[shift:] = x[shift:] + weight * x[:-shift]  # the right side is evaluated before the assignment
        weight, shift = weight * weight, shift * 2
    return x


# --- files --------------------------------------------------------------------------------------


def _write_metadata(folder: Path, videos: list[_Video], class_names: list[str], fps: float, params: dict, knobs: SignalKnobs) -> None:
    database = {
        v.video_id: {
            "subset": v.subset,
            "duration": v.duration_s,
            "fps": fps,
            "annotations": [{"segment": [float(s), float(e)], "label": class_names[v.class_id]} for s, e in v.segments_s],
        }
        for v in videos
    }
    write_json(folder / "annotations.json", {"version": f"seqattnet-synthetic {GENERATOR_VERSION}", "database": database})
    (folder / "classes.txt").write_text("".join(name + "\n" for name in class_names), encoding="utf-8")
    subsets = {s: sum(v.subset == s for v in videos) for s in ("training", "validation")}
    write_json(folder / "dataset.json",
               dataset_record("seqattnet.data.synthetic", params, knobs, fps, subsets, class_names))


def dataset_record(generator: str, params: dict, knobs: object, fps: float | None, videos: dict[str, int],
                   class_names: list[str]) -> dict:
    """dataset.json: what made the files (the generator, its version, seed, parameters and knobs, a dataclass)
    and how to read them (fps None: each video's own, from annotations.json)."""
    return {
        "generator": generator,
        "generator_version": GENERATOR_VERSION,
        "seed": params["seed"],
        "parameters": params,
        "knobs": asdict(knobs),
        "feature_spec": {"feature_dim": params["feature_dim"], "stride_frames": params["stride_frames"],
                         "window_frames": params["window_frames"], "fps": fps, "rescaled": False},
        "file_pattern": "features/{video_id}.npy",
        "videos": videos,
        "classes": class_names,
    }
