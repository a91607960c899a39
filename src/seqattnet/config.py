"""Typed configuration: dataclasses loaded from YAML (shipped or a path) with `key=value` overrides.

Only `build_*` functions and the constructors that compose from a config (`SeqAttNet(cfg)`) read these;
everything else takes explicit arguments. The sections themselves live in config_sections.py, the reading
of config files (`base:`, a data.root relative to its file) in config_files.py; keys that moved between
sections are still read under their old names (MOVED_KEYS), in YAML, `--set` and checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .config_files import CONFIG_DIR, config_chain, shipped_configs
from .config_sections import (MAP_CONV_GROUPS, Config, DataConfig, EvaluationConfig, InferenceConfig, LabelConfig,
                              LossConfig, ModelConfig, SyntheticConfig, TrainConfig, WindowConfig)
from .errors import InputError, argument, quoted
from .files import write_text_atomic

__all__ = ["CONFIG_DIR", "LIMITS", "MAP_CONV_GROUPS", "MOVED_KEYS", "SECTIONS", "Config", "DataConfig", "EvaluationConfig",
           "InferenceConfig", "InputError", "LabelConfig", "Limit", "LossConfig", "ModelConfig", "SyntheticConfig",
           "TrainConfig", "WindowConfig", "apply_override", "apply_overrides", "check_together", "config_from_dict",
           "load_config", "migrate", "migrate_key", "save_config", "shipped_configs", "to_dict"]

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
    "labels.min_region": at_least(0),
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
    "inference.class_min_score": between(0, 1),
    "inference.class_score_top_k": at_least(1),
    "data.stride_frames": above(0),
    "data.window_frames": at_least(0),
    "data.fps": at_least(0),
    "synthetic.train_videos": at_least(1),
    "synthetic.val_videos": at_least(1),
    "synthetic.classes": at_least(1),
    "synthetic.groups": at_least(1),
    "windows.overlap": between(0, 1, hi_open=True),
    "windows.min_fraction": between(0, 1),
    "windows.train_per_video": at_least(0),
    "train.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.lr": above(0),
    "train.lr_step": at_least(0),
    "train.seed": between(0, 2**32 - 1),  # numpy's seed range
    "train.num_threads": at_least(0),
    "train.eval_every": at_least(0),
    "train.grad_clip": at_least(0),
}


# Keys that moved to a section of their own, old name -> new name: read under either name wherever a config
# is read (a YAML file, `--set`, a checkpoint's or a run's saved config), written under the new one.
MOVED_KEYS: dict[str, str] = {
    "data.protocol": "evaluation.protocol",
    "data.synthetic": "synthetic.generate",
    "data.synthetic_train": "synthetic.train_videos",
    "data.synthetic_val": "synthetic.val_videos",
    "data.synthetic_classes": "synthetic.classes",
    "data.synthetic_groups": "synthetic.groups",
    "data.synthetic_mode": "synthetic.mode",
    "data.windows": "windows.enabled",
    "data.window_overlap": "windows.overlap",
    "data.window_min_fraction": "windows.min_fraction",
}


def migrate_key(key: str) -> str:
    """The current name of a `section.key` (itself unless it moved)."""
    return MOVED_KEYS.get(key.strip(), key)


def migrate(raw: dict, source: str) -> dict:
    """A copy of a raw config mapping with the MOVED_KEYS under their new names; refused when a key is
    given under both names."""
    raw = copy.deepcopy(raw)
    for old, new in MOVED_KEYS.items():
        (old_section, old_name), (new_section, new_name) = old.split("."), new.split(".")
        if not isinstance(raw.get(old_section), dict) or old_name not in raw[old_section]:
            continue
        value = raw[old_section].pop(old_name)
        target = raw.setdefault(new_section, {})
        if not isinstance(target, dict):
            continue  # _build names the section that is not a mapping
        if new_name in target:
            raise InputError.at(source, f"{old!r} and {new!r} are one key (its old and new name); give only {new!r}")
        target[new_name] = value
    return raw


def check_together(cfg: Config, source: str) -> None:
    """The rules that join two fields; each message names both keys and their values."""
    m, inf = cfg.model, cfg.inference
    rules = [
        (m.max_duration <= m.temporal_scale,
         f"'model.max_duration' {m.max_duration} must be <= 'model.temporal_scale' {m.temporal_scale}"),
        (m.feature_dim % m.conv_groups == 0 and m.base_channels % m.conv_groups == 0,
         f"'model.conv_groups' {m.conv_groups} must divide 'model.feature_dim' {m.feature_dim} and "
         f"'model.base_channels' {m.base_channels}"),
        (m.map_conv != "grouped" or m.map_channels % MAP_CONV_GROUPS == 0,
         f"'model.map_conv' grouped splits 'model.map_channels' {m.map_channels} into {MAP_CONV_GROUPS} groups: "
         f"use a multiple of {MAP_CONV_GROUPS}"),
        (inf.top_k_classes <= m.num_classes,
         f"'inference.top_k_classes' {inf.top_k_classes} must be <= 'model.num_classes' {m.num_classes}"),
        (cfg.windows.enabled or cfg.windows.train_per_video == 0,
         f"'windows.train_per_video' {cfg.windows.train_per_video} needs 'windows.enabled' true"),
        (inf.soft_nms_t1 <= inf.soft_nms_t2,
         f"'inference.soft_nms_t1' {inf.soft_nms_t1} must be <= 'inference.soft_nms_t2' {inf.soft_nms_t2}"),
    ]
    for ok, message in rules:
        if not ok:
            raise InputError.at(source, message)


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> Config:
    """A shipped config by name (`shipped_configs()`) or a YAML path, then `key=value` overrides.

    A file that names a `base:` (config_files) takes its base's values, section by section, for the keys it
    leaves out. Every file's values are checked against their type, Literal choices or LIMITS, naming that
    file; then `check_together` on the merged config.
    """
    merged: dict[str, Any] = {}
    for raw, source in config_chain(name_or_path):
        raw = migrate(raw, source)
        _build(Config, raw, source, "")  # each file's own values, checked naming it
        for section, values in raw.items():
            merged[section] = {**merged.get(section, {}), **values}
    cfg = _build(Config, merged, source, "")
    check_together(cfg, source)
    apply_overrides(cfg, overrides or [])
    return cfg


def _unknown(key: str, names: list[str], prefix: str, part: str | None = None) -> str:
    """`unknown key 'train.epoch' (did you mean 'train.epochs'?); expected one of [...]`: the closest of
    `names` (or of the old names of keys that moved from this section) to `part` (default: the key's last part)."""
    moved = {o.split(".")[1]: n for o, n in MOVED_KEYS.items() if o.startswith(prefix)} if prefix else {}
    close = difflib.get_close_matches(part or key.rsplit(".", 1)[-1], names + list(moved), n=1, cutoff=0.6)
    hint = f" (did you mean {moved.get(close[0], prefix + close[0])!r}?)" if close else ""
    return f"unknown key {quoted(key, 60)}{hint}; expected one of {sorted(names)}"


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
        raise InputError.at(source, f"{key!r} must be one of {', '.join(map(repr, choices))}, got {quoted(value)}")
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
                finite = "" if math.isfinite(number) else " and finite"  # inf is > 0, yet refused
                raise InputError.at(source, f"{key!r} must be {limit}{finite}, got {quoted(value)}")
            return number
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return value
    raise InputError.at(source, f"{key!r} must be {getattr(hint, '__name__', hint)}, got {quoted(value)}")


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
        key = migrate_key(item.split("=", 1)[0].strip())
        section = key.split(".")[0]
        if sections is not None and section in SECTIONS and section not in sections:
            raise InputError.at(argument("overrides"), f"{key!r} cannot be changed here: {why}")
        apply_override(cfg, item)
    if items:
        check_together(cfg, argument("overrides"))


def apply_override(cfg: Config, item: str) -> None:
    """`section.key=value`, e.g. `train.epochs=3`, checked against the dataclass field's type and limits."""
    if "=" not in item:
        raise InputError.at(argument("overrides"), f"expected key=value, got {quoted(item)}")
    key, value = item.split("=", 1)
    key = migrate_key(key.strip())
    parts = key.split(".")
    if parts[0] not in SECTIONS:
        raise InputError.at(argument("overrides"),
                            _unknown(key, SECTIONS, "", parts[0]).replace("expected one of", "sections:"))
    target: Any = getattr(cfg, parts[0])
    if len(parts) == 1:
        raise InputError.at(argument("overrides"), f"{key!r} is a section; set one of its keys, e.g. "
                            f"{key}.{dataclasses.fields(target)[0].name}=...")
    names = [f.name for f in dataclasses.fields(target)]
    if len(parts) > 2 or parts[1] not in names:
        raise InputError.at(argument("overrides"), _unknown(key, names, parts[0] + ".", parts[1]))
    name = parts[1]
    hint = typing.get_type_hints(type(target))[name]
    setattr(target, name, _coerce(_parse_value(value, hint), hint, argument("overrides"), key))


def _parse_value(value: str, hint: Any) -> Any:
    """A --set value as YAML reads it (so quotes may wrap it), except that a text field takes the text as
    typed where YAML would read something else: {video_id}.npy is not a mapping, 2024 is not a number."""
    if not value.strip():
        return ""
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: a number of over 4,300 digits
        return value.strip()  # a text field takes it; any other names the key and the value it cannot read
    return value.strip() if hint is str and not isinstance(parsed, str) else parsed


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str | Path) -> None:
    """The config as YAML, written atomically (a failed write leaves the previous file whole)."""
    write_text_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


# Keys a saved config (a checkpoint's, a run's config.yaml) lacks when it was written before they existed;
# such a run was trained with the paper's value, the default then, not with today's default (the shipped recipe).
SAVED_BEFORE: dict[str, Any] = {"model.error_input": "proposal", "labels.error_rows": "cells"}


def config_from_dict(raw: dict, source: str = "checkpoint") -> Config:
    """A config from its mapping (a checkpoint's or a saved config.yaml), in today's layout or an older one;
    a key of SAVED_BEFORE that it lacks takes the value it was trained with."""
    raw = migrate(raw, source)
    for key, value in SAVED_BEFORE.items():
        section, name = key.split(".")
        if isinstance(raw.get(section), dict):
            raw[section].setdefault(name, value)
    cfg = _build(Config, raw, source, "")
    check_together(cfg, source)
    return cfg
