"""examples/approval_cli.py: docs/cli.md's walkthrough, run as a script (each command a process)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "approval_cli.py"


def test_approval_cli_example_plays_the_walkthrough():
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit 2" in done.stdout  # waiting for the approval
    assert "-> RUNNING" in done.stdout
    assert "ExecutionSucceeded: EXP-17 approved" in done.stdout
