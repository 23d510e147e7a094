"""The registry of conformance handlers, keyed by ``"<suite>/<id>"``, and of invoke targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Workflow = Callable[..., Any]
W = TypeVar("W", bound=Workflow)

HANDLERS: dict[str, Workflow] = {}

#: Chained-invoke targets by function name: plain functions or workflows (durable targets).
TARGETS: dict[str, Workflow] = {}


def requirement(key: str) -> Callable[[W], W]:
    """Register the decorated workflow as the handler of requirement ``key``."""

    def register(workflow: W) -> W:
        if key in HANDLERS:
            raise ValueError(f"two handlers registered for requirement {key}")
        HANDLERS[key] = workflow
        return workflow

    return register


def target(function_name: str) -> Callable[[W], W]:
    """Register the decorated function or workflow as the invoke target ``function_name``."""

    def register(function: W) -> W:
        if function_name in TARGETS:
            raise ValueError(f"two invoke targets registered as {function_name}")
        TARGETS[function_name] = function
        return function

    return register
