"""Typed configuration: dataclasses loaded from YAML (shipped or a path) with `key=value` overrides.

Only `build_*` functions and the constructors that compose from a config (`SeqAttNet(cfg)`) read these;
everything else takes explicit arguments. Every default below is the paper's ActivityNet choice (where
the paper leaves one open, the reading docs/model.md describes) unless it says otherwise.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import InputError

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class ModelConfig:
    feature_dim: int = 400  # F: TSN 200 RGB + 200 flow
    temporal_scale: int = 100  # T: snippets every video is rescaled to
    max_duration: int = 100  # D: longest proposal in snippets (rows of the confidence maps)
    num_classes: int = 200  # Nc
    base_channels: int = 256  # Table 1
    bm_channels: int = 512  # Conv3d output channels, Table 1
    map_channels: int = 128  # Conv2d channels, Table 1
    num_samples: int = 32  # N, boundary-matching sample points
    samples_per_bin: int = 3  # BMN
    boundary_ratio: float = 0.5  # BM sampling region widened by this x length on each side (BMN)
    conv_groups: int = 4  # BMN's grouped base / temporal-evaluation convolutions
    amassment: Literal["pad", "resample"] = "pad"  # 3D input: pad (paper) or resample
    amass_context: float = 0.0  # widen each proposal by this x its length on both sides for the heads (0 = paper)
    attention: Literal["softmax", "sigmoid", "uniform"] = "softmax"  # softmax: paper; uniform: no attention (ablation)
    error_head: bool = True  # False: no boundary refinement (ablation)
    error_input: Literal["proposal", "boundaries"] = "proposal"  # the error head reads the proposal's columns
    # (paper) or a window around each boundary (boundary_head.py, the shipped configs)
    error_context: float = 0.25  # "boundaries": window of +- this x the proposal's length around each boundary
    error_points: int = 16  # "boundaries": positions each window is resampled to
    bm_impl: Literal["auto", "sparse", "dense", "reference"] = "auto"  # reference: BMN's direct, slow computation


@dataclass
class LabelConfig:
    regions: Literal["paper", "bmn"] = "paper"  # boundary regions: paper (Eqs. 2-6, d/10) or bmn (t +- 1.5/T)
    class_iou: float = 0.0  # > 0: candidate cells with IoU >= this also train the class head (0.7 in docs/model.md)
    error_iou: float = 0.5  # cells with IoU >= this train the error head
    error_per_video: int = 16  # cells sampled per video for the error head
    error_rows: Literal["cells", "jitter"] = "cells"  # error head's rows: random cells with IoU >= error_iou
    # (paper) or ground truth with jittered boundaries, like the candidates it refines
    error_jitter: float = 0.06  # "jitter": ground-truth boundaries moved by N(0, (this x length)^2), on the grid


@dataclass
class LossConfig:
    lambda_r: float = 10.0  # Table 4
    lambda_te: float = 1.0
    lambda_cl: float = 1.0
    lambda_er: float = 1.0
    lambda_l2: float = 0.001  # L2 penalty lambda_2 * ||theta||^2, applied as weight decay 2 * lambda_2
    boundary_threshold: float = 0.5  # b_i = g_i > 0.5 for G_S, G_E (paper)
    map_threshold: float = 0.9  # positive cells of M_CC (BMN)


@dataclass
class InferenceConfig:
    peak_ratio: float = 0.5  # a boundary is a candidate where it is a local peak or above this x max (BMN)
    max_candidates: int = 100  # candidates (by proposal confidence) sent to the heads
    top_k_classes: int = 1  # classes kept per candidate, each scored S = P x Cscore_c (Sec. 3.6)
    refine: bool = True  # apply the error head's offsets
    refine_steps: int = 1  # boundary head ("boundaries"): refinement steps, each around the last refined boundaries
    soft_nms_sigma: float = 0.4  # Gaussian decay exp(-iou^2 / sigma) (BMN's alpha)
    soft_nms_t1: float = 0.5  # adaptive IoU threshold t1 + (t2 - t1) * width (BMN)
    soft_nms_t2: float = 0.9
    max_detections: int = 100  # kept per video (ActivityNet)
    class_scores: str = ""  # video-level classifier scores (CUHK-style JSON, path under data.root); "" = no fusion
    class_score_fusion: Literal["multiply", "replace"] = "multiply"  # score x its class's video score, or BMN's top-k
    class_score_top_k: int = 2  # video classes per segment with "replace" (BMN: 2)


@dataclass
class DataConfig:
    root: str = ""  # folder the relative paths below are read from ("" = current directory)
    annotations: str = "annotations.json"  # ActivityNet JSON, BMN anet_anno_action.json or THUMOS JSON
    video_info: str = ""  # BMN video_info_new.csv ("" = beside the annotations)
    features: str = "features"  # folder of per-video feature files, or one .h5/.hdf5 file keyed by video id
    file_pattern: str = "{video_id}.npy"
    classes: str = ""  # class list file ("" = the classes found in the annotations, sorted)
    backbone: str = ""  # network that made the features ("" = not recorded); predict refuses features of another
    stride_frames: float = 16.0  # snippet stride in frames (ActivityNet TSN: 16)
    window_frames: float = 16.0  # frames a snippet covers
    fps: float = 0.0  # 0 = per-video fps from the annotations
    rescaled: bool = False  # True: files already hold T rows (BMN's CSV layout)
    train_subset: str = "training"
    val_subset: str = "validation"
    cache: bool = True  # cache the rescaled features in one memory-mappable file
    synthetic: bool = False  # generate the built-in dataset into `root` when it is missing
    synthetic_train: int = 1200  # videos of the built-in dataset
    synthetic_val: int = 300
    synthetic_classes: int = 20
    synthetic_groups: int = 5  # groups of confusable classes (at most synthetic_classes)
    synthetic_mode: Literal["standard", "hard"] = "standard"  # hard: the second evaluation set (docs/data.md)

    def path(self, relative: str) -> Path:
        """A path of this section, read from `root` unless it is absolute."""
        p = Path(relative)
        return p if p.is_absolute() or not self.root else Path(self.root) / p
    protocol: Literal["activitynet", "thumos"] = "activitynet"  # evaluation tIoUs: 0.5:0.05:0.95, thumos 0.3:0.1:0.7
    windows: bool = False  # True: items are windows of T native snippets (THUMOS14), not whole videos rescaled to T
    window_overlap: float = 0.5  # share of T two consecutive windows have in common
    window_min_fraction: float = 0.3  # a segment cut by a window is kept when >= this x min(its length, the window)


@dataclass
class TrainConfig:
    epochs: int = 5  # Table 4
    batch_size: int = 16  # Table 4
    lr: float = 0.001  # Table 4, Adam
    lr_step: int = 0  # > 0: multiply the lr by 0.1 every lr_step epochs (BMN); 0 = constant (paper)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    num_threads: int = 0  # torch CPU threads (0 = torch's default)
    eval_every: int = 0  # > 0: evaluate on data.val_subset every this many epochs and keep best.pt; 0 = only at the end
    grad_clip: float = 0.0  # > 0: clip the gradients' global L2 norm to this before each step; 0 = off (paper)
    amp: bool = False  # True: bfloat16 autocast for the forward pass and loss (CPU and CUDA); off = float32 (paper)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class Limit:
    """The allowed interval of a number: `lo <= x` (or `lo < x` with lo_open), likewise for hi; always finite."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def allows(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        above = self.lo is None or (x > self.lo if self.lo_open else x >= self.lo)
        below = self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)
        return above and below

    def __str__(self) -> str:
        def num(x: float) -> str:
            return str(int(x)) if float(x).is_integer() else f"{x:g}"

        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{num(self.lo)}, {num(self.hi)}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {num(self.lo)}"
        return f"{'<' if self.hi_open else '<='} {num(self.hi)}" if self.hi is not None else "finite"


def at_least(lo: float) -> Limit:
    return Limit(lo)


def above(lo: float) -> Limit:
    return Limit(lo, lo_open=True)


def between(lo: float, hi: float, *, hi_open: bool = False) -> Limit:
    return Limit(lo, hi, hi_open=hi_open)


# The allowed values of every number of the config, one line a field (a test checks each int and float
# field has one; string modes list theirs as Literal[...] above), checked on YAML, `--set` and checkpoints.
LIMITS: dict[str, Limit] = {
    "model.feature_dim": at_least(1),
    "model.temporal_scale": at_least(2),
    "model.max_duration": at_least(1),  # and <= model.temporal_scale (check_together)
    "model.num_classes": at_least(1),
    "model.base_channels": at_least(1),
    "model.bm_channels": at_least(1),
    "model.map_channels": at_least(1),
    "model.num_samples": at_least(1),
    "model.samples_per_bin": at_least(1),
    "model.boundary_ratio": at_least(0),
    "model.conv_groups": at_least(1),  # and divides feature_dim and base_channels
    "model.amass_context": at_least(0),
    "model.error_context": above(0),
    "model.error_points": at_least(2),
    "labels.class_iou": between(0, 1),
    "labels.error_iou": between(0, 1),
    "labels.error_per_video": at_least(0),
    "labels.error_jitter": at_least(0),
    "loss.lambda_r": at_least(0),
    "loss.lambda_te": at_least(0),
    "loss.lambda_cl": at_least(0),
    "loss.lambda_er": at_least(0),
    "loss.lambda_l2": at_least(0),
    "loss.boundary_threshold": between(0, 1),
    "loss.map_threshold": between(0, 1),
    "inference.peak_ratio": between(0, 1),
    "inference.max_candidates": at_least(1),
    "inference.refine_steps": at_least(1),
    "inference.top_k_classes": at_least(1),  # and <= model.num_classes
    "inference.soft_nms_sigma": above(0),
    "inference.soft_nms_t1": between(0, 1),  # and <= soft_nms_t2
    "inference.soft_nms_t2": between(0, 1),
    "inference.max_detections": at_least(1),
    "inference.class_score_top_k": at_least(1),
    "data.stride_frames": above(0),
    "data.window_frames": at_least(0),
    "data.fps": at_least(0),
    "data.synthetic_train": at_least(1),
    "data.synthetic_val": at_least(1),
    "data.synthetic_classes": at_least(1),
    "data.synthetic_groups": at_least(1),
    "data.window_overlap": between(0, 1, hi_open=True),
    "data.window_min_fraction": between(0, 1),
    "train.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.lr": above(0),
    "train.lr_step": at_least(0),
    "train.seed": between(0, 2**32 - 1),  # numpy's seed range
    "train.num_threads": at_least(0),
    "train.eval_every": at_least(0),
    "train.grad_clip": at_least(0),
}


def check_together(cfg: Config, source: str) -> None:
    """The rules that join two fields; each message names both keys and their values."""
    m, inf = cfg.model, cfg.inference
    rules = [
        (m.max_duration <= m.temporal_scale,
         f"'model.max_duration' {m.max_duration} must be <= 'model.temporal_scale' {m.temporal_scale}"),
        (m.feature_dim % m.conv_groups == 0 and m.base_channels % m.conv_groups == 0,
         f"'model.conv_groups' {m.conv_groups} must divide 'model.feature_dim' {m.feature_dim} and "
         f"'model.base_channels' {m.base_channels}"),
        (inf.top_k_classes <= m.num_classes,
         f"'inference.top_k_classes' {inf.top_k_classes} must be <= 'model.num_classes' {m.num_classes}"),
        (inf.soft_nms_t1 <= inf.soft_nms_t2,
         f"'inference.soft_nms_t1' {inf.soft_nms_t1} must be <= 'inference.soft_nms_t2' {inf.soft_nms_t2}"),
    ]
    for ok, message in rules:
        if not ok:
            raise InputError.at(source, message)


def shipped_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> Config:
    """A shipped config by name (`activitynet`, `thumos14`, `demo`) or a YAML path, then `key=value` overrides.

    Every value is checked against its type, its Literal choices or LIMITS, then `check_together`.
    """
    path = Path(name_or_path)
    if not path.suffix and (CONFIG_DIR / f"{path}.yaml").exists():
        path = CONFIG_DIR / f"{path}.yaml"
    if not path.exists():
        raise InputError.at(path, f"no such config file; shipped configs: {', '.join(shipped_configs())}")
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise InputError.at(path, f"not valid YAML: {e}".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise InputError.at(path, "expected a mapping of sections (model, data, train, ...)")
    cfg = _build(Config, raw, str(path), "")
    check_together(cfg, str(path))
    apply_overrides(cfg, overrides or [])
    return cfg


def _unknown(key: str, names: list[str], prefix: str, part: str | None = None) -> str:
    """`unknown key 'train.epoch' (did you mean 'train.epochs'?); expected one of [...]`: the closest of
    `names` to `part` (default: the key's last part)."""
    close = difflib.get_close_matches(part or key.rsplit(".", 1)[-1], names, n=1, cutoff=0.6)
    hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; expected one of {sorted(names)}"


def _build(cls: type, raw: dict, source: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        if key not in names:
            raise InputError.at(source, _unknown(prefix + str(key), names, prefix))
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise InputError.at(source, f"{prefix + key!r} must be a mapping")
            values[key] = _build(hint, value, source, f"{prefix}{key}.")
        else:
            values[key] = _coerce(value, hint, source, prefix + key)
    return cls(**values)


def _coerce(value: Any, hint: Any, source: str, key: str) -> Any:
    """`value` as the field's type, within its Literal choices or LIMITS; else InputError naming key and value."""
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if isinstance(value, str) and value in choices:
            return value
        raise InputError.at(source, f"{key!r} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif hint in (int, float):
        number = _number(value, hint)
        if number is not None:
            limit = LIMITS.get(key)
            if limit is not None and not limit.allows(number):
                raise InputError.at(source, f"{key!r} must be {limit}, got {value!r}")
            return number
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return value
    raise InputError.at(source, f"{key!r} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def _number(value: Any, hint: type) -> int | float | None:
    exact = (int, float) if hint is float else int  # an int is a valid float, not the reverse
    if isinstance(value, exact) and not isinstance(value, bool):
        return hint(value)
    if isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            pass
    return None


SECTIONS = [f.name for f in dataclasses.fields(Config)]


def apply_overrides(cfg: Config, items: list[str], *, sections: tuple[str, ...] | None = None,
                    why: str = "") -> None:
    """Every `section.key=value` of `items`, then `check_together`. With `sections`, a key of another
    section is refused, the message ending with `why`."""
    for item in items:
        section = item.split("=", 1)[0].strip().split(".")[0]
        if sections is not None and section in SECTIONS and section not in sections:
            raise InputError.at("--set", f"{item.split('=', 1)[0].strip()!r} cannot be changed here: {why}")
        apply_override(cfg, item)
    if items:
        check_together(cfg, "--set")


def apply_override(cfg: Config, item: str) -> None:
    """`section.key=value`, e.g. `train.epochs=3`, checked against the dataclass field's type and limits."""
    if "=" not in item:
        raise InputError.at("--set", f"expected key=value, got {item!r}")
    key, value = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if parts[0] not in SECTIONS:
        raise InputError.at("--set", _unknown(key, SECTIONS, "", parts[0]).replace("expected one of", "sections:"))
    target: Any = getattr(cfg, parts[0])
    if len(parts) == 1:
        raise InputError.at("--set", f"{key!r} is a section; set one of its keys, e.g. "
                            f"{key}.{dataclasses.fields(target)[0].name}=...")
    names = [f.name for f in dataclasses.fields(target)]
    if len(parts) > 2 or parts[1] not in names:
        raise InputError.at("--set", _unknown(key, names, parts[0] + ".", parts[1]))
    name = parts[1]
    hint = typing.get_type_hints(type(target))[name]
    setattr(target, name, _coerce(yaml.safe_load(value) if value.strip() else "", hint, "--set", key))


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)


def config_from_dict(raw: dict, source: str = "checkpoint") -> Config:
    cfg = _build(Config, raw, source, "")
    check_together(cfg, source)
    return cfg
