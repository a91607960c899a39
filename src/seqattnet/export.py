"""A checkpoint as two deployable graphs (ONNX or TorchScript), the facts needed to run them, and a runner.

    proposals graph: features float[B, F, T] -> start, end float[B, T]; confidence float[B, 2, D, T]
    heads graph:     features float[B, F, T], proposals int64[P, 3] -> offsets float[P, 2],
                     class_log_probs float[P, Nc]

Decoding the candidates and Soft-NMS run between and after the two graphs: they are data-dependent
and cheap, so they stay in `seqattnet.postprocess` (or any reimplementation that reads export.json).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from .version import __version__
from .config import Config, InferenceConfig
from .engine.checkpoint import load_model
from .errors import InputError
from .files import atomic_writes, failed_write
from .model import HeadOutputs, ProposalMaps, SeqAttNet

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 18  # the opset torch's exporter (onnxscript's torchlib) writes natively
BM_IMPL = "dense"  # the boundary-matching contraction as one matmul: the "sparse" path's embedding bags do not export
PROPOSAL_OUTPUTS = ("start", "end", "confidence")
HEAD_INPUTS, HEAD_OUTPUTS = ("features", "proposals"), ("offsets", "class_log_probs")


class ProposalGraph(nn.Module):
    """The proposal stage alone, with the exportable BM contraction (the same function as the model's)."""

    def __init__(self, model: SeqAttNet):
        super().__init__()
        self.proposals = copy.deepcopy(model.proposals)
        self.proposals.boundary_matching.impl = BM_IMPL

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """features: Tensor[B, F, T] -> start, end: Tensor[B, T]; confidence: Tensor[B, 2, D, T]."""
        maps = self.proposals(features)
        return maps.start, maps.end, maps.confidence


class HeadsGraph(nn.Module):
    """`SeqAttNet.heads` as one group of width T: no data-dependent control flow, the same outputs.

    Without an error head the offsets are zeros, which `score_candidates` treats as no refinement.
    """

    def __init__(self, model: SeqAttNet, refine_steps: int = 1):
        super().__init__()
        # the model without its proposal stage (that is ProposalGraph's), sharing the heads' modules, so
        # the graph holds the heads' weights only
        self.model = copy.copy(model)
        self.model._modules = {name: m for name, m in model._modules.items() if name != "proposals"}
        self.refine_steps = refine_steps  # the boundary head's steps, fixed in the graph (inference.refine_steps)

    def forward(self, features: torch.Tensor, proposals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features: Tensor[B, F, T]; proposals: long Tensor[P, 3] (batch index, start_idx, end_idx)
        -> offsets: Tensor[P, 2] in units of the video, class_log_probs: Tensor[P, Nc]."""
        heads = self.model.heads(features, proposals, self.refine_steps, width=self.model.temporal_scale)
        log_probs = heads.class_log_probs  # (P, Nc)
        offsets_norm = heads.offsets if heads.offsets is not None else log_probs.new_zeros(log_probs.shape[0], 2)
        return offsets_norm, log_probs  # (P, 2), (P, Nc)


def export_files(fmt: str) -> list[str]:
    """The names an export of format `fmt` writes into its folder: the two graphs, then export.json."""
    return [f"proposals{FORMATS.get(fmt, '')}", f"heads{FORMATS.get(fmt, '')}", "export.json"]


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, fmt: str = "onnx") -> list[Path]:
    """Write DIR/proposals.{onnx|pt}, DIR/heads.{onnx|pt} and DIR/export.json; returns their paths.

    The three are written to temporary files and renamed together once all are whole, so a failed export
    leaves an earlier one in DIR as it was.
    """
    if fmt not in FORMATS:
        raise InputError.at("--format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require("--format onnx", "onnx", "onnxscript")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError.at(out, "is a file; --out names the folder the exported files go to")
    model, cfg, classes = load_model(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    proposals, heads = ProposalGraph(model).eval(), HeadsGraph(model, cfg.inference.refine_steps).eval()
    features, rows = example_inputs(cfg)
    paths = [out / name for name in export_files(fmt)]
    manifest = json.dumps(describe(cfg, classes, fmt, paths[:2], Path(checkpoint).name), indent=2) + "\n"
    with torch.no_grad(), atomic_writes(paths) as temporary:
        if fmt == "onnx":
            _write_onnx(proposals, (features,), ("features",), PROPOSAL_OUTPUTS, temporary[0])
            _write_onnx(heads, (features, rows), HEAD_INPUTS, HEAD_OUTPUTS, temporary[1])
        else:
            _write_torchscript(proposals, (features,), temporary[0], paths[0])
            _write_torchscript(heads, (features, rows), temporary[1], paths[1])
        temporary[2].write_text(manifest, encoding="utf-8")
    return paths


def example_inputs(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Tracing inputs: features Tensor[2, F, T] and proposals long Tensor[5, 3].

    The batch and the proposal count differ and exceed 1, so the exporter keeps them as two dynamic axes.
    """
    m = cfg.model
    T = m.temporal_scale
    features = torch.randn(2, m.feature_dim, T, generator=torch.Generator().manual_seed(0))  # (2, F, T)
    rows = torch.tensor([[0, 0, T], [0, 0, 1], [1, T // 2, T], [1, T - 1, T], [0, T // 3, T // 2 + 1]])  # (5, 3)
    return features, rows


def _require(source: object, *modules: str) -> None:
    """ONNX's packages are the optional extra `seqattnet[export]`: say so when one is missing."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise InputError.at(source, f"needs the {name!r} package, which is not installed: "
                                'pip install "seqattnet[export]" (or export with --format torchscript)') from None


def _write_onnx(graph: nn.Module, inputs: tuple, input_names: tuple, output_names: tuple, path: Path) -> None:
    dims = {"features": {0: torch.export.Dim("batch")}, "proposals": {0: torch.export.Dim("num_proposals")}}
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)  # it lists torchvision's ops it skips: nothing here uses them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own pytree deprecation, not ours to act on
            torch.onnx.export(graph, inputs, path, input_names=list(input_names), output_names=list(output_names),
                              opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                              dynamic_shapes={name: dims[name] for name in input_names})
    finally:
        registry_log.setLevel(level)


def _write_torchscript(graph: nn.Module, inputs: tuple, path: Path, final: Path) -> None:
    """Trace `graph` and save it to `path`, the temporary file that becomes `final` (named in errors)."""
    with warnings.catch_warnings():
        # the tracer warns where Python reads the grid's D and T, which the model fixes: they are constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(graph, inputs)
    try:
        traced.save(str(path))
    except RuntimeError as e:  # torch's writer reports a full disk as a RuntimeError
        raise failed_write(final, e) from None


def describe(cfg: Config, classes: list[str], fmt: str, paths: list[Path], checkpoint: str) -> dict:
    """export.json: what decoding and Soft-NMS outside this package need, and the graphs' signatures."""
    m, d = cfg.model, cfg.data
    F, T, D, Nc = m.feature_dim, m.temporal_scale, m.max_duration, m.num_classes
    features = {"name": "features", "dtype": "float32", "shape": ["batch", F, T]}
    return {
        "format": fmt,
        "opset": OPSET if fmt == "onnx" else None,
        "seqattnet_version": __version__,
        "torch_version": torch.__version__,
        "checkpoint": checkpoint,
        "model": {"feature_dim": F, "temporal_scale": T, "max_duration": D, "num_classes": Nc,
                  "error_head": m.error_head, "error_input": m.error_input, "amassment": m.amassment,
                  "amass_context": m.amass_context},
        "features": {"backbone": d.backbone, "stride_frames": d.stride_frames, "window_frames": d.window_frames,
                     "fps": d.fps, "rescaled": d.rescaled, "windows": cfg.windows.enabled, "window_overlap": cfg.windows.overlap},
        "inference": dataclasses.asdict(cfg.inference),
        "classes": list(classes),
        "graphs": {
            "proposals": {
                "file": paths[0].name,
                "inputs": [features],
                "outputs": [{"name": "start", "dtype": "float32", "shape": ["batch", T]},
                            {"name": "end", "dtype": "float32", "shape": ["batch", T]},
                            {"name": "confidence", "dtype": "float32", "shape": ["batch", 2, D, T],
                             "layout": "channel 0 M_CR, 1 M_CC; cell (d, s) is snippets s .. s + d"}],
            },
            "heads": {
                "file": paths[1].name,
                "inputs": [features, {"name": "proposals", "dtype": "int64", "shape": ["num_proposals", 3],
                                      "layout": "batch index, start_idx, end_idx (exclusive) on the T grid"}],
                "outputs": [{"name": "offsets", "dtype": "float32", "shape": ["num_proposals", 2],
                             "layout": "(delta_s, delta_e) in units of the video; zeros without an error head"},
                            {"name": "class_log_probs", "dtype": "float32", "shape": ["num_proposals", Nc]}],
            },
        },
    }


class ExportedModel:
    """An export folder run with onnxruntime or TorchScript, in place of a SeqAttNet at inference.

    `exported(features)` and `exported.heads(features, proposals)` return what the model's do, so
    `seqattnet.engine.inference.detect(exported, features, ids, durations_s, exported.inference)`
    gives the model's detections.
    """

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        manifest = folder / "export.json"
        if not manifest.exists():
            raise InputError.at(folder, "no export.json here; write the folder with `seqattnet export`")
        self.spec = json.loads(manifest.read_text(encoding="utf-8"))
        self.temporal_scale = self.spec["model"]["temporal_scale"]
        self.inference = InferenceConfig(**self.spec["inference"])
        self.classes = self.spec["classes"]
        files = [folder / self.spec["graphs"][name]["file"] for name in ("proposals", "heads")]
        if self.spec["format"] == "onnx":
            _require(folder, "onnxruntime")
            import onnxruntime

            self._proposals, self._heads = (onnxruntime.InferenceSession(str(f)) for f in files)
        else:
            self._proposals, self._heads = (torch.jit.load(str(f)) for f in files)

    def __call__(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps (start, end: (B, T); confidence: (B, 2, D, T))."""
        return ProposalMaps(*self._run(self._proposals, {"features": features}))

    def heads(self, features: torch.Tensor, proposals: torch.Tensor, refine_steps: int | None = None) -> HeadOutputs:
        """features: Tensor[B, F, T]; proposals: long Tensor[P, 3] -> HeadOutputs (offsets (P, 2), None without
        an error head; class_log_probs (P, Nc)). The graph's refinement steps were fixed at export."""
        exported = self.spec["inference"].get("refine_steps", 1)
        if refine_steps is not None and refine_steps != exported:
            raise InputError.at("inference.refine_steps", f"this export refines in {exported} step(s), "
                                f"not {refine_steps}; export again with --set inference.refine_steps={refine_steps}")
        offsets, log_probs = self._run(self._heads, {"features": features, "proposals": proposals})
        return HeadOutputs(offsets if self.spec["model"]["error_head"] else None, log_probs)

    def _run(self, graph, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        if isinstance(graph, torch.jit.ScriptModule):
            return list(graph(*inputs.values()))
        feeds = {name: t.detach().cpu().numpy() for name, t in inputs.items()}
        return [torch.from_numpy(a) for a in graph.run(None, feeds)]
