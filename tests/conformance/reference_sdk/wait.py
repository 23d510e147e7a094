"""The ``wait`` suite (requirements 2-x) with the reference SDK."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration

from ._registry import requirement


@requirement("wait/2-1")
def wait_basic(event: Any, context: DurableContext) -> Any:
    context.wait(Duration.from_seconds(2))
    return "Wait completed"


@requirement("wait/2-2")
def wait_with_name(event: Any, context: DurableContext) -> Any:
    context.wait(Duration.from_seconds(2), name="custom_wait_name")
    return "Wait completed"


@requirement("wait/2-3")
def wait_multiple_sequential(event: Any, context: DurableContext) -> Any:
    context.wait(Duration.from_seconds(2), name="wait-1")
    context.wait(Duration.from_seconds(2), name="wait-2")
    return {"completedWaits": 2}


@requirement("wait/2-4")
def wait_duration_units(event: Any, context: DurableContext) -> Any:
    context.wait(Duration.from_minutes(1))
    return "Wait completed"


@requirement("wait/2-5")
def wait_long_duration(event: Any, context: DurableContext) -> Any:
    context.wait(Duration.from_hours(1))
    return "Wait completed"
