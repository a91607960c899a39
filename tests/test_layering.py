"""Imports flow one way through the pipeline's stages (docs/architecture.md).

Every import of every module under src/seqattnet/ counts: module level, inside functions and under
`if TYPE_CHECKING:`. The rules are checked on a graph of (importer, imported) module names, so the
fake graphs below show that each rule reports what it should.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "seqattnet"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Each top-level module or package of seqattnet and its stage: a component imports only from its own stage
# or below. Stage 0 holds the plain pieces every stage may use (the version among them); the package's
# __init__ offers the Python API (api.py) and so sits above everything else.
STAGES = {
    "version": 0, "config": 0, "config_files": 0, "config_sections": 0, "errors": 0, "structures": 0, "files": 0, "ops": 0,
    "devices": 0,
    "data": 1,
    "labels": 2, "model": 2, "losses": 2,
    "postprocess": 3,
    "evaluation": 4, "plot": 4,
    "engine": 5,
    "video": 6, "report": 6, "export": 6, "benchmark": 6,
    "pipeline": 7, "watch": 7, "api": 7,  # detect's and watch's compositions; the Python API (load, Detector, ...)
    "cli": 8, "commands": 8,  # the parser and main; the subcommands it is built from
    "__init__": 9,  # `seqattnet.load` and `seqattnet.train`, from api.py on first use
    "testing": 9,  # slow references for the tests and benchmarks: nothing in the package imports them
}
FORBIDDEN = {  # imports that the stage order alone would allow
    "evaluation": {"torch", "model", "labels", "losses", "engine"},  # mAP and AR need numpy and the results only
    "model": {"labels", "losses"},  # the model maps features to predictions and nothing else
    "video": {"engine", "model", "report"},  # extraction writes the feature files the data stage reads
    "report": {"engine", "model"},  # reports draw Detections and evaluation results, whatever made them
}
ARGV_READERS = {"cli"}  # the one component that reads the command line (cli.py)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(name: str, tree: ast.AST, is_package: bool) -> set[str]:
    """Absolute names of everything `name`'s source imports, wherever in the file the import stands."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import plots` is a module
    return found


def reads_argv(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", None) == "sys":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "argv" for a in node.names):
            return True
    return False


def package_graph() -> tuple[dict[str, set[str]], set[str]]:
    """(module -> modules and outside packages it imports, modules that read sys.argv) of the real package."""
    modules = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    graph, argv = {}, set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = imported_modules(name, tree, path.name == "__init__.py")
        if reads_argv(tree):
            argv.add(name)
    return graph, argv


def component(name: str) -> str | None:
    """`seqattnet.data.dataset` -> "data", `seqattnet` or `seqattnet.__version__` -> "__init__", an outside
    package -> its top-level name with a "!" in front (`!torch`), so it cannot be mistaken for one of ours."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return "!" + parts[0]
    if len(parts) == 1 or parts[1].startswith("__"):
        return "__init__"
    return parts[1]


def component_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(component(a), component(b)) for a, targets in graph.items() for b in targets
            if component(a) != component(b)}


def private_name(target: str) -> bool:
    """`seqattnet.data.dataset._probe_rows`: a name its module keeps to itself (dunders are public)."""
    last = target.rsplit(".", 1)[-1]
    return last.startswith("_") and not last.startswith("__")


def forbidden_reach(graph: dict[str, set[str]], start: str, banned: set[str]) -> dict[str, tuple[str, ...]]:
    """Banned component -> the shortest import path by which `start` reaches it, through modules of other
    components only (a path through a sibling of `start` is reported at that sibling)."""
    own, found = component(start), {}
    paths, todo = {start: (start,)}, [start]
    while todo:  # breadth first: the first path found to a module is a shortest one
        node = todo.pop(0)
        for target in sorted(graph.get(node, ())):
            module = next((m for m in (target, target.rsplit(".", 1)[0]) if m in graph), target)
            name = component(module).lstrip("!")
            if module in paths or component(module) == own:
                continue
            paths[module] = paths[node] + (module,)
            if name in banned:
                found.setdefault(name, paths[module])
            else:
                todo.append(module)
    return found


def violations(graph: dict[str, set[str]], argv_readers: set[str]) -> list[str]:
    """Every broken rule, one line each, for a graph of module -> imported modules."""
    found = []
    for a, targets in sorted(graph.items()):
        src = component(a)
        for b in sorted(targets):
            dst = component(b)
            if dst.startswith("!"):
                continue
            if dst not in STAGES or src not in STAGES:
                found.append(f"{a} imports {b}: {src if src not in STAGES else dst} has no stage in STAGES")
            elif STAGES[dst] > STAGES[src]:
                found.append(f"{a} imports {b}: {src} (stage {STAGES[src]}) imports from a later stage, "
                             f"{dst} (stage {STAGES[dst]})")
            elif private_name(b):
                found.append(f"{a} imports {b}: a private name of another module; make it public or move it")
        for banned, path in forbidden_reach(graph, a, FORBIDDEN.get(src, set())).items():
            found.append(f"{a} imports {' -> '.join(path[1:])}: {src} must not import {banned}")
    found += [f"cycle between packages: {' -> '.join(c)}" for c in cycles(component_edges(graph))]
    found += [f"{m} reads sys.argv: only {', '.join(sorted(ARGV_READERS))} may" for m in sorted(argv_readers)
              if component(m) not in ARGV_READERS]
    return found


def cycles(edges: set[tuple[str, str]]) -> list[tuple[str, ...]]:
    """One cycle (as a closed path) per strongly connected group of our components, by depth-first search."""
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        if not b.startswith("!"):
            succ.setdefault(a, set()).add(b)
    found, seen = [], set()
    for start in sorted(succ):
        stack = [(start, (start,))]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(succ.get(node, ())):
                if nxt == start:
                    cycle = path + (start,)
                    if frozenset(cycle) not in seen:
                        seen.add(frozenset(cycle))
                        found.append(cycle)
                elif nxt not in path and nxt > start:  # each cycle once, from its smallest member
                    stack.append((nxt, path + (nxt,)))
    return found


def test_the_package_follows_the_stages():
    graph, argv = package_graph()
    assert violations(graph, argv) == []


def test_every_component_has_a_stage():
    graph, _ = package_graph()
    assert {component(m) for m in graph} <= set(STAGES)


def test_the_graph_sees_function_level_and_type_checking_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..engine.inference import X\n"
              "def f():\n    from ..video import decode\n    import torch\n")
    found = imported_modules("seqattnet.report.html", ast.parse(source), is_package=False)
    assert {"seqattnet.engine.inference", "seqattnet.video.decode", "torch"} <= found


def test_relative_imports_resolve_from_modules_and_packages():
    tree = ast.parse("from . import __version__\nfrom .heads import amass\n")
    assert "seqattnet.__version__" in imported_modules("seqattnet.cli", tree, is_package=False)
    assert "seqattnet.model.heads" in imported_modules("seqattnet.model", tree, is_package=True)
    assert component("seqattnet.__version__") == "__init__"


@pytest.mark.parametrize("graph, argv, message", [
    ({"seqattnet.data.windows": {"seqattnet.engine.build"}}, set(), "imports from a later stage"),
    ({"seqattnet.evaluation.detection": {"torch"}}, set(), "evaluation must not import torch"),
    ({"seqattnet.evaluation.detection": {"seqattnet.model.heads"}}, set(), "evaluation must not import model"),
    ({"seqattnet.model.heads": {"seqattnet.losses"}}, set(), "model must not import losses"),
    ({"seqattnet.video.extract": {"seqattnet.engine.build"}}, set(), "video must not import engine"),
    ({"seqattnet.labels": {"seqattnet.losses.x"}, "seqattnet.losses": {"seqattnet.labels"}}, set(),
     "cycle between packages: labels -> losses -> labels"),
    ({"seqattnet.video.detect": {"seqattnet.report"}}, set(), "video must not import report"),
    ({"seqattnet.benchmark": set()}, {"seqattnet.benchmark"}, "seqattnet.benchmark reads sys.argv"),
    ({"seqattnet.newthing": {"seqattnet.errors"}}, set(), "has no stage"),
    ({"seqattnet.data.windows": {"seqattnet.data.dataset._probe_rows"}}, set(), "a private name of another module"),
    ({"seqattnet.evaluation.results": {"seqattnet.data.features"}, "seqattnet.data.features": {"torch"}}, set(),
     "seqattnet.evaluation.results imports seqattnet.data.features -> torch: evaluation must not import torch"),
])
def test_each_rule_reports_what_breaks_it(graph, argv, message):
    found = violations(graph, argv)
    assert len(found) == 1 and message in found[0], found


@pytest.mark.parametrize("importer, imported", [
    ("seqattnet.video.extract", "seqattnet.engine.build"),  # resolve_device lives in devices.py
    ("seqattnet.report.html", "seqattnet.engine.inference"),  # Detections lives in structures.py
    ("seqattnet.video.decode", "seqattnet.report.html"),  # detect's composition lives in pipeline.py
    ("seqattnet.data.windows", "seqattnet.data.dataset._probe_rows"),
    ("seqattnet.evaluation.results", "seqattnet.data.features"),  # through it, torch
    ("seqattnet.model.seqattnet", "seqattnet.losses"),
    ("seqattnet.engine.run", "seqattnet.pipeline"),
    ("seqattnet.engine.checkpoint", "seqattnet.__version__"),  # the version lives in version.py
    ("seqattnet.engine.run", "seqattnet.api"),  # the API calls the engine, not the reverse
])
def test_an_import_against_the_flow_added_to_the_package_fails(importer, imported):
    graph, argv = package_graph()
    assert importer in graph
    graph[importer] = graph[importer] | {imported}
    assert violations(graph, argv) != []


def test_a_good_graph_passes():
    graph = {"seqattnet.cli": {"seqattnet.pipeline", "seqattnet.errors", "argparse"},
             "seqattnet.pipeline": {"seqattnet.video.extract", "seqattnet.report.html", "seqattnet.engine.run"},
             "seqattnet.report.html": {"seqattnet.structures", "seqattnet.plot", "numpy"},
             "seqattnet.evaluation.detection": {"seqattnet.structures", "seqattnet.ops", "numpy"}}
    assert violations(graph, {"seqattnet.cli"}) == []


def test_argv_is_seen_in_either_spelling():
    assert reads_argv(ast.parse("import sys\nx = sys.argv[1:]\n"))
    assert reads_argv(ast.parse("from sys import argv\n"))
    assert not reads_argv(ast.parse("import sys\nsys.exit(0)\n"))
