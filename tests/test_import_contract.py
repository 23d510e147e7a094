"""The pure interpreter imports no threads, clocks, boto3 or I/O (checked in CI too)."""

from __future__ import annotations

import ast
import pathlib

FORBIDDEN = {
    "threading",
    "time",
    "boto3",
    "botocore",
    "logging",
    "socket",
    "sqlite3",
    "concurrent",
    "asyncio",
    "subprocess",
    "os",
    "io",
    "random",
    "queue",
    "urllib",
    "http",
}
INTERPRETER = pathlib.Path(__file__).resolve().parents[1] / "orchestra" / "interpreter"


def imported_roots(path: pathlib.Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_interpreter_modules_import_nothing_forbidden():
    modules = sorted(INTERPRETER.glob("*.py"))
    assert modules
    for module in modules:
        assert not imported_roots(module) & FORBIDDEN, module.name


def test_the_check_detects_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom concurrent.futures import Future\n")
    assert imported_roots(bad) & FORBIDDEN == {"time", "concurrent"}
