"""Handlers for the ``wait_for_callback`` suite (requirements 7-x).

The submitters only receive the callback id: the runner answers every callback from
outside (``CallbackActions`` with ``CallbackName: '*'``) on the virtual clock.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from orchestra import (
    CallbackError,
    CallbackTimeoutError,
    Child,
    Duration,
    RetryPolicy,
    Step,
    Wait,
    WaitForCallback,
)

from ._registry import requirement

SubWorkflow = Generator[Any, Any, Any]


def submit(callback_id: str) -> None:
    """Hand the callback id to the external system (which the runner plays)."""


def submit_fails(callback_id: str) -> None:
    raise RuntimeError("could not reach the external system")


@requirement("wait_for_callback/7-1")
def wfcb_basic(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event))


@requirement("wait_for_callback/7-2")
def wfcb_with_name(event: Any) -> Any:
    return (yield WaitForCallback(submit, name="approval"))


@requirement("wait_for_callback/7-3")
def wfcb_anonymous(event: Any) -> Any:
    return (yield WaitForCallback(lambda callback_id: None))


@requirement("wait_for_callback/7-4")
def wfcb_failure(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event))


@requirement("wait_for_callback/7-5")
def wfcb_timeout(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event, timeout=Duration.seconds(3)))


@requirement("wait_for_callback/7-6")
def wfcb_failure_caught(event: Any) -> Any:
    try:
        return (yield WaitForCallback(submit, name=event))
    except CallbackError:
        return "recovered"


@requirement("wait_for_callback/7-7")
def wfcb_submitter_exhausts_retries(event: Any) -> Any:
    retry = RetryPolicy.fixed(Duration.seconds(1), max_attempts=2)
    return (yield WaitForCallback(submit_fails, name=event, retry=retry))


def wrapper(name: str) -> SubWorkflow:
    return (yield WaitForCallback(submit, name=name))


@requirement("wait_for_callback/7-8")
def wfcb_in_child(event: Any) -> Any:
    return (yield Child(wrapper, event, name="wrapper"))


@requirement("wait_for_callback/7-9")
def wfcb_twice(event: Any) -> Any:
    yield WaitForCallback(submit, name="first")
    return (yield WaitForCallback(submit, name="second"))


def fixed_data() -> dict[str, str]:
    return {"prepared": "data"}


@requirement("wait_for_callback/7-10")
def wfcb_after_wait_and_step(event: Any) -> Any:
    yield Wait(Duration.seconds(1))
    yield Step(fixed_data)
    return (yield WaitForCallback(submit, name=event))


class JsonObjectSerde:
    """A JSON object, parsed into a dict."""

    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, data: str) -> Any:
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object, got {data!r}")
        return parsed


@requirement("wait_for_callback/7-11")
def wfcb_json_object(event: Any) -> Any:
    decision = yield WaitForCallback(submit, name=event, serde=JsonObjectSerde())
    return decision["status"]


@requirement("wait_for_callback/7-12")
def wfcb_heartbeat_timeout(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event, heartbeat_timeout=Duration.seconds(5)))


@requirement("wait_for_callback/7-13")
def wfcb_heartbeat_then_success(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event, heartbeat_timeout=Duration.seconds(10)))


@requirement("wait_for_callback/7-14")
def wfcb_timeout_caught(event: Any) -> Any:
    try:
        return (yield WaitForCallback(submit, name=event, timeout=Duration.seconds(3)))
    except CallbackTimeoutError:
        return "timed-out-handled"


@requirement("wait_for_callback/7-15")
def wfcb_no_payload(event: Any) -> Any:
    return (yield WaitForCallback(submit, name=event))
