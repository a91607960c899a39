"""`seqattnet export`: the ONNX and TorchScript graphs compute what the PyTorch model does."""

import json
import sys

import pytest
import torch

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.engine.checkpoint import load_model, save_checkpoint
from seqattnet.engine.inference import detect
from seqattnet.errors import InputError
from seqattnet.export import ExportedModel, HeadsGraph, ProposalGraph, export_checkpoint
from seqattnet.model import SeqAttNet

T, F, NC = 16, 32, 5
TINY = [f"model.temporal_scale={T}", f"model.max_duration={T}", f"model.feature_dim={F}", f"model.num_classes={NC}",
        "model.base_channels=16", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4"]
CLASSES = [f"class{i}" for i in range(NC)]
# torch 2.13 deprecates TorchScript (trace, load) in favour of torch.export; the format still works
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def random_proposals(batch: int, count: int, seed: int = 1) -> torch.Tensor:
    """long Tensor[count, 3]: (batch index, start_idx, end_idx) with 0 <= start < end <= T."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, T, (count,), generator=g)
    end = start + 1 + (torch.rand(count, generator=g) * (T - start)).long()
    return torch.stack([torch.randint(0, batch, (count,), generator=g), start, end], dim=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random-init checkpoint exported in both formats through the command line."""
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    cfg = load_config("demo", TINY)
    save_checkpoint(root / "model.pt", SeqAttNet(cfg.model), cfg, CLASSES)
    for fmt in ("onnx", "torchscript"):
        assert main(["export", "--checkpoint", str(root / "model.pt"), "--format", fmt, "--out", str(root / fmt)]) == 0
    return root


def run_graphs(folder, fmt: str, features: torch.Tensor, proposals: torch.Tensor) -> list[torch.Tensor]:
    """start, end, confidence, offsets, class_log_probs from the exported files, run by their own runtime."""
    if fmt == "onnx":
        import onnxruntime

        maps = onnxruntime.InferenceSession(str(folder / "proposals.onnx")).run(None, {"features": features.numpy()})
        heads = onnxruntime.InferenceSession(str(folder / "heads.onnx")).run(
            None, {"features": features.numpy(), "proposals": proposals.numpy()})
        return [torch.from_numpy(a) for a in maps + heads]
    maps = torch.jit.load(str(folder / "proposals.pt"))(features)
    return list(maps) + list(torch.jit.load(str(folder / "heads.pt"))(features, proposals))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_graphs_match_pytorch_at_new_batch_and_proposal_counts(exported, fmt):
    model, _, _ = load_model(exported / "model.pt")  # bm_impl "auto": the sparse path, not the exported dense one
    features = torch.randn(3, F, T, generator=torch.Generator().manual_seed(7))  # exported with batch 2
    proposals = random_proposals(3, 11)  # exported with 5 proposals
    got = run_graphs(exported / fmt, fmt, features, proposals)
    with torch.no_grad():
        want = list(model(features)) + list(model.heads(features, proposals))
    assert [g.shape for g in got] == [(3, T), (3, T), (3, 2, T, T), (11, 2), (11, NC)]
    for name, g, w in zip(["start", "end", "confidence", "offsets", "class_log_probs"], got, want):
        assert (g - w).abs().max() <= 1e-4, name


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_gives_the_models_detections(exported, fmt):
    model, cfg, _ = load_model(exported / "model.pt")
    runner = ExportedModel(exported / fmt)
    features = torch.randn(4, F, T, generator=torch.Generator().manual_seed(3))
    durations = torch.tensor([12.0, 30.0, 45.5, 90.0])
    ids = ["a", "b", "c", "d"]
    for got, want in zip(detect(runner, features, ids, durations, runner.inference),
                         detect(model, features, ids, durations, cfg.inference)):
        assert len(got.scores) == len(want.scores) > 0
        torch.testing.assert_close(torch.from_numpy(got.segments_s), torch.from_numpy(want.segments_s),
                                   rtol=0, atol=1e-4)
        torch.testing.assert_close(torch.from_numpy(got.scores), torch.from_numpy(want.scores), rtol=0, atol=1e-5)
        assert (got.labels == want.labels).all()


def test_export_json_describes_the_graphs(exported):
    spec = json.loads((exported / "onnx" / "export.json").read_text())
    assert spec["format"] == "onnx" and spec["opset"] == 18 and spec["classes"] == CLASSES
    assert spec["model"] == {"feature_dim": F, "temporal_scale": T, "max_duration": T, "num_classes": NC,
                             "error_head": True, "error_input": "boundaries", "amassment": "pad", "amass_context": 0.0}
    assert spec["inference"]["max_candidates"] == 100 and spec["features"]["stride_frames"] == 16.0
    heads = spec["graphs"]["heads"]
    assert [i["name"] for i in heads["inputs"]] == ["features", "proposals"]
    assert heads["outputs"][1]["shape"] == ["num_proposals", NC]
    import onnx

    graph = onnx.load(str(exported / "onnx" / "heads.onnx")).graph
    assert [i.name for i in graph.input] == ["features", "proposals"]
    assert [o.name for o in graph.output] == ["offsets", "class_log_probs"]
    assert json.loads((exported / "torchscript" / "export.json").read_text())["graphs"]["proposals"]["file"] == \
        "proposals.pt"


@pytest.mark.parametrize("overrides", [[], ["model.amassment=resample"], ["model.amass_context=0.5"],
                                       ["model.error_input=proposal"], ["inference.refine_steps=2"],
                                       ["model.error_head=false", "model.attention=sigmoid"]])
def test_export_graphs_are_the_models_function(overrides):
    """Single width-T group and dense BM contraction: the same outputs as the model's grouped, sparse path."""
    torch.manual_seed(0)
    model = SeqAttNet(load_config("demo", TINY + overrides).model).eval()
    features, proposals = torch.randn(2, F, T), random_proposals(2, 9)
    with torch.no_grad():
        for got, want in zip(ProposalGraph(model)(features), model(features)):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        steps = load_config("demo", TINY + overrides).inference.refine_steps
        offsets, log_probs = HeadsGraph(model, steps)(features, proposals)
        heads = model.heads(features, proposals, steps)
    torch.testing.assert_close(log_probs, heads.class_log_probs, rtol=0, atol=1e-5)
    if heads.offsets is None:
        assert torch.equal(offsets, torch.zeros(9, 2))  # no refinement
    else:
        torch.testing.assert_close(offsets, heads.offsets, rtol=0, atol=1e-5)


def test_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nope.pt" in err and "checkpoint not found" in err


def test_missing_onnx_packages_say_what_to_install(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # `import onnxscript` now raises ImportError
    assert main(["export", "--checkpoint", str(exported / "model.pt"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "onnxscript" in err and 'pip install "seqattnet[export]"' in err and "\n" not in err
    assert not (tmp_path / "out").exists()  # failed before loading or writing anything
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InputError, match="onnxruntime"):
        ExportedModel(exported / "onnx")
    with pytest.raises(InputError, match="unknown format"):
        export_checkpoint(exported / "model.pt", tmp_path / "out", fmt="tflite")


def test_an_export_is_replaced_only_with_overwrite_and_whole(exported, tmp_path, monkeypatch, capsys):
    """A second export into a folder that holds one is refused; with --overwrite, a failure while writing
    the second graph (a full disk) leaves all three earlier files as they were."""
    import errno

    import seqattnet.export

    args = ["export", "--checkpoint", str(exported / "model.pt"), "--format", "torchscript", "--out", str(tmp_path)]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["export.json", "heads.pt", "proposals.pt"]
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.strip().endswith("already holds proposals.pt, heads.pt, export.json; pass "
                                                    "--overwrite to replace them, or choose another folder")
    real = seqattnet.export._write_torchscript

    def full_disk_at_the_heads(graph, inputs, path, final):
        if final.name == "heads.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(graph, inputs, path, final)

    monkeypatch.setattr(seqattnet.export, "_write_torchscript", full_disk_at_the_heads)
    torch.manual_seed(1)  # a different model, so that a replaced file would differ
    cfg = load_config("demo", TINY)
    save_checkpoint(tmp_path / "other.pt", SeqAttNet(cfg.model), cfg, CLASSES)
    assert main([*args[:2], str(tmp_path / "other.pt"), *args[3:], "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == f"seqattnet export: error: {tmp_path}: no space left on device"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "other.pt"} == before
