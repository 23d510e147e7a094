"""``lambda_handler(workflow)``: the Lambda entry point for a workflow.

Example::

    from orchestra import Step, lambda_handler

    def workflow(event):
        return (yield Step(str.upper, event["name"]))

    handler = lambda_handler(workflow)      # point Lambda's handler setting here
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from orchestra.errors import MalformedEventError, ValidationError, WorkflowDefinitionError
from orchestra.ops import is_generator_function
from orchestra.runtime.executor import StepExecutor
from orchestra.runtime.invocation import run_invocation
from orchestra.service.api import DurableService
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import InvocationInput

__all__ = ["lambda_handler", "parse_event"]

Handler = Callable[[Any, Any], dict[str, Any]]

_REQUIRED = ("DurableExecutionArn", "CheckpointToken")


def parse_event(event: Any) -> InvocationInput:
    """Read a durable-execution invocation event, with an error naming what is wrong.

    Example:
        >>> parse_event({"DurableExecutionArn": "arn", "CheckpointToken": "t"}).checkpoint_token
        't'
        >>> parse_event({"name": "x"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.MalformedEventError: not a durable-execution event: missing ...
    """
    if not isinstance(event, dict):
        raise MalformedEventError(
            f"not a durable-execution event: expected a JSON object, got {type(event).__name__}"
        )
    missing = [key for key in _REQUIRED if not isinstance(event.get(key), str)]
    if missing:
        raise MalformedEventError(
            f"not a durable-execution event: missing {', '.join(missing)}. Check that "
            "durability is enabled on the function (DurableConfig)."
        )
    try:
        return from_wire(event, InvocationInput)
    except Exception as exc:
        raise MalformedEventError(f"malformed durable-execution event: {_explain(exc)}") from exc


def _explain(exc: BaseException) -> str:
    subs = getattr(exc, "exceptions", None)
    if subs:
        notes = [n for e in subs for n in getattr(e, "__notes__", [])]
        return "; ".join(f"{n}: {e}" for n, e in zip(notes, subs, strict=False)) or str(exc)
    return str(exc)


def lambda_handler(
    workflow: Callable[..., Any],
    *,
    service: DurableService | None = None,
    max_workers: int = 32,
    async_bound: float = 0.05,
    executor: StepExecutor | None = None,
    rng: Callable[[], float] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Handler:
    """Wrap ``workflow`` as a Lambda handler speaking the durable-execution protocol.

    Args:
        workflow: a generator function taking the execution input.
        service: where checkpoints go (default: the Lambda service through boto3).
        max_workers: threads for running steps concurrently.
        async_bound: seconds an at-least-once step's START may wait to share a call.
        executor: runs step functions (default: a thread pool of ``max_workers``).
        rng: uniform numbers in [0, 1) for retry jitter (default: :func:`random.random`).
        clock: the service's clock, as aware UTC datetimes (default: real time). The local
            emulator passes its virtual clock, so ``Now()`` follows it.
    """
    if not is_generator_function(workflow):
        raise WorkflowDefinitionError(
            f"lambda_handler needs a generator function, got "
            f"{getattr(workflow, '__qualname__', workflow)!r}: a workflow must `yield` its "
            "operations"
        )
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValidationError(
            f"lambda_handler: max_workers must be an int >= 1, got {max_workers!r}"
        )
    if (
        isinstance(async_bound, bool)
        or not isinstance(async_bound, int | float)
        or not 0 <= async_bound <= 60
    ):
        raise ValidationError(
            f"lambda_handler: async_bound must be seconds between 0 and 60, got {async_bound!r}"
        )
    for what, value in (("rng", rng), ("clock", clock)):
        if value is not None and not callable(value):
            raise ValidationError(f"lambda_handler: {what} must be callable, got {value!r}")
    steps = executor or StepExecutor(max_workers)
    jitter = rng or random.random
    backend: list[DurableService] = [service] if service is not None else []

    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        inp = parse_event(event)
        if not backend:
            from orchestra.service.lambda_api import LambdaService

            backend.append(LambdaService())
        output = run_invocation(
            workflow,
            inp,
            backend[0],
            executor=steps,
            async_bound=async_bound,
            rng=jitter,
            context=context,
            clock=clock,
        )
        result: dict[str, Any] = to_wire(output)
        return result

    handler.__wrapped__ = workflow  # type: ignore[attr-defined]
    return handler
