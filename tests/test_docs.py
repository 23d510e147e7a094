"""Every Python example in the README and docs/ runs as written.

A block that cannot run on its own (it imports the reader's project, or talks to AWS) is
preceded by ``<!-- docs-test: not run, <reason> -->``; the reason is required.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(<!-- docs-test: not run, (?P<reason>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S
)


def examples() -> list[tuple[str, str | None, str]]:
    found = []
    for page in PAGES:
        for n, match in enumerate(BLOCK.finditer(page.read_text())):
            found.append((f"{page.name}#{n}", match.group("reason"), match.group("code")))
    return found


EXAMPLES = examples()


def test_every_page_has_runnable_examples():
    pages = {key.split("#")[0] for key, reason, _ in EXAMPLES if reason is None}
    assert {
        "README.md",
        "determinism.md",
        "testing.md",
        "getting-started.md",
        "callbacks.md",
        "invoke.md",
        "wait-for-condition.md",
        "replay-safe-helpers.md",
        "map.md",
        "parallel.md",
        "completion-policies.md",
        "combinators.md",
    } <= pages


@pytest.mark.parametrize(
    ("key", "code"),
    [(key, code) for key, reason, code in EXAMPLES if reason is None],
    ids=[key for key, reason, _ in EXAMPLES if reason is None],
)
def test_example_runs(key: str, code: str, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    levels[""] = root.level
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, key, "exec"), {"__name__": f"docs_{key}"})
    finally:  # an example may call logging.basicConfig or set a logger's level
        root.handlers[:] = handlers
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))
        root.setLevel(levels[""])


def test_skipped_examples_say_why():
    for key, reason, _ in EXAMPLES:
        if reason is not None:
            assert len(reason.strip()) > 10, key
