"""Checkpoints load through the one model builder, whichever layout of the weights or the config wrote them."""

import torch

from config_layouts import old_config_layout
from seqattnet.config import load_config
from seqattnet.engine import checkpoint
from seqattnet.engine.checkpoint import load_model, save_checkpoint
from seqattnet.engine.fit import resume_config
from seqattnet.model import SeqAttNet

TINY = ["model.temporal_scale=16", "model.max_duration=16", "model.feature_dim=8", "model.num_classes=3",
        "model.base_channels=16", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4"]
CLASSES = ["a", "b", "c"]
# the map head's layers when they were one nn.Sequential (0, 2, 4, 6; the ReLUs and the sigmoid between)
SEQUENTIAL = {"reduce": "0", "conv_a": "2", "conv_b": "4", "out": "6"}


def old_layout(state: dict) -> dict:
    """The state dict as checkpoints written before the map head's layers had names hold it."""
    renamed = {}
    for key, value in state.items():
        for name, index in SEQUENTIAL.items():
            key = key.replace(f"map_head.{name}.", f"map_head.{index}.")
        renamed[key] = value
    return renamed


def test_a_checkpoint_in_the_sequential_map_head_layout_loads_with_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    cfg = load_config("demo", TINY)
    model = SeqAttNet(cfg.model).eval()
    save_checkpoint(tmp_path / "new.pt", model, cfg, CLASSES)
    state = torch.load(tmp_path / "new.pt", weights_only=True)
    state["model"] = old_layout(state["model"])
    assert "proposals.map_head.6.weight" in state["model"]
    torch.save(state, tmp_path / "old.pt")
    loaded, _, _ = load_model(tmp_path / "old.pt")
    features = torch.randn(2, 8, 16)
    with torch.no_grad():
        for got, want in zip(loaded(features), model(features)):
            assert torch.equal(got, want)
    assert set(loaded.state_dict()) == set(model.state_dict())


def test_load_model_builds_through_build_model(tmp_path, monkeypatch):
    """A variant composed in engine.build.build_model is what a checkpoint of it loads into."""
    torch.manual_seed(0)
    cfg = load_config("demo", TINY)
    save_checkpoint(tmp_path / "model.pt", SeqAttNet(cfg.model), cfg, CLASSES)
    built = []

    def recording_build(cfg):
        built.append(cfg.model.temporal_scale)
        return SeqAttNet(cfg.model)

    monkeypatch.setattr(checkpoint, "build_model", recording_build)
    load_model(tmp_path / "model.pt")
    assert built == [16]


def test_a_checkpoint_with_the_old_config_layout_loads_and_resumes(tmp_path):
    torch.manual_seed(0)
    cfg = load_config("thumos14", TINY)
    save_checkpoint(tmp_path / "last.pt", SeqAttNet(cfg.model), cfg, CLASSES)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["config"] = old_config_layout(state["config"])
    assert state["config"]["data"]["protocol"] == "thumos" and "enabled" not in state["config"].get("windows", {})
    torch.save(state, tmp_path / "last.pt")
    _, loaded, _ = load_model(tmp_path / "last.pt", overrides=["data.window_overlap=0.25", "data.protocol=activitynet"])
    assert (loaded.windows.enabled, loaded.windows.overlap, loaded.evaluation.protocol) == (True, 0.25, "activitynet")
    resumed = resume_config(tmp_path, None, ["data.synthetic_mode=hard", "train.epochs=3"])
    assert (resumed.evaluation.protocol, resumed.synthetic.mode, resumed.train.epochs) == ("thumos", "hard", 3)
