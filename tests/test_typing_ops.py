"""Typing: ``x = yield from op`` infers the operation's value type under ``mypy --strict``.

One mypy run checks every assertion in the snippet below (``assert_type`` fails the check
when the inferred type differs), so the module stays fast.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = textwrap.dedent(
    """
    from collections.abc import Generator
    from typing import Any, assert_type

    from orchestra import Child, Step, Wait
    from orchestra.serde import JsonSerde


    def charge(order_id: str) -> int:
        return len(order_id)


    def label(n: int) -> str:
        return str(n)


    def sub(n: int) -> Generator[Any, Any, str]:
        amount = yield from Step(charge, str(n))
        assert_type(amount, int)
        return f"charged {amount}"


    def workflow(n: int) -> Generator[Any, Any, tuple[str, str, int]]:
        from_generator = yield from Child(sub, n, name="sub")
        assert_type(from_generator, str)
        from_plain = yield from Child(label, n)
        assert_type(from_plain, str)
        typed = yield from Child(sub, n, serde=JsonSerde(str))
        assert_type(typed, str)
        yield from Wait(5)
        count = yield from Step(charge, "abc")
        assert_type(count, int)
        return from_generator, from_plain, count


    reveal_type(Child(sub, 1))
    reveal_type(Child(label, 1))
    """
)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    tmp = tmp_path_factory.mktemp("typing")
    source = tmp / "snippet.py"
    source.write_text(SNIPPET)
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp / ".mypy_cache"),
            "--config-file",
            str(Path(__file__).parent.parent / "pyproject.toml"),
            str(source),
        ]
    )
    return stdout + stderr, status


def test_yield_from_ops_infers_their_value_types(mypy_output):
    output, _ = mypy_output
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert errors == [], output


def test_child_infers_its_result_type_from_a_generator_or_a_plain_function(mypy_output):
    output, _ = mypy_output
    revealed = re.findall(r"Revealed type is \"([^\"]+)\"", output)
    assert len(revealed) == 2, output
    for text in revealed:
        assert re.fullmatch(r"orchestra\.ops\.Child\[(builtins\.)?str\]", text), output
