"""The registry of conformance handlers, keyed by ``"<suite>/<id>"``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Workflow = Callable[..., Any]
W = TypeVar("W", bound=Workflow)

HANDLERS: dict[str, Workflow] = {}


def requirement(key: str) -> Callable[[W], W]:
    """Register the decorated workflow as the handler of requirement ``key``."""

    def register(workflow: W) -> W:
        if key in HANDLERS:
            raise ValueError(f"two handlers registered for requirement {key}")
        HANDLERS[key] = workflow
        return workflow

    return register
