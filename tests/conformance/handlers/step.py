"""Handlers for the ``step`` suite (requirements 1-x)."""

from __future__ import annotations

from typing import Any

from orchestra import Duration, Jitter, RetryPolicy, Step, StepError, StepSemantics, Wait

from ._common import (
    TransientError,
    UppercaseSerde,
    crash_process,
    current_attempt,
    log,
)
from ._registry import requirement


class NotRetriedError(Exception):
    """The only error type 1-16's retry policy retries (so TransientError is not retried)."""


def greet(name: str) -> str:
    return f"Hello, {name}!"


@requirement("step/1-1")
def step_basic(event: Any) -> Any:
    return (yield Step(greet, event))


@requirement("step/1-2")
def step_with_name(event: Any) -> Any:
    return (yield Step(greet, event, name="custom_step_name"))


def step_one() -> str:
    return "first"


def step_two(previous: str) -> str:
    return f"{previous}_second"


@requirement("step/1-3")
def step_nested(event: Any) -> Any:
    result1 = yield Step(step_one)
    result2 = yield Step(step_two, result1)
    return result2


def build_response(event: dict[str, Any]) -> dict[str, Any]:
    tags = list(event["tags"])
    return {"user": {"name": event["name"], "tags": tags}, "count": len(tags)}


@requirement("step/1-4")
def step_complex_object(event: Any) -> Any:
    return (yield Step(build_response, event))


def do_nothing() -> None:
    return None


@requirement("step/1-5")
def step_null_result(event: Any) -> Any:
    return (yield Step(do_nothing))


def return_input(value: Any) -> Any:
    return value


@requirement("step/1-6")
def step_custom_serdes(event: Any) -> Any:
    return (yield Step(return_input, event, serde=UppercaseSerde()))


def greet_with_logging(name: str) -> str:
    log.info(f"Greeting step started for: {name}")
    greeting = greet(name)
    log.info(f"Greeting step completed with: {greeting}")
    return greeting


@requirement("step/1-7")
def step_logging(event: Any) -> Any:
    return (yield Step(greet_with_logging, event))


def compute() -> str:
    return "computed"


@requirement("step/1-8")
def step_and_wait_replay(event: Any) -> Any:
    result = yield Step(compute)
    yield Wait(Duration.seconds(2))
    return result


def cached_value() -> str:
    log.info("step executed")
    return "cached_value"


@requirement("step/1-9")
def step_replay_skips_succeeded(event: Any) -> Any:
    result = yield Step(cached_value)
    yield Wait(Duration.seconds(1))
    return result


def fails_permanently() -> None:
    log.info("step executed")
    raise RuntimeError("step failed permanently")


@requirement("step/1-10")
def step_replay_rethrows_failed(event: Any) -> Any:
    try:
        yield Step(fails_permanently, retry=RetryPolicy.none())
    except StepError:
        pass
    yield Wait(Duration.seconds(1))
    return None


def unreliable_once() -> str:
    if current_attempt() < 2:
        raise RuntimeError("transient failure on the first attempt")
    return "Operation succeeded"


@requirement("step/1-11")
def step_with_retry(event: Any) -> Any:
    retry = RetryPolicy.exponential(
        max_attempts=3,
        initial_delay=Duration.seconds(1),
        jitter=Jitter.NONE,
        retryable_error_types=[RuntimeError],
    )
    return (yield Step(unreliable_once, retry=retry))


def always_fail() -> None:
    raise RuntimeError("always fails")


@requirement("step/1-12")
def step_retry_exhaustion(event: Any) -> Any:
    retry = RetryPolicy.exponential(
        max_attempts=4, initial_delay=Duration.seconds(1), backoff_rate=1, jitter=Jitter.NONE
    )
    return (yield Step(always_fail, retry=retry))


def fails_twice() -> str:
    attempt = current_attempt()
    if attempt < 3:
        raise RuntimeError(f"failure on attempt {attempt}")
    return f"succeeded on attempt {attempt}"


@requirement("step/1-13")
def step_default_retry(event: Any) -> Any:
    return (yield Step(fails_twice))  # no retry= : the default policy


@requirement("step/1-14")
def step_retry_custom_config(event: Any) -> Any:
    retry = RetryPolicy.exponential(
        max_attempts=5, initial_delay=Duration.seconds(2), backoff_rate=3, jitter=Jitter.NONE
    )
    return (yield Step(fails_twice, retry=retry))


def transient_once() -> str:
    if current_attempt() < 2:
        raise TransientError("temporary glitch")
    return "recovered from transient error"


@requirement("step/1-15")
def step_retry_specific_exception(event: Any) -> Any:
    retry = RetryPolicy.fixed(
        Duration.seconds(1), max_attempts=3, retryable_error_types=[TransientError]
    )
    return (yield Step(transient_once, retry=retry))


def always_transient() -> None:
    raise TransientError("transient error that the policy does not retry")


@requirement("step/1-16")
def step_retry_non_retryable(event: Any) -> Any:
    retry = RetryPolicy.exponential(max_attempts=3, retryable_error_types=[NotRetriedError])
    return (yield Step(always_transient, retry=retry))


def log_and_crash(value: str) -> None:
    log.info(f"at-most-once step running with input {value}")
    crash_process()


@requirement("step/1-17")
def step_at_most_once_no_retry(event: Any) -> Any:
    return (
        yield Step(
            log_and_crash,
            event,
            name="at_most_once_flaky_step",
            semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
            retry=RetryPolicy.none(),
        )
    )


def crash_on_first_attempt(value: str) -> str:
    log.info(f"at-most-once step running with input {value}")
    if current_attempt() == 1:
        crash_process()
    return "succeeded on second attempt"


@requirement("step/1-18")
def step_at_most_once_with_retry(event: Any) -> Any:
    return (
        yield Step(
            crash_on_first_attempt,
            event,
            semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
            retry=RetryPolicy.fixed(Duration.seconds(1), max_attempts=3),
        )
    )


def failing_func() -> None:
    raise RuntimeError("step failed")


@requirement("step/1-19")
def step_with_error(event: Any) -> Any:
    return (yield Step(failing_func, retry=RetryPolicy.none()))


def use_fallback(value: str) -> str:
    return value


@requirement("step/1-20")
def step_error_caught(event: Any) -> Any:
    try:
        value = yield Step(failing_func, retry=RetryPolicy.none())
    except StepError:
        value = "fallback_result"
    return (yield Step(use_fallback, value))
