"""Config checks: every number has its range and every mode its choices, in one table; values are
checked in YAML, --set and checkpoints alike; messages name the key, the value and what is allowed."""

import dataclasses
import typing

import pytest
import yaml

from config_layouts import old_config_layout
from seqattnet.config import (LIMITS, SECTIONS, Config, InputError, Limit, apply_overrides, check_together,
                              config_from_dict, load_config, shipped_configs, to_dict)


def _fields():
    for name, cls in typing.get_type_hints(Config).items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield f"{name}.{f.name}", hints[f.name]


def test_every_number_has_a_limit_and_every_limit_a_field():
    numbers = {key for key, hint in _fields() if hint in (int, float)}
    assert numbers == set(LIMITS), (numbers - set(LIMITS), set(LIMITS) - numbers)


def test_string_modes_are_literals():
    modes = {key: typing.get_args(hint) for key, hint in _fields() if typing.get_origin(hint) is typing.Literal}
    assert modes["model.attention"] == ("softmax", "sigmoid", "uniform")
    assert modes["train.device"] == ("auto", "cpu", "cuda") and modes["evaluation.protocol"] == ("activitynet", "thumos")
    assert {"model.amassment", "model.bm_impl", "labels.regions", "inference.class_score_fusion"} <= set(modes)


@pytest.mark.parametrize("name", shipped_configs())
def test_shipped_configs_and_defaults_pass(name):
    cfg = load_config(name)
    check_together(cfg, name)
    assert config_from_dict(to_dict(cfg)) == cfg
    for key, _ in _fields():  # every default inside its limit
        section, field = key.split(".")
        value = getattr(getattr(Config(), section), field)
        assert key not in LIMITS or LIMITS[key].allows(value), key


@pytest.mark.parametrize("item, message", [
    ("train.epochs=0", "'train.epochs' must be >= 1, got 0"),
    ("train.lr=0", "'train.lr' must be > 0, got 0"),
    ("train.lr=.inf", "'train.lr' must be > 0, got inf"),
    ("labels.class_iou=1.5", "'labels.class_iou' must be in [0, 1], got 1.5"),
    ("windows.overlap=1", "'windows.overlap' must be in [0, 1), got 1"),
    ("data.window_overlap=1", "'windows.overlap' must be in [0, 1), got 1"),  # its old name
    ("train.seed=-1", "'train.seed' must be in [0, 4294967295], got -1"),
    ("inference.soft_nms_t1=0.95", "'inference.soft_nms_t1' 0.95 must be <= 'inference.soft_nms_t2' 0.9"),
    ("inference.top_k_classes=300", "'inference.top_k_classes' 300 must be <= 'model.num_classes' 200"),
    ("model.bm_impl=fast", "'model.bm_impl' must be one of 'auto', 'sparse', 'dense', 'reference', got 'fast'"),
    ("trian.epochs=1", "unknown key 'trian.epochs' (did you mean 'train'?)"),
    ("model.atention=uniform", "did you mean 'model.attention'?"),
    # a key that moved is named under its current name
    ("data.synthetic_mod=hard", "unknown key 'data.synthetic_mod' (did you mean 'synthetic.mode'?)"),
    ("data.window_overlp=0.5", "(did you mean 'windows.overlap'?)"),
    ("data.window_frame=16", "(did you mean 'data.window_frames'?)"),
    ("synthetic.mod=hard", "(did you mean 'synthetic.mode'?)"),
    ("windows.overlp=0.5", "(did you mean 'windows.overlap'?)"),
])
def test_overrides_are_checked(item, message):
    with pytest.raises(InputError) as info:
        load_config("activitynet", [item])
    assert str(info.value).startswith("--set: ") and message in str(info.value)


def test_cross_field_rules_see_all_overrides_first():
    cfg = load_config("activitynet", ["model.max_duration=16", "model.temporal_scale=16"])  # either order
    assert (cfg.model.temporal_scale, cfg.model.max_duration) == (16, 16)


def test_a_checkpoint_config_is_checked_naming_it():
    raw = to_dict(load_config("demo"))
    raw["train"]["batch_size"] = 0
    with pytest.raises(InputError, match="^ckpt.pt: 'train.batch_size' must be >= 1, got 0$"):
        config_from_dict(raw, "ckpt.pt")


def test_overrides_limited_to_sections_say_why():
    cfg = load_config("demo")
    apply_overrides(cfg, ["inference.refine=false"], sections=("inference",), why="only inference")
    assert cfg.inference.refine is False
    with pytest.raises(InputError, match="'model.attention' cannot be changed here: only inference"):
        apply_overrides(cfg, ["model.attention=uniform"], sections=("inference",), why="only inference")
    assert SECTIONS == ["model", "labels", "loss", "inference", "data", "evaluation", "synthetic", "windows", "train"]


def test_limit_descriptions():
    assert [str(Limit(1)), str(Limit(0, lo_open=True)), str(Limit(0, 1, hi_open=True)), str(Limit())] == \
        [">= 1", "> 0", "in [0, 1)", "finite"]
    assert not Limit(0).allows(float("nan"))


@pytest.mark.parametrize("name", ["demo", "thumos14"])
def test_a_config_in_the_old_layout_reads_as_today(name, tmp_path):
    cfg = load_config(name)
    raw = old_config_layout(to_dict(cfg))
    assert "synthetic_mode" in raw["data"] and "enabled" not in raw.get("windows", {})
    assert config_from_dict(raw) == cfg  # a checkpoint's or a run's saved config
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(raw))
    assert load_config(tmp_path / "old.yaml") == cfg


def test_old_keys_in_overrides_set_the_new_ones():
    cfg = load_config("demo", ["data.synthetic_mode=hard", "data.windows=true", "data.window_overlap=0.25",
                               "data.protocol=thumos", "data.synthetic_train=10", "data.synthetic=false"])
    assert (cfg.synthetic.mode, cfg.windows.enabled, cfg.windows.overlap, cfg.evaluation.protocol) == \
        ("hard", True, 0.25, "thumos")
    assert (cfg.synthetic.train_videos, cfg.synthetic.generate) == (10, False)
    apply_overrides(cfg, ["data.window_min_fraction=0.5"], sections=("data", "windows"), why="")
    assert cfg.windows.min_fraction == 0.5
    with pytest.raises(InputError, match="'synthetic.mode' cannot be changed here: only data"):
        apply_overrides(cfg, ["data.synthetic_mode=standard"], sections=("data",), why="only data")


def test_a_key_under_both_names_is_refused():
    raw = to_dict(load_config("demo"))
    raw["data"]["synthetic_mode"] = "hard"
    with pytest.raises(InputError, match="^ckpt.pt: 'data.synthetic_mode' and 'synthetic.mode' are one key"):
        config_from_dict(raw, "ckpt.pt")


def test_a_text_value_is_taken_as_typed():
    cfg = load_config("demo", ["data.file_pattern={video_id}.npy", "data.root=2024", "data.features=1.50"])
    assert (cfg.data.file_pattern, cfg.data.root, cfg.data.features) == ("{video_id}.npy", "2024", "1.50")
    assert load_config("demo", ["data.file_pattern='v_{video_id}.npy'"]).data.file_pattern == "v_{video_id}.npy"
    with pytest.raises(InputError, match=r"^--set: 'train\.epochs' must be int, got '\{3'$"):
        load_config("demo", ["train.epochs={3"])
