"""After the README's ``pip install -e .``, type checkers in a user's project see orchestra.

setuptools' default editable install of a flat layout is an import hook (a meta-path
finder), which runs at import time but which mypy cannot follow: a user's ``mypy`` then
reports ``Cannot find implementation or library stub for module named "orchestra"``.
``pyproject.toml`` maps the root package directory explicitly so that the editable install
is a static ``.pth`` entry instead, which mypy reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

USER_MODULE = '''
    """A user's workflow module, outside the orchestra checkout."""

    from collections.abc import Generator
    from typing import Any

    from orchestra import RetryPolicy, Step


    def charge(order_id: str) -> str:
        return f"charged {order_id}"


    def checkout(order_id: str) -> Generator[Any, Any, str]:
        receipt = yield from Step(charge, order_id, retry=RetryPolicy.default())
        return receipt
'''


def test_mypy_in_a_users_project_resolves_orchestra(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    (tmp_path / "shop.py").write_text(textwrap.dedent(USER_MODULE), encoding="utf-8")
    # mypy runs in a fresh interpreter started in the user's directory: run in this
    # process, it would search this process's sys.path, which pytest extended with the
    # checkout, and would find orchestra however it was installed.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    script = (
        "import sys, mypy.api\n"
        "out, err, status = mypy.api.run(['--strict', '--no-incremental', 'shop.py'])\n"
        "sys.stdout.write(out + err)\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert "Cannot find implementation or library stub" not in output, output
    assert "missing library stubs" not in output, output
    assert proc.returncode == 0, output
