"""pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:
    ``orchestra_runner``: a factory ``orchestra_runner(workflow, **options) -> LocalRunner``
    whose runners share one in-memory emulator per test.
    ``replay_check``: :func:`~orchestra.testing.check_replay_determinism`.
    ``replayer``: a factory ``replayer(workflow) -> Replayer``.

Example (in a user's test module)::

    def test_greets(orchestra_runner):
        run = orchestra_runner(my_workflow).run("World")
        assert run.result == "Hello, World!"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestra.service.local.engine import LocalService
from orchestra.testing.checks import check_replay_determinism
from orchestra.testing.replay import Replayer
from orchestra.testing.runner import LocalRunner

__all__ = ["orchestra_runner", "replay_check", "replayer"]


@pytest.fixture
def orchestra_runner() -> Callable[..., LocalRunner]:
    """A factory of :class:`LocalRunner` sharing one emulator for the test."""
    service = LocalService()

    def make(workflow: Callable[..., Any], **options: Any) -> LocalRunner:
        return LocalRunner(workflow, service=service, **options)

    return make


@pytest.fixture
def replay_check() -> Callable[..., Any]:
    """:func:`check_replay_determinism`, as a fixture."""
    return check_replay_determinism


@pytest.fixture
def replayer() -> Callable[[Callable[..., Any]], Replayer]:
    """A factory of :class:`Replayer`."""
    return Replayer
