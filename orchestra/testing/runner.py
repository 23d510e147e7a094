"""``LocalRunner``: run a workflow in-process on the local emulator, with time skipping.

Example:
    >>> from orchestra import Step, Wait
    >>> def workflow(n):
    ...     yield Wait(3600)                     # an hour, skipped on the virtual clock
    ...     return (yield Step(abs, n, name="abs"))
    >>> run = LocalRunner(workflow).run(-4)
    >>> run.status, run.result, run.invocations
    ('SUCCEEDED', 4, 2)
    >>> run.operation("abs").step_details.result
    '4'
    >>> [e["EventType"] for e in run.history_dicts()][:3]
    ['ExecutionStarted', 'WaitStarted', 'InvocationCompleted']
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from orchestra.runtime.handler import lambda_handler
from orchestra.service.local.clock import Clock
from orchestra.service.local.engine import LocalService
from orchestra.testing.guard import DeterminismGuard
from orchestra.testing.world import World, WorldExecutor
from orchestra.wire.models import ErrorObject, Event, Operation

__all__ = ["LocalRunner", "RunResult"]


@attrs.frozen
class RunResult:
    """The outcome of one execution on the emulator."""

    arn: str
    status: str
    result_json: str | None
    error: ErrorObject | None
    operations: list[Operation]
    history: list[Event]
    invocations: int
    _service: LocalService = attrs.field(repr=False)

    @property
    def result(self) -> Any:
        """The workflow's return value, decoded from JSON (``None`` if it failed)."""
        if not self.result_json:
            return None
        return json.loads(self.result_json)

    def operation(self, name: str) -> Operation:
        """The one operation named ``name`` (raises if there are none or several)."""
        found = self.operations_named(name)
        if len(found) != 1:
            raise LookupError(f"{len(found)} operations are named {name!r}")
        return found[0]

    def operations_named(self, name: str) -> list[Operation]:
        """Every operation named ``name``, in start order."""
        return [op for op in self.operations if op.name == name]

    def save(self, path: str | pathlib.Path) -> None:
        """Write the history as ``{"Events": [...]}`` JSON, for :class:`Replayer` later."""
        events = self.history_dicts()
        pathlib.Path(path).write_text(json.dumps({"Events": events}, indent=1))

    def history_dicts(self, *, include_execution_data: bool = True) -> list[dict[str, Any]]:
        """The history in the GetDurableExecutionHistory format."""
        return self._service.history_dicts(self.arn, include_execution_data=include_execution_data)


class LocalRunner:
    """Runs a workflow on an in-memory emulator (virtual clock by default).

    Args:
        workflow: the workflow generator function.
        service: the emulator to use (default: a new in-memory one).
        clock: the emulator's clock when ``service`` is not given.
        function_name: the function name used in ARNs.
        async_bound: see :func:`orchestra.lambda_handler`.
        world: step failures, crash points and jitter to run under (see :class:`World`).
        guard: a :class:`DeterminismGuard` that records clock, random and uuid calls made by
            workflow code (not steps) during every invocation.
    """

    def __init__(
        self,
        workflow: Callable[..., Any],
        *,
        service: LocalService | None = None,
        clock: Clock | None = None,
        function_name: str | None = None,
        async_bound: float = 0.05,
        world: World | None = None,
        guard: DeterminismGuard | None = None,
    ) -> None:
        self.service = service or LocalService(clock)
        self.function_name: str = function_name or str(getattr(workflow, "__name__", "workflow"))
        self.world = world
        self.executor = WorldExecutor(world) if world is not None else None
        rng = world.rng().random if world is not None else None
        handler = lambda_handler(
            workflow,
            service=self.service,
            async_bound=async_bound,
            executor=self.executor,
            rng=rng,
        )
        self.guard = guard
        self.handler = guard.wrap(handler) if guard is not None else handler

    def run(
        self,
        input: Any = None,
        *,
        name: str | None = None,
        crash_at: Iterable[int] = (),
        raw_input: str | None = None,
    ) -> RunResult:
        """Start an execution with ``input`` and drive it until it ends or waits.

        Args:
            input: the execution input (encoded as JSON).
            name: the execution name.
            crash_at: checkpoint call numbers at which the invocation dies right after the
                call is applied (crash injection).
            raw_input: the input payload text as is, instead of ``input``.
        """
        payload = raw_input if raw_input is not None else json.dumps(input)
        arn = self.service.start_execution(self.function_name, payload, name=name)
        for point in crash_at:
            self.service.crash_at(arn, point)
        for crash in self.world.crashes if self.world is not None else ():
            self.service.crash_at(arn, crash.checkpoint, after=crash.after)
        status = self.service.run(arn, self.handler)
        ex = self.service.execution(arn)
        return RunResult(
            arn=arn,
            status=status.value,
            result_json=ex.result,
            error=ex.error,
            operations=list(ex.operations.values()),
            history=list(ex.events),
            invocations=ex.invocations,
            service=self.service,
        )
