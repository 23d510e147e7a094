"""Handlers for the ``callback`` suite (requirements 4-x).

The runner answers the callbacks from outside (the requirement's ``CallbackActions``), on
the emulator's virtual clock; most handlers name their callback after the input.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs

from orchestra import (
    Callback,
    CallbackError,
    CallbackTimeoutError,
    Duration,
    Step,
    Wait,
)

from ._registry import requirement


def do_work() -> str:
    return "step done"


@requirement("callback/4-1")
def callback_basic(event: Any) -> Any:
    handle = yield Callback(name=event)
    return (yield handle)


@requirement("callback/4-2")
def callback_with_name(event: Any) -> Any:
    handle = yield Callback(name="approval")
    return (yield handle)


@requirement("callback/4-3")
def callback_timeout(event: Any) -> Any:
    handle = yield Callback(name=event, timeout=Duration.seconds(5))
    return (yield handle)


@requirement("callback/4-4")
def callback_heartbeat_timeout(event: Any) -> Any:
    handle = yield Callback(name=event, heartbeat_timeout=Duration.seconds(5))
    return (yield handle)


@requirement("callback/4-5")
def callback_heartbeat_then_success(event: Any) -> Any:
    handle = yield Callback(name=event, heartbeat_timeout=Duration.seconds(10))
    return (yield handle)


@requirement("callback/4-6")
def callback_failure(event: Any) -> Any:
    handle = yield Callback(name=event)
    return (yield handle)


@requirement("callback/4-7")
def callback_step_then_failure(event: Any) -> Any:
    handle = yield Callback(name=event)
    yield Step(do_work)
    return (yield handle)


@requirement("callback/4-8")
def callback_step_then_timeout(event: Any) -> Any:
    handle = yield Callback(name=event, timeout=Duration.seconds(5))
    yield Step(do_work)
    return (yield handle)


@requirement("callback/4-9")
def callback_wait_then_success(event: Any) -> Any:
    handle = yield Callback(name=event)
    yield Wait(Duration.seconds(5))
    return (yield handle)


@requirement("callback/4-10")
def callback_wait_then_failure(event: Any) -> Any:
    handle = yield Callback(name=event)
    yield Wait(Duration.seconds(5))
    return (yield handle)


@requirement("callback/4-11")
def callback_times_out_during_wait(event: Any) -> Any:
    handle = yield Callback(name=event, timeout=Duration.seconds(3))
    yield Wait(Duration.seconds(6))
    return (yield handle)


@requirement("callback/4-12")
def callback_then_wait(event: Any) -> Any:
    handle = yield Callback(name=event)
    result = yield handle
    yield Wait(Duration.seconds(2))
    return result


@requirement("callback/4-13")
def callback_failure_caught_then_wait(event: Any) -> Any:
    handle = yield Callback(name=event)
    try:
        message = yield handle
    except CallbackError as error:
        message = f"callback failed: {error.message}"
    yield Wait(Duration.seconds(2))
    return message


@requirement("callback/4-14")
def callback_timeout_caught_then_wait(event: Any) -> Any:
    handle = yield Callback(name=event, timeout=Duration.seconds(3))
    try:
        message = yield handle
    except CallbackTimeoutError:
        message = "callback timed out"
    yield Wait(Duration.seconds(2))
    return message


@attrs.frozen
class Received:
    """A typed callback payload: the timestamp is an aware datetime."""

    id: str
    message: str
    timestamp: datetime


class ReceivedSerde:
    """JSON text <-> :class:`Received`, the timestamp as ISO 8601 (``Z`` for UTC)."""

    def serialize(self, value: Received) -> str:
        stamp = value.timestamp.isoformat().replace("+00:00", "Z")
        return json.dumps({"id": value.id, "message": value.message, "timestamp": stamp})

    def deserialize(self, data: str) -> Received:
        raw = json.loads(data)
        stamp = datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00"))
        return Received(id=raw["id"], message=raw["message"], timestamp=stamp)


@requirement("callback/4-15")
def callback_typed_serde(event: Any) -> Any:
    handle = yield Callback(name=event, serde=ReceivedSerde())
    received: Received = yield handle
    return {
        "received": {
            "id": received.id,
            "message": received.message,
            "timestamp": int(received.timestamp.timestamp()),
        }
    }


class NumberSerde:
    """A number as its decimal text."""

    def serialize(self, value: int) -> str:
        return str(value)

    def deserialize(self, data: str) -> int:
        return int(data)


@requirement("callback/4-16")
def callback_number_serde(event: Any) -> Any:
    handle = yield Callback(name=event, serde=NumberSerde())
    count = yield handle
    return {"count": count, "doubled": count * 2}


@requirement("callback/4-17")
def callback_sequential(event: Any) -> Any:
    first = yield Callback(name=event[0])
    a = yield first
    second = yield Callback(name=event[1])
    b = yield second
    return [a, b]


@requirement("callback/4-18")
def callback_both_then_in_order(event: Any) -> Any:
    first = yield Callback(name=event[0])
    second = yield Callback(name=event[1])
    a = yield first
    b = yield second
    return [a, b]


@requirement("callback/4-19")
def callback_both_then_reversed(event: Any) -> Any:
    first = yield Callback(name=event[0])
    second = yield Callback(name=event[1])
    b = yield second
    a = yield first
    return [a, b]
