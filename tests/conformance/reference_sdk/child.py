"""The ``child`` suite (requirements 3-x) with the reference SDK.

A child context is ``context.run_in_child_context(func)``; a function decorated with
``durable_with_child_context`` names the child after itself, which gives the ``Name``
several requirements expect.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    ChildContextError,
    DurableContext,
    StepContext,
    durable_step,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    Duration,
    JitterStrategy,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)

from ._common import (
    UppercaseSerDes,
    crash_process,
    execution_arn,
    first_time,
    replay_logger,
)
from ._registry import requirement

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())
#: The size a 3-11 child result must exceed to be too large for a checkpoint (256 KB).
LARGE_RESULT_BYTES = 256 * 1024


@durable_step
def return_value(step_context: StepContext, value: Any) -> Any:
    return value


@durable_step
def fail_step(step_context: StepContext) -> None:
    raise RuntimeError("child step failed")


# --- 3-1 ... 3-3 -------------------------------------------------------------------------


@durable_with_child_context
def child_with_one_step(child: DurableContext, value: Any) -> Any:
    return child.step(return_value(value))


@requirement("child/3-1")
def child_basic(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_one_step(event))


@requirement("child/3-2")
def child_with_name(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_one_step(event["value"]), name=event["name"])


@durable_step
def pass_through(step_context: StepContext, previous: Any) -> Any:
    return previous


@durable_with_child_context
def child_with_two_steps(child: DurableContext, value: Any) -> Any:
    first = child.step(return_value(value))
    return child.step(pass_through(first))


@requirement("child/3-3")
def child_multiple_steps(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_two_steps(event))


# --- 3-4, 3-5: failing children ------------------------------------------------------------


@durable_with_child_context
def child_with_failing_step(child: DurableContext) -> Any:
    return child.step(fail_step(), config=NO_RETRY)


@requirement("child/3-4")
def child_error(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_failing_step())


@requirement("child/3-5")
def child_error_caught(event: Any, context: DurableContext) -> Any:
    try:
        context.run_in_child_context(child_with_failing_step())
    except ChildContextError:
        pass
    return context.step(return_value(event), name="recover")


# --- 3-6: nesting --------------------------------------------------------------------------


@durable_with_child_context
def inner_child(child: DurableContext, value: Any) -> Any:
    return child.step(return_value(value), name="inner_step")


@durable_with_child_context
def outer_child(child: DurableContext, value: Any) -> Any:
    child.step(return_value(value), name="outer_step")
    return child.run_in_child_context(inner_child(value), name="inner")


@requirement("child/3-6")
def child_nested(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(outer_child(event), name="outer")


# --- 3-7, 3-8: retries inside a child --------------------------------------------------------


@durable_step
def fail_first_attempt(step_context: StepContext, value: Any) -> Any:
    if step_context.attempt < 2:
        raise RuntimeError("failure on the first attempt")
    return value


def _retry(max_attempts: int) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=max_attempts,
                initial_delay=Duration.from_seconds(1),
                jitter_strategy=JitterStrategy.NONE,
            )
        )
    )


@durable_with_child_context
def child_with_retried_step(child: DurableContext, value: Any) -> Any:
    return child.step(fail_first_attempt(value), config=_retry(3))


@requirement("child/3-7")
def child_retry(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_retried_step(event))


@durable_with_child_context
def child_with_exhausted_step(child: DurableContext) -> Any:
    return child.step(fail_step(), config=_retry(2))


@requirement("child/3-8")
def child_retry_exhaustion(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_exhausted_step())


# --- 3-9 ... 3-11: replay --------------------------------------------------------------------


@requirement("child/3-9")
def child_replay(event: Any, context: DurableContext) -> Any:
    result = context.run_in_child_context(child_with_one_step(event))
    context.wait(Duration.from_seconds(1))
    return result


@durable_with_child_context
def child_with_step_and_wait(child: DurableContext, value: Any) -> Any:
    child.step(return_value(value))
    child.wait(Duration.from_seconds(1))
    return value


@requirement("child/3-10")
def child_step_and_wait(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_step_and_wait(event))


@durable_with_child_context
def child_building_large_result(child: DurableContext, value: str) -> str:
    replay_logger(child).info(f"large-payload child running for input {value}")
    small = child.step(return_value(value))
    return small * (LARGE_RESULT_BYTES // len(small) + 1)


@requirement("child/3-11")
def child_large_payload(event: Any, context: DurableContext) -> Any:
    large = context.run_in_child_context(child_building_large_result(event))
    context.wait(Duration.from_seconds(2))
    return {"length": len(large)}


# --- 3-12: a crash inside a child -------------------------------------------------------------


@durable_step
def crash_once(step_context: StepContext, arn: str, value: Any) -> Any:
    if first_time(arn, "crash_once"):
        # The START of an at-least-once step is checkpointed without waiting: give the
        # SDK's batcher time to send it (and the child's START) before the process dies.
        crash_process(after_seconds=0.5)
    return value


@durable_with_child_context
def child_with_crashing_step(child: DurableContext, value: Any) -> Any:
    return child.step(crash_once(execution_arn(child), value), config=NO_RETRY)


@requirement("child/3-12")
def child_interrupted(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_with_crashing_step(event))


# --- 3-13 ... 3-18 ---------------------------------------------------------------------------


@durable_with_child_context
def child_with_only_a_wait(child: DurableContext, value: Any) -> Any:
    child.wait(Duration.from_seconds(1))
    return value


@requirement("child/3-13")
def child_wait_replay(event: Any, context: DurableContext) -> Any:
    context.run_in_child_context(child_with_only_a_wait(event))
    return context.step(return_value(event))


@requirement("child/3-14")
def child_custom_serdes(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(
        child_with_one_step(event), config=ChildConfig(serdes=UppercaseSerDes())
    )


@durable_with_child_context
def child_raising_directly(child: DurableContext) -> Any:
    raise RuntimeError("child failed without running a durable operation")


@requirement("child/3-15")
def child_error_no_step(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_raising_directly())


@durable_with_child_context
def child_returning_null(child: DurableContext) -> None:
    return None


@requirement("child/3-16")
def child_null_result(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(child_returning_null())


@durable_with_child_context
def child_logging_only(child: DurableContext, value: Any) -> Any:
    replay_logger(child).info(f"child body running for input {value}")
    return value


@requirement("child/3-17")
def child_print_only(event: Any, context: DurableContext) -> Any:
    result = context.run_in_child_context(child_logging_only(event))
    context.wait(Duration.from_seconds(1))
    return result


@requirement("child/3-18")
def child_step_wait_after(event: Any, context: DurableContext) -> Any:
    context.run_in_child_context(child_with_step_and_wait(event))
    result = context.step(return_value(event))
    context.wait(Duration.from_seconds(1))
    return result
