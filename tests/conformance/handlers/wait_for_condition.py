"""Handlers for the ``wait_for_condition`` suite (requirements 6-x)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestra import (
    Duration,
    Step,
    WaitDecision,
    WaitForCondition,
    WaitForConditionError,
    WaitStrategy,
)

from ._registry import requirement

Strategy = Callable[[Any, int], WaitDecision]


def increment(state: int) -> int:
    return state + 1


def unchanged(state: Any) -> Any:
    return state


def until_at_least(threshold: int) -> Strategy:
    """Stop once the state reaches ``threshold``, else poll again after one second."""

    def strategy(state: int, attempt: int) -> WaitDecision:
        if state >= threshold:
            return WaitDecision.done()
        return WaitDecision.again(Duration.seconds(1))

    return strategy


@requirement("wait_for_condition/6-1")
def wfc_basic(event: Any) -> Any:
    return (yield WaitForCondition(increment, 0, until_at_least(int(event))))


@requirement("wait_for_condition/6-2")
def wfc_immediate(event: Any) -> Any:
    return (yield WaitForCondition(unchanged, 5, until_at_least(int(event))))


@requirement("wait_for_condition/6-3")
def wfc_with_name(event: Any) -> Any:
    return (yield WaitForCondition(increment, 0, until_at_least(int(event)), name="poll-status"))


@requirement("wait_for_condition/6-4")
def wfc_initial_state(event: Any) -> Any:
    return (yield WaitForCondition(increment, 5, until_at_least(int(event))))


@requirement("wait_for_condition/6-5")
def wfc_fixed_delay(event: Any) -> Any:
    threshold = int(event)
    strategy: WaitStrategy[int] = WaitStrategy.fixed(
        lambda state: state < threshold, Duration.seconds(2)
    )
    return (yield WaitForCondition(increment, 0, strategy))


@requirement("wait_for_condition/6-6")
def wfc_max_attempts(event: Any) -> Any:
    strategy: WaitStrategy[int] = WaitStrategy.fixed(
        lambda state: True, Duration.seconds(1), max_attempts=3
    )
    return (yield WaitForCondition(increment, 0, strategy))


def broken_check(state: Any) -> Any:
    raise RuntimeError("the check failed")


@requirement("wait_for_condition/6-7")
def wfc_check_raises(event: Any) -> Any:
    return (yield WaitForCondition(broken_check, None, until_at_least(1)))


@requirement("wait_for_condition/6-8")
def wfc_check_raises_caught(event: Any) -> Any:
    try:
        return (yield WaitForCondition(broken_check, None, until_at_least(1)))
    except WaitForConditionError:
        return "recovered"


def advance_job(state: dict[str, Any]) -> dict[str, Any]:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


@requirement("wait_for_condition/6-9")
def wfc_object_state(event: Any) -> Any:
    strategy: WaitStrategy[dict[str, Any]] = WaitStrategy.fixed(
        lambda job: job["status"] == "PENDING", Duration.seconds(1)
    )
    return (yield WaitForCondition(advance_job, {"status": "PENDING", "attempts": 0}, strategy))


def stop_at_once(state: Any, attempt: int) -> WaitDecision:
    return WaitDecision.done()


@requirement("wait_for_condition/6-10")
def wfc_null_state(event: Any) -> Any:
    return (yield WaitForCondition(unchanged, None, stop_at_once))


class PrefixSerde:
    """Stores a string state as ``ENC:<state>``."""

    def serialize(self, value: str) -> str:
        return f"ENC:{value}"

    def deserialize(self, data: str) -> str:
        if not data.startswith("ENC:"):
            raise ValueError(f"not an encoded state: {data!r}")
        return data[len("ENC:") :]


def append_x(state: str) -> str:
    return state + "x"


@requirement("wait_for_condition/6-11")
def wfc_custom_serde(event: Any) -> Any:
    strategy: WaitStrategy[str] = WaitStrategy.fixed(
        lambda state: len(state) < 2, Duration.seconds(1)
    )
    return (yield WaitForCondition(append_x, "", strategy, serde=PrefixSerde()))


def times_ten(value: int) -> int:
    return value * 10


@requirement("wait_for_condition/6-12")
def wfc_then_step(event: Any) -> Any:
    final = yield WaitForCondition(increment, 0, until_at_least(int(event)))
    return (yield Step(times_ten, final))


@requirement("wait_for_condition/6-13")
def wfc_twice(event: Any) -> Any:
    first = yield WaitForCondition(increment, 0, until_at_least(2), name="first")
    return (yield WaitForCondition(increment, first, until_at_least(4), name="second"))
