"""pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:
    ``orchestra_runner``: a factory ``orchestra_runner(workflow, **options) -> LocalRunner``
    whose runners share one in-memory emulator per test.

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
from orchestra.testing.runner import LocalRunner

__all__ = ["orchestra_runner"]


@pytest.fixture
def orchestra_runner() -> Callable[..., LocalRunner]:
    """A factory of :class:`LocalRunner` sharing one emulator for the test."""
    service = LocalService()

    def make(workflow: Callable[..., Any], **options: Any) -> LocalRunner:
        return LocalRunner(workflow, service=service, **options)

    return make
