"""The ``step`` suite (requirements 1-x) with the reference SDK."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    StepError,
    durable_step,
)
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)

from ._common import TransientError, UppercaseSerDes, crash_process
from ._registry import requirement

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


class NotRetriedError(Exception):
    """The only error type 1-16's strategy retries (so TransientError is not retried)."""


@durable_step
def greet(step_context: StepContext, name: str) -> str:
    return f"Hello, {name}!"


@requirement("step/1-1")
def step_basic(event: Any, context: DurableContext) -> Any:
    return context.step(greet(event))


@requirement("step/1-2")
def step_with_name(event: Any, context: DurableContext) -> Any:
    return context.step(greet(event), name="custom_step_name")


@durable_step
def step_one(step_context: StepContext) -> str:
    return "first"


@durable_step
def step_two(step_context: StepContext, previous: str) -> str:
    return f"{previous}_second"


@requirement("step/1-3")
def step_nested(event: Any, context: DurableContext) -> Any:
    result1 = context.step(step_one())
    return context.step(step_two(result1))


@durable_step
def build_response(step_context: StepContext, event: dict[str, Any]) -> dict[str, Any]:
    tags = list(event["tags"])
    return {"user": {"name": event["name"], "tags": tags}, "count": len(tags)}


@requirement("step/1-4")
def step_complex_object(event: Any, context: DurableContext) -> Any:
    return context.step(build_response(event))


@durable_step
def do_nothing(step_context: StepContext) -> None:
    return None


@requirement("step/1-5")
def step_null_result(event: Any, context: DurableContext) -> Any:
    return context.step(do_nothing())


@durable_step
def return_input(step_context: StepContext, value: Any) -> Any:
    return value


@requirement("step/1-6")
def step_custom_serdes(event: Any, context: DurableContext) -> Any:
    return context.step(return_input(event), config=StepConfig(serdes=UppercaseSerDes()))


@durable_step
def greet_with_logging(step_context: StepContext, name: str) -> str:
    step_context.logger.info(f"Greeting step started for: {name}")
    greeting = f"Hello, {name}!"
    step_context.logger.info(f"Greeting step completed with: {greeting}")
    return greeting


@requirement("step/1-7")
def step_logging(event: Any, context: DurableContext) -> Any:
    return context.step(greet_with_logging(event))


@durable_step
def compute(step_context: StepContext) -> str:
    return "computed"


@requirement("step/1-8")
def step_and_wait_replay(event: Any, context: DurableContext) -> Any:
    result = context.step(compute())
    context.wait(Duration.from_seconds(2))
    return result


@durable_step
def cached_value(step_context: StepContext) -> str:
    step_context.logger.info("step executed")
    return "cached_value"


@requirement("step/1-9")
def step_replay_skips_succeeded(event: Any, context: DurableContext) -> Any:
    result = context.step(cached_value())
    context.wait(Duration.from_seconds(1))
    return result


@durable_step
def fails_permanently(step_context: StepContext) -> None:
    step_context.logger.info("step executed")
    raise RuntimeError("step failed permanently")


@requirement("step/1-10")
def step_replay_rethrows_failed(event: Any, context: DurableContext) -> Any:
    try:
        context.step(fails_permanently(), config=NO_RETRY)
    except StepError:
        pass
    context.wait(Duration.from_seconds(1))
    return None


@durable_step
def unreliable_once(step_context: StepContext) -> str:
    if step_context.attempt < 2:
        raise RuntimeError("transient failure on the first attempt")
    return "Operation succeeded"


@requirement("step/1-11")
def step_with_retry(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
            retryable_error_types=[RuntimeError],
        )
    )
    return context.step(unreliable_once(), config=StepConfig(retry_strategy=retry))


@durable_step
def always_fail(step_context: StepContext) -> None:
    raise RuntimeError("always fails")


@requirement("step/1-12")
def step_retry_exhaustion(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=4,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return context.step(always_fail(), config=StepConfig(retry_strategy=retry))


@durable_step
def fails_twice(step_context: StepContext) -> str:
    if step_context.attempt < 3:
        raise RuntimeError(f"failure on attempt {step_context.attempt}")
    return f"succeeded on attempt {step_context.attempt}"


@requirement("step/1-13")
def step_default_retry(event: Any, context: DurableContext) -> Any:
    return context.step(fails_twice())  # no config: the SDK's default retry strategy


@requirement("step/1-14")
def step_retry_custom_config(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=5,
            initial_delay=Duration.from_seconds(2),
            backoff_rate=3,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return context.step(fails_twice(), config=StepConfig(retry_strategy=retry))


@durable_step
def transient_once(step_context: StepContext) -> str:
    if step_context.attempt < 2:
        raise TransientError("temporary glitch")
    return "recovered from transient error"


@requirement("step/1-15")
def step_retry_specific_exception(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
            retryable_error_types=[TransientError],
        )
    )
    return context.step(transient_once(), config=StepConfig(retry_strategy=retry))


@durable_step
def always_transient(step_context: StepContext) -> None:
    raise TransientError("transient error that the strategy does not retry")


@requirement("step/1-16")
def step_retry_non_retryable(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, retryable_error_types=[NotRetriedError])
    )
    return context.step(always_transient(), config=StepConfig(retry_strategy=retry))


@durable_step
def log_and_crash(step_context: StepContext, value: str) -> None:
    step_context.logger.info(f"at-most-once step running with input {value}")
    crash_process()


@requirement("step/1-17")
def step_at_most_once_no_retry(event: Any, context: DurableContext) -> Any:
    config = StepConfig(
        retry_strategy=RetryPresets.none(),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    return context.step(log_and_crash(event), name="at_most_once_flaky_step", config=config)


@durable_step
def crash_on_first_attempt(step_context: StepContext, value: str) -> str:
    step_context.logger.info(f"at-most-once step running with input {value}")
    if step_context.attempt == 1:
        crash_process()
    return "succeeded on second attempt"


@requirement("step/1-18")
def step_at_most_once_with_retry(event: Any, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    config = StepConfig(retry_strategy=retry, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    return context.step(crash_on_first_attempt(event), config=config)


@durable_step
def failing_func(step_context: StepContext) -> None:
    raise RuntimeError("step failed")


@requirement("step/1-19")
def step_with_error(event: Any, context: DurableContext) -> Any:
    return context.step(failing_func(), config=NO_RETRY)


@durable_step
def use_fallback(step_context: StepContext, value: str) -> str:
    return value


@requirement("step/1-20")
def step_error_caught(event: Any, context: DurableContext) -> Any:
    try:
        value = context.step(failing_func(), config=NO_RETRY)
    except StepError:
        value = "fallback_result"
    return context.step(use_fallback(value))
