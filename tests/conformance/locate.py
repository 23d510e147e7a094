"""Where the conformance requirements are, and what happens when they are not there.

The YAML requirements live outside this repository, in ``shared/conformance``. They are
found through the ``ORCHESTRA_CONFORMANCE_DIR`` environment variable, or else in
``../shared/conformance`` beside the repository root. When neither exists (a fresh clone on
its own), the tests that need them are skipped with a reason naming both places, so that
the README's test command passes; ``ORCHESTRA_REQUIRE_CONFORMANCE=1`` (set by ``.ci/run``)
turns that skip into a failure, so that CI cannot pass without them.

A test that needs the requirements calls :func:`require_conformance_dir`; collection-time
code (parametrization) calls :func:`find_conformance_dir`. (A plain module rather than a
``conftest.py``: a second ``conftest`` module beside ``tests/conftest.py`` clashes with it
under ``--doctest-modules``.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_DIR = "ORCHESTRA_CONFORMANCE_DIR"
ENV_REQUIRE = "ORCHESTRA_REQUIRE_CONFORMANCE"
REPO_ROOT = Path(__file__).resolve().parents[2]
BESIDE_REPO = REPO_ROOT.parent / "shared" / "conformance"


def find_conformance_dir() -> Path | None:
    """``$ORCHESTRA_CONFORMANCE_DIR`` when set, else ``../shared/conformance``; None if absent."""
    configured = os.environ.get(ENV_DIR)
    path = Path(configured).expanduser() if configured else BESIDE_REPO
    return path if path.is_dir() else None


def missing_reason() -> str:
    """Why the requirements were not found, naming both places they are looked for."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        where = (
            f"{ENV_DIR}={configured!r} is not a directory (unset, it would be "
            f"{BESIDE_REPO}, ../shared/conformance beside the repository)"
        )
    else:
        where = (
            f"{ENV_DIR} is not set and {BESIDE_REPO} (../shared/conformance beside the "
            "repository) does not exist"
        )
    return (
        f"conformance requirements not found: {where}. Set {ENV_DIR} to the conformance "
        "directory, or check out shared/ beside the repository."
    )


def required() -> bool:
    """Whether a missing requirements directory fails the run instead of skipping."""
    return os.environ.get(ENV_REQUIRE, "").strip().lower() not in ("", "0", "false", "no")


def require_conformance_dir() -> Path:
    """The conformance requirements directory; skips the test (fails it, when required)."""
    path = find_conformance_dir()
    if path is None:
        if required():
            pytest.fail(f"{missing_reason()} ({ENV_REQUIRE} is set)", pytrace=False)
        pytest.skip(missing_reason())
    return path
