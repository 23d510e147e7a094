"""Handlers for the ``invoke`` suite (requirements 5-x), and the functions they invoke.

The targets are orchestra workflows, so that each runs as a child durable execution on the
emulator and the ``ChainedInvokeStarted`` event carries its ``DurableExecutionArn``, as
with the reference's durable target functions.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from orchestra import Child, Duration, Invoke, InvokeError, Step, Wait

from ._registry import requirement, target

ECHO = "echo-target"
FAILING = "failing-target"
LARGE = "large-payload-target"

SubWorkflow = Generator[Any, Any, Any]


class TargetFailure(Exception):
    """The error the failing target throws."""


@target(ECHO)
def echo_target(event: Any) -> Any:
    """Waits a second (so the caller really suspends), then returns its input."""
    yield Wait(Duration.seconds(1))
    return event


@target(FAILING)
def failing_target(event: Any) -> Any:
    yield Wait(Duration.seconds(1))
    raise TargetFailure("the invoked function failed")


@target(LARGE)
def large_payload_target(event: Any) -> Any:
    yield Wait(Duration.seconds(1))
    return {"received": len(event["data"])}


@requirement("invoke/5-1")
def invoke_basic(event: Any) -> Any:
    return (yield Invoke(ECHO, event))


@requirement("invoke/5-2")
def invoke_with_name(event: Any) -> Any:
    return (yield Invoke(ECHO, event["payload"], name=event["name"]))


@requirement("invoke/5-3")
def invoke_complex_object(event: Any) -> Any:
    return (yield Invoke(ECHO, event))


@requirement("invoke/5-4")
def invoke_null(event: Any) -> Any:
    return (yield Invoke(ECHO, None))


@requirement("invoke/5-5")
def invoke_target_fails(event: Any) -> Any:
    return (yield Invoke(FAILING))


@requirement("invoke/5-6")
def invoke_target_fails_caught(event: Any) -> Any:
    try:
        return (yield Invoke(FAILING))
    except InvokeError as error:
        return {"fallback": True, "error": error.error_type}


@requirement("invoke/5-7")
def invoke_large_payload(event: Any) -> Any:
    return (yield Invoke(LARGE, {"data": "x" * 200_000}))


@requirement("invoke/5-8")
def invoke_with_tenant(event: Any) -> Any:
    return (yield Invoke(ECHO, event["payload"], tenant_id=event["tenantId"]))


@requirement("invoke/5-9")
def invoke_then_wait(event: Any) -> Any:
    result = yield Invoke(ECHO, "cached")
    yield Wait(Duration.seconds(1))
    return result


@requirement("invoke/5-10")
def invoke_fails_then_wait(event: Any) -> Any:
    try:
        result = yield Invoke(FAILING)
    except InvokeError:
        result = "caught"
    yield Wait(Duration.seconds(1))
    return result


def produce() -> str:
    return "from step"


@requirement("invoke/5-11")
def step_then_invoke(event: Any) -> Any:
    value = yield Step(produce)
    return (yield Invoke(ECHO, value))


def consume(value: Any) -> str:
    return f"step got {value}"


@requirement("invoke/5-12")
def invoke_then_step(event: Any) -> Any:
    result = yield Invoke(ECHO, "from invoke")
    return (yield Step(consume, result))


def invoke_in_child() -> SubWorkflow:
    return (yield Invoke(ECHO, "from child"))


@requirement("invoke/5-13")
def invoke_inside_child(event: Any) -> Any:
    return (yield Child(invoke_in_child))


@requirement("invoke/5-14")
def invoke_twice(event: Any) -> Any:
    first = yield Invoke(ECHO, "first")
    second = yield Invoke(ECHO, "second")
    return [first, second]


class UppercasePayloadSerde:
    """JSON, with every string value upper-cased on the way out."""

    def serialize(self, value: Any) -> str:
        return json.dumps(_upper(value))

    def deserialize(self, data: str) -> Any:
        return json.loads(data)


def _upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, dict):
        return {key: _upper(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_upper(item) for item in value]
    return value


@requirement("invoke/5-15")
def invoke_custom_payload_serde(event: Any) -> Any:
    return (yield Invoke(ECHO, event, payload_serde=UppercasePayloadSerde()))


class UppercaseResultSerde:
    """Reads a result as its raw text, upper-cased (so ``"hello"`` keeps its quotes)."""

    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, data: str) -> Any:
        return data.upper()


@requirement("invoke/5-16")
def invoke_custom_result_serde(event: Any) -> Any:
    return (yield Invoke(ECHO, event, serde=UppercaseResultSerde()))
