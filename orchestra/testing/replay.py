"""``Replayer``: replay recorded histories against the current code.

The CI guard for code changes while executions are in flight: save histories (from
:class:`~orchestra.testing.LocalRunner` with :meth:`RunResult.save`, or exported from AWS
with ``GetDurableExecutionHistory`` or ``GetDurableExecutionState``) and replay them
against the workflow as it is now. A change that would make an in-flight execution fail
is reported with a readable diff of what the history recorded and what the code yields.

Example:
    >>> from orchestra import Step, Wait
    >>> from orchestra.testing import LocalRunner
    >>> def v1(x):
    ...     yield Step(abs, x, name="abs")
    ...     yield Wait(60)
    ...     return x
    >>> def v2(x):
    ...     yield Step(abs, x, name="absolute")     # renamed: in-flight runs would break
    ...     yield Wait(60)
    ...     return x
    >>> history = LocalRunner(v1).run(-1).history_dicts()
    >>> Replayer(v1).replay(history).ok
    True
    >>> result = Replayer(v2).replay(history, raise_on_mismatch=False)
    >>> print(result.diff)
    the workflow #1: recorded a STEP (Step) named abs != code a STEP (Step) named absolute
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from orchestra.interpreter.commands import Failed
from orchestra.interpreter.determinism import describe
from orchestra.testing.probe import probe, visible
from orchestra.wire.converter import from_wire
from orchestra.wire.models import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    Event,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
)

__all__ = [
    "MissingInputError",
    "ReplayMismatch",
    "ReplayResult",
    "Replayer",
    "operations_from_history",
]

_FAMILIES = {
    "Execution": OperationType.EXECUTION,
    "Step": OperationType.STEP,
    "Wait": OperationType.WAIT,
    "Context": OperationType.CONTEXT,
    "Callback": OperationType.CALLBACK,
    "ChainedInvoke": OperationType.CHAINED_INVOKE,
}
_STATUSES = {
    "Started": OperationStatus.STARTED,
    "Succeeded": OperationStatus.SUCCEEDED,
    "Failed": OperationStatus.FAILED,
    "Cancelled": OperationStatus.CANCELLED,
    "TimedOut": OperationStatus.TIMED_OUT,
    "Stopped": OperationStatus.STOPPED,
}
_UNSET: Any = object()
_NON_DETERMINISTIC = "NonDeterministicExecutionError"
#: Outcomes that mean the current code cannot continue the recorded execution.
_REPLAY_FAILURES = frozenset(
    {_NON_DETERMINISTIC, "SerializationError", "WorkflowDefinitionError", "PayloadTooLargeError"}
)


class ReplayMismatch(AssertionError):
    """The current code cannot replay a recorded history."""


class MissingInputError(ValueError):
    """The history does not carry the execution input, and none was passed."""


@attrs.frozen
class ReplayResult:
    """The outcome of replaying one history."""

    ok: bool
    error: str | None
    diff: str


def _split(event_type: str) -> tuple[OperationType, OperationStatus] | None:
    for family, op_type in _FAMILIES.items():
        if event_type.startswith(family):
            status = _STATUSES.get(event_type[len(family) :])
            if status is not None:
                return op_type, status
    return None


def operations_from_history(
    events: Iterable[Event | Mapping[str, Any]],
) -> tuple[str | None, list[Operation]]:
    """Rebuild the execution's input and operations from GetDurableExecutionHistory events."""
    ops: dict[str, Operation] = {}
    input_payload: str | None = None
    for raw in events:
        event = raw if isinstance(raw, Event) else from_wire(dict(raw), Event)
        kind = _split(event.event_type)
        if kind is None or event.id is None:
            continue
        op_type, status = kind
        details = event.details
        if op_type is OperationType.EXECUTION:
            if details.input is not None and not details.input.truncated:
                input_payload = details.input.payload
            continue
        old = ops.get(event.id)
        result = details.result.payload if details.result else None
        error: ErrorObject | None = details.error.payload if details.error else None
        retry = details.retry_details
        if op_type is OperationType.STEP and retry and retry.next_attempt_delay_seconds:
            status = OperationStatus.PENDING  # a RETRY: the step waits for its next attempt
        fields: dict[str, Any] = {"status": status}
        if op_type is OperationType.STEP:
            attempt = retry.current_attempt if retry and retry.current_attempt else None
            previous = old.step_details if old and old.step_details else StepDetails()
            fields["step_details"] = StepDetails(
                attempt=attempt if attempt is not None else previous.attempt,
                result=result,
                error=error,
            )
        elif op_type is OperationType.CONTEXT and status is not OperationStatus.STARTED:
            fields["context_details"] = ContextDetails(
                replay_children=result == "", result=result or None, error=error
            )
        elif op_type is OperationType.CALLBACK:
            previous_cb = old.callback_details if old else None
            fields["callback_details"] = CallbackDetails(
                callback_id=details.callback_id
                or (previous_cb.callback_id if previous_cb else None),
                result=result,
                error=error,
            )
        elif op_type is OperationType.CHAINED_INVOKE:
            fields["chained_invoke_details"] = ChainedInvokeDetails(result=result, error=error)
        if old is None:
            ops[event.id] = Operation(
                id=event.id,
                type=op_type,
                parent_id=event.parent_id,
                name=event.name,
                sub_type=event.sub_type,
                start_timestamp=event.event_timestamp,
                **fields,
            )
        else:
            ops[event.id] = attrs.evolve(old, **fields)
    return input_payload, list(ops.values())


class Replayer:
    """Replays saved histories against a workflow's current code.

    Args:
        workflow: the workflow generator function as it is now.
    """

    def __init__(self, workflow: Callable[..., Any]) -> None:
        self.workflow = workflow

    @staticmethod
    def load(path: str | pathlib.Path) -> Any:
        """Read a saved history (``{"Events": [...]}``, ``{"Operations": [...]}`` or a list)."""
        return json.loads(pathlib.Path(path).read_text())

    def replay(
        self,
        history: Any,
        *,
        input: Any = _UNSET,
        raise_on_mismatch: bool = True,
        execution_arn: str | None = None,
    ) -> ReplayResult:
        """Replay ``history`` (events, a state export, or a RunResult) against the code.

        The workflow is replayed with the execution input the history carries. A history
        exported without execution data (``IncludeExecutionData=False``: the input is
        ``{"Truncated": true}``), or without its ``EXECUTION`` operation, does not carry it:
        pass ``input=`` explicitly then, ``input=None`` included, or the replay refuses to
        guess.

        Args:
            history: ``{"Events": [...]}`` from GetDurableExecutionHistory (use
                ``IncludeExecutionData=True`` so results and the input are included), a list
                of such events, ``{"Operations": [...]}`` from GetDurableExecutionState, a list
                of :class:`Operation`, or a :class:`~orchestra.testing.RunResult`.
            input: the execution input; required when the history does not carry it, and
                used instead of the recorded one when given.
            raise_on_mismatch: raise :class:`ReplayMismatch` with the diff on a mismatch.
            execution_arn: the execution's ARN, from which ``Uuid()`` values derive (a
                :class:`~orchestra.testing.RunResult` gives its own). A history does not
                carry it; pass it when the operations the workflow yields depend on a
                uuid's value (say, a step named after one).

        Raises:
            MissingInputError: the history does not carry the input and ``input`` was not
                passed.
            ReplayMismatch: the code cannot replay the history (with ``raise_on_mismatch``).

        Example:
            >>> from orchestra import Step
            >>> from orchestra.testing import LocalRunner
            >>> def double(x):
            ...     return (yield Step(abs, x, name="abs")) * 2
            >>> run = LocalRunner(double).run(-4)
            >>> truncated = run.history_dicts(include_execution_data=False)
            >>> Replayer(double).replay(truncated)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            orchestra.testing.replay.MissingInputError: the history does not carry the ...
            >>> Replayer(double).replay(truncated, input=-4).ok
            True
        """
        payload, operations = _normalise(history)
        arn = execution_arn or _arn_of(history)
        if input is not _UNSET:
            value = input
        elif payload is not None:
            value = json.loads(payload)
        else:
            raise MissingInputError(
                "the history does not carry the execution input (it was exported without "
                "execution data, or without its EXECUTION operation), so the replay cannot "
                "know what the workflow was called with. Pass it explicitly: "
                "Replayer(workflow).replay(history, input=...), input=None for a workflow "
                "called without input. Or export the history with its execution data "
                "(--include-execution-data / IncludeExecutionData=True)."
            )
        state = visible(op for op in operations if op.type is not OperationType.EXECUTION)
        result = probe(self.workflow, value, state, execution_arn=arn)
        by_id = {op.id: op for op in state}
        lines: list[str] = []
        first_bad: str | None = None
        for y in result.yields:
            recorded = by_id.get(y.op_id)
            code = describe(y.op_type, y.sub_type, y.name)
            if recorded is None:
                lines.append(f"{y.path} #{y.position}: (not in the history) .. code {code}")
                continue
            seen = describe(recorded.type, recorded.sub_type, recorded.name)
            same = seen == code
            lines.append(
                f"{y.path} #{y.position}: recorded {seen} {'==' if same else '!='} code {code}"
            )
            if not same and first_bad is None:
                first_bad = lines[-1]
        error = None
        if isinstance(result.outcome, Failed) and (
            result.outcome.error.error_type in _REPLAY_FAILURES
        ):
            error = f"{result.outcome.error.error_type}: {result.outcome.error.error_message}"
            if first_bad is None and result.outcome.error.error_type != _NON_DETERMINISTIC:
                first_bad = lines[-1] if lines else ""
                lines.append(f"the replay failed: {error}")
        ok = error is None
        diff = first_bad if first_bad is not None else "\n".join(lines[-5:])
        replay = ReplayResult(ok=ok, error=error, diff=diff)
        if not ok and raise_on_mismatch:
            raise ReplayMismatch(f"{error}\n{diff}")
        return replay


def _arn_of(history: Any) -> str:
    from orchestra.testing.runner import RunResult

    return history.arn if isinstance(history, RunResult) else "arn:orchestra:replay"


def _normalise(history: Any) -> tuple[str | None, list[Operation]]:
    from orchestra.testing.runner import RunResult

    if isinstance(history, RunResult):
        return operations_from_history(history.history)
    if isinstance(history, Mapping):
        if "Events" in history:
            return operations_from_history(history["Events"])
        if "Operations" in history:
            return _with_input([from_wire(op, Operation) for op in history["Operations"]])
        raise ValueError("a history needs an 'Events' or 'Operations' key")
    items: Sequence[Any] = list(history)
    if items and isinstance(items[0], Operation):
        return _with_input(items)
    if items and isinstance(items[0], Mapping) and "EventType" not in items[0]:
        return _with_input([from_wire(dict(op), Operation) for op in items])
    return operations_from_history(items)


def _with_input(operations: Sequence[Operation]) -> tuple[str | None, list[Operation]]:
    """A state export carries the input on its EXECUTION operation."""
    for op in operations:
        if op.type is OperationType.EXECUTION and op.execution_details is not None:
            return op.execution_details.input_payload, list(operations)
    return None, list(operations)
