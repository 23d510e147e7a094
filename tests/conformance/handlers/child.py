"""Handlers for the ``child`` suite (requirements 3-x).

A child context is ``Child(sub_workflow, ...)``; without ``name=`` it is named after the
sub-workflow function, which gives the ``Name`` several requirements expect.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from orchestra import (
    Child,
    ChildContextError,
    Duration,
    Jitter,
    RetryPolicy,
    Step,
    Wait,
)

from ._common import (
    UppercaseSerde,
    crash_process,
    current_attempt,
    first_time_in_execution,
    replay_log,
)
from ._registry import requirement

SubWorkflow = Generator[Any, Any, Any]

#: The size a 3-11 child result must exceed to be too large for a checkpoint (256 KB).
LARGE_RESULT_BYTES = 256 * 1024


def return_value(value: Any) -> Any:
    return value


def fail_step() -> None:
    raise RuntimeError("child step failed")


# --- 3-1 ... 3-3 -------------------------------------------------------------------------------


def child_with_one_step(value: Any) -> SubWorkflow:
    return (yield Step(return_value, value))


@requirement("child/3-1")
def child_basic(event: Any) -> Any:
    return (yield Child(child_with_one_step, event))


@requirement("child/3-2")
def child_with_name(event: Any) -> Any:
    return (yield Child(child_with_one_step, event["value"], name=event["name"]))


def pass_through(previous: Any) -> Any:
    return previous


def child_with_two_steps(value: Any) -> SubWorkflow:
    first = yield Step(return_value, value)
    return (yield Step(pass_through, first))


@requirement("child/3-3")
def child_multiple_steps(event: Any) -> Any:
    return (yield Child(child_with_two_steps, event))


# --- 3-4, 3-5: failing children --------------------------------------------------------------


def child_with_failing_step() -> SubWorkflow:
    return (yield Step(fail_step, retry=RetryPolicy.none()))


@requirement("child/3-4")
def child_error(event: Any) -> Any:
    return (yield Child(child_with_failing_step))


def recover(value: Any) -> Any:
    return value


@requirement("child/3-5")
def child_error_caught(event: Any) -> Any:
    try:
        yield Child(child_with_failing_step)
    except ChildContextError:
        pass
    return (yield Step(recover, event))


# --- 3-6: nesting ----------------------------------------------------------------------------


def inner_child(value: Any) -> SubWorkflow:
    return (yield Step(return_value, value, name="inner_step"))


def outer_child(value: Any) -> SubWorkflow:
    yield Step(return_value, value, name="outer_step")
    return (yield Child(inner_child, value, name="inner"))


@requirement("child/3-6")
def child_nested(event: Any) -> Any:
    return (yield Child(outer_child, event, name="outer"))


# --- 3-7, 3-8: retries inside a child ----------------------------------------------------------


def fail_first_attempt(value: Any) -> Any:
    if current_attempt() < 2:
        raise RuntimeError("failure on the first attempt")
    return value


def child_with_retried_step(value: Any) -> SubWorkflow:
    retry = RetryPolicy.exponential(
        max_attempts=3, initial_delay=Duration.seconds(1), jitter=Jitter.NONE
    )
    return (yield Step(fail_first_attempt, value, retry=retry))


@requirement("child/3-7")
def child_retry(event: Any) -> Any:
    return (yield Child(child_with_retried_step, event))


def child_with_exhausted_step() -> SubWorkflow:
    retry = RetryPolicy.exponential(
        max_attempts=2, initial_delay=Duration.seconds(1), jitter=Jitter.NONE
    )
    return (yield Step(fail_step, retry=retry))


@requirement("child/3-8")
def child_retry_exhaustion(event: Any) -> Any:
    return (yield Child(child_with_exhausted_step))


# --- 3-9 ... 3-11: replay -----------------------------------------------------------------------


@requirement("child/3-9")
def child_replay(event: Any) -> Any:
    result = yield Child(child_with_one_step, event)
    yield Wait(Duration.seconds(1))
    return result


def child_with_step_and_wait(value: Any) -> SubWorkflow:
    yield Step(return_value, value)
    yield Wait(Duration.seconds(1))
    return value


@requirement("child/3-10")
def child_step_and_wait(event: Any) -> Any:
    return (yield Child(child_with_step_and_wait, event))


def child_building_large_result(value: str) -> SubWorkflow:
    replay_log.info(f"large-payload child running for input {value}")
    small = yield Step(return_value, value)
    return small * (LARGE_RESULT_BYTES // len(small) + 1)


@requirement("child/3-11")
def child_large_payload(event: Any) -> Any:
    large = yield Child(child_building_large_result, event)
    yield Wait(Duration.seconds(2))
    return {"length": len(large)}


# --- 3-12: a crash inside a child ----------------------------------------------------------------


def crash_once(value: Any) -> Any:
    if first_time_in_execution("crash_once"):
        # Give the asynchronous ContextStarted/StepStarted time to be persisted first.
        crash_process(after_seconds=1.0)
    return value


def child_with_crashing_step(value: Any) -> SubWorkflow:
    return (yield Step(crash_once, value, retry=RetryPolicy.none()))


@requirement("child/3-12")
def child_interrupted(event: Any) -> Any:
    return (yield Child(child_with_crashing_step, event))


# --- 3-13 ... 3-18 -----------------------------------------------------------------------------


def child_with_only_a_wait(value: Any) -> SubWorkflow:
    yield Wait(Duration.seconds(1))
    return value


@requirement("child/3-13")
def child_wait_replay(event: Any) -> Any:
    yield Child(child_with_only_a_wait, event)
    return (yield Step(return_value, event))


@requirement("child/3-14")
def child_custom_serdes(event: Any) -> Any:
    return (yield Child(child_with_one_step, event, serde=UppercaseSerde()))


def child_raising_directly() -> SubWorkflow:
    yield from ()  # a sub-workflow that runs no durable operation
    raise RuntimeError("child failed without running a durable operation")


@requirement("child/3-15")
def child_error_no_step(event: Any) -> Any:
    return (yield Child(child_raising_directly))


def child_returning_null() -> SubWorkflow:
    yield from ()  # a sub-workflow that runs no durable operation
    return None


@requirement("child/3-16")
def child_null_result(event: Any) -> Any:
    return (yield Child(child_returning_null))


def child_logging_only(value: Any) -> SubWorkflow:
    replay_log.info(f"child body running for input {value}")
    yield from ()  # a sub-workflow that runs no durable operation
    return value


@requirement("child/3-17")
def child_print_only(event: Any) -> Any:
    result = yield Child(child_logging_only, event)
    yield Wait(Duration.seconds(1))
    return result


@requirement("child/3-18")
def child_step_wait_after(event: Any) -> Any:
    yield Child(child_with_step_and_wait, event)
    result = yield Step(return_value, event)
    yield Wait(Duration.seconds(1))
    return result
