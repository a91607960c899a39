"""Modules stay small and functions short: every module under src/seqattnet at most 400 lines, and the
median function (methods and nested functions included, measured with ast) at most 15 lines."""

import ast
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "seqattnet"
MAX_MODULE_LINES = 400
MAX_MEDIAN_FUNCTION_LINES = 15


def modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def function_lengths(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_every_module_is_at_most_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by idea): {long}"


def test_the_median_function_is_at_most_15_lines():
    lengths = [n for p in modules() for n in function_lengths(p)]
    assert len(lengths) > 100  # the measure sees the package
    assert statistics.median(lengths) <= MAX_MEDIAN_FUNCTION_LINES, \
        f"median function length {statistics.median(lengths)} lines; shorten the longest functions"
