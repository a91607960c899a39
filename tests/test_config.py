"""Config checks: every number has its range and every mode its choices, in one table; values are
checked in YAML, --set and checkpoints alike; messages name the key, the value and what is allowed."""

import dataclasses
import re
import textwrap
import typing
from pathlib import Path

import pytest
import yaml

from config_layouts import old_config_layout
from seqattnet.config import (CONFIG_DIR, LIMITS, SECTIONS, Config, InputError, Limit, apply_overrides, check_together,
                              config_from_dict, load_config, shipped_configs, to_dict)
from seqattnet.errors import command_line


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
    ("train.lr=.inf", "'train.lr' must be > 0 and finite, got inf"),
    ("labels.class_iou=1.5", "'labels.class_iou' must be in [0, 1], got 1.5"),
    ("windows.overlap=1", "'windows.overlap' must be in [0, 1), got 1"),
    ("data.window_overlap=1", "'windows.overlap' must be in [0, 1), got 1"),  # its old name
    ("train.seed=-1", "'train.seed' must be in [0, 4294967295], got -1"),
    ("inference.soft_nms_t1=0.95", "'inference.soft_nms_t1' 0.95 must be <= 'inference.soft_nms_t2' 0.0"),
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
    assert str(info.value).startswith("overrides: ") and message in str(info.value)  # as Python calls it
    with command_line(), pytest.raises(InputError) as info:
        load_config("activitynet", [item])
    assert str(info.value).startswith("--set: ") and message in str(info.value)  # as the command line calls it


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
    cfg = load_config(name, [f"data.root={tmp_path / 'data'}"])  # absolute, as a run saves it
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
    with pytest.raises(InputError, match=r"^overrides: 'train\.epochs' must be int, got '\{3'$"):
        load_config("demo", ["train.epochs={3"])


MINE = """model: {feature_dim: 64, num_classes: 12}
data:
  root: /data/mine
  annotations: annotations.json
  features: features
  stride_frames: 8
"""


def test_a_partial_yaml_gets_the_shipped_recipe(tmp_path):
    (tmp_path / "mine.yaml").write_text(MINE)
    mine, shipped = _flat(load_config(tmp_path / "mine.yaml")), _flat(load_config("activitynet"))
    given = set(_flat(yaml.safe_load(MINE)))
    assert [key for key in mine if not key.startswith("data.") and key not in given and mine[key] != shipped[key]] == []
    assert [mine[k] for k in ("model.error_input", "labels.error_rows", "loss.lambda_er", "train.epochs",
                              "train.lr_step")] == ["boundaries", "jitter", 10.0, 10, 7]
    assert (mine["model.feature_dim"], mine["model.num_classes"], mine["data.stride_frames"]) == (64, 12, 8.0)


def _flat(cfg: Config | dict) -> dict:
    """{"section.key": value} of a config or a raw YAML mapping."""
    raw = to_dict(cfg) if isinstance(cfg, Config) else cfg
    return {f"{section}.{key}": value for section, values in raw.items() for key, value in values.items()}


RUN_SETTINGS = {"model.bm_impl", "train.seed", "train.device", "train.num_threads", "train.eval_every"}
BOUNDARY_HEAD_ONLY = {"model.error_context", "model.error_points", "labels.error_jitter", "inference.refine_steps",
                      "inference.class_score_fusion", "inference.class_score_top_k"}  # (the last two: with class_scores)
WINDOWS_ONLY = {"inference.window_suppression"}  # sliding windows only: the paper rescales each video to T


def test_the_paper_config_states_every_paper_value():
    stated = set(_flat(yaml.safe_load((CONFIG_DIR / "activitynet-paper.yaml").read_text())))
    recipe = {key for key, _ in _fields() if key.split(".")[0] in ("model", "labels", "loss", "inference", "train")}
    assert recipe - RUN_SETTINGS - BOUNDARY_HEAD_ONLY - WINDOWS_ONLY - stated == set()
    cfg = load_config("activitynet-paper")
    assert (cfg.model.error_input, cfg.labels.error_rows, cfg.loss.lambda_er, cfg.train.epochs, cfg.train.lr_step) == \
        ("proposal", "cells", 1.0, 5, 0)


def test_a_saved_config_from_before_the_boundary_head_reads_as_the_paper_head():
    raw = to_dict(load_config("activitynet-paper"))
    del raw["model"]["error_input"], raw["labels"]["error_rows"]  # written before these keys existed
    cfg = config_from_dict(raw)
    assert (cfg.model.error_input, cfg.labels.error_rows) == ("proposal", "cells")


def test_base_is_read_first_and_the_file_replaces_its_keys_one_by_one(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.yaml").write_text("base: thumos14\nmodel: {num_classes: 12}\ntrain: {epochs: 3}\n")
    (tmp_path / "mine.yaml").write_text("base: sub/mid.yaml\ntrain: {lr: 0.002}\n")
    cfg, thumos = load_config(tmp_path / "mine.yaml"), load_config("thumos14")
    assert (cfg.train.epochs, cfg.train.lr, cfg.model.num_classes) == (3, 0.002, 12)
    assert (cfg.model.feature_dim, cfg.windows, cfg.evaluation, cfg.train.batch_size, cfg.data.root) == \
        (2048, thumos.windows, thumos.evaluation, 16, "data/thumos14")  # the shipped base's root: the working directory
    assert load_config(tmp_path / "mine.yaml", ["train.epochs=7"]).train.epochs == 7


@pytest.mark.parametrize("files, message", [
    ({"a.yaml": "base: a.yaml\n"}, "a.yaml: 'base: a.yaml' makes a cycle ({d}/a.yaml -> {d}/a.yaml)"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: ./a.yaml\n"},
     "b.yaml: 'base: ./a.yaml' makes a cycle ({d}/a.yaml -> {d}/b.yaml -> {d}/a.yaml)"),
    ({"a.yaml": "base: nosuch\n"}, "nosuch: no such config file; shipped configs: activitynet, activitynet-paper"),
    ({"a.yaml": "base: [demo]\n"}, "a.yaml: 'base' must be a shipped config name"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "train: {epochs: 0}\n"}, "b.yaml: 'train.epochs' must be >= 1, got 0"),
])
def test_a_bad_base_is_refused_in_one_line_naming_the_file(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InputError) as info:
        load_config(tmp_path / "a.yaml")
    assert message.format(d=tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_a_relative_root_is_read_beside_its_yaml(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine.yaml").write_text("data: {root: ., features: feats}\n")
    (tmp_path / "mine" / "up.yaml").write_text("base: mine.yaml\ndata: {root: ../shared}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("mine/mine.yaml")
    assert cfg.data.root == str(tmp_path / "mine") and cfg.data.path(cfg.data.features) == tmp_path / "mine" / "feats"
    assert load_config("mine/up.yaml").data.root == str(tmp_path / "shared")
    assert load_config("mine/mine.yaml", ["data.root=elsewhere"]).data.root == "elsewhere"  # --set: the working directory
    assert load_config("demo").data.root == "runs/demo/data"  # shipped configs: the working directory
    assert load_config(CONFIG_DIR / "demo.yaml").data.root == "runs/demo/data"


def test_a_yaml_key_given_twice_is_refused_naming_the_file_and_key(tmp_path):
    (tmp_path / "mine.yaml").write_text("train:\n  epochs: 3\nmodel: {num_classes: 3}\ntrain:\n  lr: 0.1\n")
    with pytest.raises(InputError, match=r"mine.yaml: key 'train' appears twice in one mapping \(line 4;"):
        load_config(tmp_path / "mine.yaml")
    (tmp_path / "mine.yaml").write_text("train:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(InputError, match="key 'epochs' appears twice"):
        load_config(tmp_path / "mine.yaml")


def test_the_custom_dataset_example_in_the_docs_reads_as_documented(tmp_path):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text(encoding="utf-8")
    example = re.search(r"3\. A config, `mine.yaml`.*?```yaml\n(.*?)```", docs, re.S).group(1)
    (tmp_path / "mine.yaml").write_text(textwrap.dedent(example))
    mine, shipped = _flat(load_config(tmp_path / "mine.yaml")), _flat(load_config("activitynet"))
    assert mine["data.root"] == str(tmp_path / "data") and mine["model.feature_dim"] == 2048
    assert {k for k in mine if mine[k] != shipped[k] and not k.startswith("data.")} == \
        {"model.feature_dim", "model.num_classes"}
