"""Helpers: driving a workflow through a chosen service wrapper, and a test-only fan-out op."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import attrs

from orchestra import lambda_handler
from orchestra.interpreter.fiber import Fiber
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.kernel import Kernel
from orchestra.interpreter.signals import BLOCKED
from orchestra.ops import Op
from orchestra.service.local.engine import Execution, LocalService
from orchestra.wire.models import Operation, OperationType


def run_on(
    workflow: Callable[..., Any], service: Any, inner: LocalService, value: Any = None
) -> Execution:
    """Run ``workflow`` on ``inner`` with checkpoints going through ``service``."""
    arn = inner.start_execution("fn", json.dumps(value))
    inner.run(arn, lambda_handler(workflow, service=service))
    return inner.execution(arn)


@attrs.frozen
class Branches(Op[list[Any]]):
    """Test-only stand-in for Map/Parallel: run ``bodies`` as concurrent branch contexts.

    Branch ``i`` runs in a machine-made context with id ``hash(M, i)``, sub-type
    ``MapIteration`` and name ``map-item-<i>``. With ``race`` the first branch to finish
    wins and the others are cancelled. Register it with the ``branches_op`` fixture.
    """

    bodies: tuple[Callable[[], Generator[Any, Any, Any]], ...]
    virtual: bool = True
    race: bool = False

    op_type = OperationType.CONTEXT
    sub_type = "Map"

    @property
    def op_name(self) -> str | None:
        return "branches"


def handle_branches(
    k: Kernel, fiber: Fiber, op: Branches, op_id: str, recorded: Operation | None
) -> object:
    """The interpreter handler of :class:`Branches`."""
    results: dict[int, Any] = {}
    started: list[Fiber] = []

    def finished(i: int) -> Callable[[Any, BaseException | None], None]:
        def done(value: Any, error: BaseException | None) -> None:
            results[i] = error if error is not None else value
            if op.race:
                for other in started:
                    if not other.finished:
                        k.cancel(other)
                k.wake(fiber, [results[i]], None)
            elif len(results) == len(op.bodies):
                k.wake(fiber, [results[j] for j in range(len(op.bodies))], None)

        return done

    for i, body in enumerate(op.bodies):
        context = fiber.context.child(
            operation_id(op_id, i),
            sub_type="MapIteration",
            name=f"map-item-{i}",
            virtual=op.virtual,
            label="map item",
        )
        k.start_context(fiber, body, context, finished(i))
        started.append(fiber.children[-1])
    return BLOCKED


def boto3_lambda_client(url: str) -> Any:
    """A stock boto3 ``lambda`` client for a local server at ``url``: one attempt, short waits."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=10, connect_timeout=2),
    )
