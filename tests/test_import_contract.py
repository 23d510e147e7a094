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


def imported_modules(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


AMBIENT = {"orchestra._context", "orchestra._logging", "contextvars"}


def test_the_interpreter_sets_no_logging_context_the_runtime_does():
    for module in sorted(INTERPRETER.glob("*.py")):
        assert not imported_modules(module) & AMBIENT, module.name


def test_the_contract_layers_name_service_and_wire():
    import tomllib

    config = tomllib.loads((INTERPRETER.parents[1] / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["type"] == "layers"]
    assert layers == [
        "orchestra.cli",
        "orchestra.server | orchestra.testing",
        "orchestra.runtime",
        "orchestra.interpreter | orchestra.service",
        "orchestra.wire",
    ]
    [forbidden] = [c for c in contracts if c["type"] == "forbidden"]
    assert {"orchestra._context", "orchestra._logging"} <= set(forbidden["forbidden_modules"])


def test_the_writer_imports_no_interpreter_types():
    writer = INTERPRETER.parent / "runtime" / "writer.py"
    assert not {m for m in imported_modules(writer) if m.startswith("orchestra.interpreter")}
