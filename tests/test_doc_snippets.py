"""Every ```python block of README.md and docs/*.md runs, so the docs cannot drift from the code.

The blocks of one file run in order in one namespace (a reader's session: a later block may use an
earlier one's names), in a scratch folder laid out as `make demo` leaves it, with a tiny run in place
of the demo's: runs/demo/ (last.pt, config.yaml, results_validation.json, data/ with F = 400 features
like the demo's) and its TorchScript export in exported/. A block whose first line is `# not run: why`
is skipped; NOT_RUN lists each one, so a new skip fails here until it is justified.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tiny_runs import TINY_RUN

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARK = "# not run:"
NOT_RUN = {  # file -> blocks skipped, and why (the reason is the block's first line)
    "data.md": ["writes the demo's 1,500 videos (511 MB)"],
    "video.md": ["needs seqattnet[video] (torchvision, PyAV), video files"],
}


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    from seqattnet.config import load_config
    from seqattnet.engine.fit import train
    from seqattnet.export import export_checkpoint

    root = tmp_path_factory.mktemp("docs")
    cfg = load_config("demo", [*TINY_RUN, "model.feature_dim=400", f"data.root={root / 'runs' / 'demo' / 'data'}",
                               "train.epochs=1", "train.num_threads=1"])
    train(cfg, root / "runs" / "demo", progress=False)
    export_checkpoint(root / "runs" / "demo" / "last.pt", root / "exported", fmt="torchscript")
    return root


def run_blocks(name: str, folder: Path, monkeypatch) -> dict:
    """The blocks of one doc run in `folder`, in order, in one namespace (returned)."""
    path = next(p for p in DOCS if p.name == name)
    monkeypatch.chdir(folder)
    namespace = {"__name__": f"doc_{path.stem}"}
    for i, block in enumerate(python_blocks(path)):
        if not block.startswith(SKIP_MARK):
            exec(compile(block, f"{name}, python block {i + 1}", "exec"), namespace)
    return namespace


def test_every_doc_block_is_found_and_only_the_listed_ones_are_skipped():
    blocks = {path.name: python_blocks(path) for path in DOCS}
    assert sum(len(b) for b in blocks.values()) >= 10  # the scan finds the docs' blocks
    skipped = {name: [b.splitlines()[0][len(SKIP_MARK):].strip() for b in found if b.startswith(SKIP_MARK)]
               for name, found in blocks.items()}
    skipped = {name: reasons for name, reasons in skipped.items() if reasons}
    assert skipped.keys() == NOT_RUN.keys(), skipped
    for name, reasons in NOT_RUN.items():
        assert len(skipped[name]) == len(reasons) and all(s.startswith(r) for s, r in zip(skipped[name], reasons))


def test_readme_python(scratch, monkeypatch, capsys):
    ns = run_blocks("README.md", scratch, monkeypatch)
    annotations = json.loads((scratch / "runs" / "demo" / "data" / "annotations.json").read_text())["database"]
    assert len(ns["results"]) == len(annotations) == 32  # every feature file of the demo's data
    assert "Results: 32 videos" in capsys.readouterr().out  # the first example's print
    saved = json.loads((scratch / "results.json").read_text())
    assert saved["results"] == ns["results"].to_dict() and len(list((scratch / "plots").glob("*.png"))) == 2
    assert 0.0 <= ns["report"].detection.average_mAP <= 1.0
    import torch

    assert torch.load(scratch / "runs" / "mine" / "last.pt", weights_only=False)["epoch"] == 2  # resumed


def test_data_python(scratch, monkeypatch):
    ns = run_blocks("data.md", scratch, monkeypatch)
    assert ns["sample"].features.shape == (400, 100) and len(ns["ds"]) == 24  # the tiny run's training videos


def test_evaluation_python(scratch, monkeypatch):
    ns = run_blocks("evaluation.md", scratch, monkeypatch)
    metrics = json.loads((scratch / "runs" / "demo" / "metrics.json").read_text())
    assert ns["m"].average_mAP == pytest.approx(metrics["average_mAP"])  # the run's own validation results
    assert (scratch / "diag" / "report.html").exists()
    assert ns["r"].indices.tolist()[0] == 0 and len(ns["b"].valid[0]) >= 1


def test_video_python_gives_predicts_detections(scratch, monkeypatch):
    import seqattnet

    ns = run_blocks("video.md", scratch, monkeypatch)
    assert [p.name for p in ns["paths"]] == ["syn00.html", "syn00.png", "syn01.html", "syn01.png", "index.html"]
    exported, = ns["detections"]
    predicted = seqattnet.load(scratch / "runs" / "demo" / "last.pt").predict(ns["path"], fps=30, progress=False)[0]
    assert exported.duration_s == pytest.approx(predicted.duration_s)
    assert np.array_equal(exported.labels[:10], predicted.labels[:10])
    assert np.allclose(exported.segments_s[:10], predicted.segments_s[:10], atol=1e-3 * predicted.duration_s)
    assert np.allclose(exported.scores[:10], predicted.scores[:10], atol=1e-4)


@pytest.mark.parametrize("name", [p.name for p in DOCS if python_blocks(p)])
def test_every_doc_with_python_has_a_test(name):
    assert f"test_{Path(name).stem.lower()}_python" in "".join(globals())
