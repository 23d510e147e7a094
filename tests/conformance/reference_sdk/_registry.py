"""The registry of reference-SDK workflows, keyed by ``"<suite>/<id>"``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

#: The suites these workflows cover.
SUITES = ("step", "wait", "child")

Workflow = Callable[[Any, Any], Any]
W = TypeVar("W", bound=Workflow)

HANDLERS: dict[str, Workflow] = {}


def requirement(key: str) -> Callable[[W], W]:
    """Register the decorated workflow ``f(event, context)`` for requirement ``key``."""

    def register(workflow: W) -> W:
        if key in HANDLERS:
            raise ValueError(f"two reference-SDK workflows registered for requirement {key}")
        HANDLERS[key] = workflow
        return workflow

    return register
