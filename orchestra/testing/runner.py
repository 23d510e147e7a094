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

import inspect
import json
import pathlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from orchestra.runtime.handler import lambda_handler
from orchestra.service.api import DurableService
from orchestra.service.local.callbacks import CallbackAction
from orchestra.service.local.clock import Clock
from orchestra.service.local.engine import LocalService
from orchestra.service.local.invokes import DurableTarget
from orchestra.testing.guard import DeterminismGuard
from orchestra.testing.world import World, WorldExecutor
from orchestra.wire.models import (
    ErrorObject,
    Event,
    Operation,
    OperationStatus,
    OperationType,
)

__all__ = ["CallbackAction", "LocalRunner", "PendingCallback", "RunResult"]


@attrs.frozen
class PendingCallback:
    """A callback waiting for the outside world: its name, id and start time."""

    name: str | None
    callback_id: str
    started: datetime | None


@attrs.frozen
class RunResult:
    """The outcome of one execution on the emulator."""

    arn: str
    status: str
    result_json: str | None
    error: ErrorObject | None
    operations: list[Operation]
    invocations: int
    _service: LocalService = attrs.field(repr=False)
    #: How many history events the execution had when the run returned.
    _history_length: int = attrs.field(repr=False)

    @property
    def history(self) -> list[Event]:
        """The execution's history events when the run returned, in order.

        Built when first read: a test that never looks at the history does not pay for it.
        """
        events = self._service.execution(self.arn).events
        return events[: self._history_length]

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

    def pending_callbacks(self) -> list[PendingCallback]:
        """The callbacks still STARTED when the run returned, in start order."""
        return [
            PendingCallback(op.name, op.callback_details.callback_id, op.start_timestamp)
            for op in self.operations
            if op.type is OperationType.CALLBACK
            and op.status is OperationStatus.STARTED
            and op.callback_details is not None
            and op.callback_details.callback_id is not None
        ]

    def callback_id(self, name: str) -> str:
        """The id of the one callback named ``name`` (raises if there are none or several)."""
        details = self.operation(name).callback_details
        if details is None or details.callback_id is None:
            raise LookupError(f"operation {name!r} is not a callback")
        return details.callback_id

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
        targets: chained-invoke targets by function name (see :meth:`register_target`).
        callbacks: outside actions scripted for every run's callbacks (see :meth:`run`).
        backend: the service API the workflow's handler calls (default: ``service``
            itself, in process). ``LambdaService(boto3 client)`` pointed at an
            ``orchestra serve`` of ``service`` sends every checkpoint over HTTP instead.

    Example (callbacks at the wire level: a hand-written handler starts one with the
    timeout in its input, the test answers it from outside and resumes the execution):
        >>> from orchestra.wire.models import CallbackOptions, OperationAction, OperationUpdate
        >>> def approval(event, context):
        ...     ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        ...     if "cb" not in ops:
        ...         timeout = json.loads(event["InitialExecutionState"]["Operations"][0]
        ...                              ["ExecutionDetails"]["InputPayload"])
        ...         runner.service.checkpoint(event["DurableExecutionArn"],
        ...             event["CheckpointToken"], [OperationUpdate(id="cb",
        ...             type=OperationType.CALLBACK, action=OperationAction.START, name="approval",
        ...             callback_options=CallbackOptions(timeout_seconds=timeout))])
        ...         return {"Status": "PENDING"}
        ...     callback = ops["cb"]
        ...     if callback["Status"] == "STARTED":
        ...         return {"Status": "PENDING"}
        ...     if callback["Status"] == "SUCCEEDED":
        ...         return {"Status": "SUCCEEDED", "Result": callback["CallbackDetails"]["Result"]}
        ...     return {"Status": "FAILED", "Error": callback["CallbackDetails"]["Error"]}
        >>> def unused():
        ...     yield from ()
        >>> runner = LocalRunner(unused)
        >>> runner.handler = approval  # until the SDK's callback descriptors exist
        >>> run = runner.run(0)  # no timeout: the run returns, waiting for the outside
        >>> run.status, [cb.name for cb in run.pending_callbacks()]
        ('RUNNING', ['approval'])
        >>> runner.succeed_callback(run, "approval", {"ok": True})
        >>> done = runner.resume(run)
        >>> done.status, done.result
        ('SUCCEEDED', {'ok': True})
        >>> scripted = runner.run(0, callbacks=[
        ...     CallbackAction("approval", "success", result='"yes"', delay_seconds=600)])
        >>> scripted.status, scripted.result
        ('SUCCEEDED', 'yes')
        >>> timed_out = runner.run(86400)  # nobody answers: the day passes virtually
        >>> timed_out.status, timed_out.error.error_type
        ('FAILED', 'Callback.Timeout')
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
        targets: Mapping[str, Callable[..., Any]] | None = None,
        callbacks: Iterable[CallbackAction] = (),
        backend: DurableService | None = None,
    ) -> None:
        self.service = service or LocalService(clock)
        #: Where the workflow's handler sends its checkpoints: the emulator itself, or a
        #: client of it (``LambdaService`` over HTTP to ``orchestra serve`` on :attr:`service`).
        self.backend: DurableService = backend if backend is not None else self.service
        self.function_name: str = function_name or str(getattr(workflow, "__name__", "workflow"))
        self.world = world
        self.async_bound = async_bound
        self.executor = WorldExecutor(world) if world is not None else None
        rng = world.rng().random if world is not None else None
        handler = lambda_handler(
            workflow,
            service=self.backend,
            async_bound=async_bound,
            executor=self.executor,
            rng=rng,
            clock=self.service.clock.now,
        )
        self.guard = guard
        self.handler = guard.wrap(handler) if guard is not None else handler
        played = world.callback_actions() if world is not None else ()
        self.callbacks = (*played, *callbacks)
        world_targets = world.invoke_targets() if world is not None else {}
        for name, target in {**world_targets, **(targets or {})}.items():
            self.register_target(name, target)

    def register_target(self, function_name: str, target: Callable[..., Any]) -> None:
        """Serve chained invokes of ``function_name`` with ``target``.

        ``target`` is a plain function ``f(payload)`` (the payload JSON-decoded, the return
        value JSON-encoded, an exception a failure), an orchestra workflow (a generator
        function, run as a child durable execution on the same emulator), or a
        :class:`~orchestra.service.local.invokes.DurableTarget`. ``function_name`` may be a
        name, a partial or a full ARN, with an optional ``:qualifier``.

        Example:
            >>> runner = LocalRunner(lambda: (yield from ()))
            >>> runner.register_target("pricing", lambda order: {"price": 7})
            >>> runner.register_target("arn:aws:lambda:us-east-1:123456789012:function:x:live",
            ...                        lambda payload: payload)
        """
        if inspect.isgeneratorfunction(target):
            handler = lambda_handler(
                target,
                service=self.backend,
                async_bound=self.async_bound,
                clock=self.service.clock.now,
            )
            self.service.register_target(function_name, DurableTarget(handler))
        else:
            self.service.register_target(function_name, target)

    def run(
        self,
        input: Any = None,
        *,
        name: str | None = None,
        crash_at: Iterable[int] = (),
        raw_input: str | None = None,
        callbacks: Iterable[CallbackAction] = (),
        max_invocations: int | None = None,
    ) -> RunResult:
        """Start an execution with ``input`` and drive it until it ends or waits.

        Args:
            input: the execution input (encoded as JSON).
            name: the execution name.
            crash_at: checkpoint call numbers at which the invocation dies right after the
                call is applied (crash injection).
            raw_input: the input payload text as is, instead of ``input``.
            callbacks: outside actions on this execution's callbacks, on the virtual
                clock, after those given to the runner (see :class:`CallbackAction`).
            max_invocations: stop after this many invocations, even if a timer is due
                (``1``: stop at the first suspension, e.g. to answer a callback that has a
                timeout by hand, then :meth:`resume`).
        """
        payload = raw_input if raw_input is not None else json.dumps(input)
        arn = self.service.start_execution(self.function_name, payload, name=name)
        for point in crash_at:
            self.service.crash_at(arn, point)
        for crash in self.world.crashes if self.world is not None else ():
            self.service.crash_at(arn, crash.checkpoint, after=crash.after)
        self.service.script_callbacks(arn, (*self.callbacks, *callbacks))
        return self.resume(arn, max_invocations=max_invocations)

    def resume(
        self, run_or_arn: RunResult | str, *, max_invocations: int | None = None
    ) -> RunResult:
        """Drive an execution further (after callbacks were sent) until it ends or waits.

        Args:
            run_or_arn: the execution.
            max_invocations: stop after this many more invocations (see :meth:`run`).
        """
        arn = _arn(run_or_arn)
        if max_invocations is not None and (
            isinstance(max_invocations, bool)
            or not isinstance(max_invocations, int)
            or max_invocations < 1
        ):
            raise ValueError(
                f"max_invocations must be a whole number >= 1, got {max_invocations!r}"
            )
        if max_invocations is None:
            status = self.service.run(arn, self.handler)
        else:
            status = self.service.run(arn, self.handler, max_invocations=max_invocations)
        ex = self.service.execution(arn)
        return RunResult(
            arn=arn,
            status=status.value,
            result_json=ex.result,
            error=ex.error,
            operations=list(ex.operations.values()),
            invocations=ex.invocations,
            service=self.service,
            history_length=ex.event_count(),
        )

    def succeed_callback(
        self,
        run_or_arn: RunResult | str,
        name_or_id: str,
        result: Any = None,
        *,
        raw_result: bytes | str | None = None,
    ) -> None:
        """Complete a callback successfully from outside; :meth:`resume` then continues.

        Args:
            run_or_arn: the run (or its ARN).
            name_or_id: the callback's name (the started one, if several share it) or id.
            result: the result, sent JSON-encoded; ``None`` sends no body.
            raw_result: the body as is, instead of ``result``.

        Raises:
            ServiceError: the service's answer (a completed or timed-out callback gets
                ``CallbackTimeoutException``).
        """
        body = raw_result if raw_result is not None else None
        if raw_result is None and result is not None:
            body = json.dumps(result)
        self.service.send_callback_success(self._callback_id(run_or_arn, name_or_id), body)

    def fail_callback(
        self, run_or_arn: RunResult | str, name_or_id: str, error: ErrorObject | None = None
    ) -> None:
        """Fail a callback from outside with ``error``; :meth:`resume` then continues."""
        self.service.send_callback_failure(self._callback_id(run_or_arn, name_or_id), error)

    def heartbeat_callback(self, run_or_arn: RunResult | str, name_or_id: str) -> None:
        """Send a callback's heartbeat (restarting its heartbeat timeout)."""
        self.service.send_callback_heartbeat(self._callback_id(run_or_arn, name_or_id))

    def _callback_id(self, run_or_arn: RunResult | str, name_or_id: str) -> str:
        ops = self.service.execution(_arn(run_or_arn)).operations.values()
        named = [
            op.callback_details.callback_id
            for op in ops
            if op.type is OperationType.CALLBACK
            and op.name == name_or_id
            and op.callback_details is not None
            and op.callback_details.callback_id is not None
        ]
        started = [
            op.callback_details.callback_id
            for op in ops
            if op.type is OperationType.CALLBACK
            and op.name == name_or_id
            and op.status is OperationStatus.STARTED
            and op.callback_details is not None
            and op.callback_details.callback_id is not None
        ]
        if len(started) > 1:
            raise LookupError(f"{len(started)} started callbacks are named {name_or_id!r}")
        if started or named:
            return (started or named)[-1]
        return name_or_id  # not a name: a callback id


def _arn(run_or_arn: RunResult | str) -> str:
    return run_or_arn.arn if isinstance(run_or_arn, RunResult) else run_or_arn
