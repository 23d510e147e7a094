"""An execution's scalar state as JSON, and an execution rebuilt from what a store saved.

A persistent store keeps an execution in four parts: this module's *state* (status, result,
token, counters, timers, links), its operations (one row each, in the order they were first
stored, with a hidden flag), its history events (append-only) and its callbacks. Closures on
the agenda are never saved: :func:`restore` re-arms the open callbacks' deadlines, and the
engine revives chained invokes.

Example:
    >>> ex = Execution("arn:x/durable-execution/n/abc", "n", "fn", '{"a": 1}', entry="m:w")
    >>> data = state_of(ex)
    >>> back = restore("arn:x/durable-execution/n/abc", data, [], [], [])
    >>> back.entry, back.input_payload, back.status.value
    ('m:w', '{"a": 1}', 'RUNNING')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from orchestra.service.local.callbacks import CallbackState, arm_callback
from orchestra.service.local.execution import Execution
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import (
    ErrorObject,
    Event,
    ExecutionStatus,
    Operation,
    OperationStatus,
)

__all__ = ["callback_of", "restore", "state_of"]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _error(err: ErrorObject | None) -> Any:
    return to_wire(err) if err is not None else None


def _parse_error(data: Any) -> ErrorObject | None:
    return from_wire(data, ErrorObject) if data is not None else None


def state_of(ex: Execution) -> dict[str, Any]:
    """The scalar state of ``ex`` as a JSON-ready dictionary."""
    closing = ex.closing
    return {
        "name": ex.name,
        "function_name": ex.function_name,
        "entry": ex.entry,
        "input": ex.input_payload,
        "status": ex.status.value,
        "result": ex.result,
        "error": _error(ex.error),
        "start": _time(ex.start_timestamp),
        "end": _time(ex.end_timestamp),
        "token": ex.token,
        "checkpoint_calls": ex.checkpoint_calls,
        "invocations": ex.invocations,
        "closing": (
            [closing[0].value, closing[1], _error(closing[2])] if closing is not None else None
        ),
        "wake": ex.wake,
        "failures": ex.failures,
        "empty_pending": ex.empty_pending,
        "invoked_by": list(ex.invoked_by) if ex.invoked_by is not None else None,
        "child_arns": ex.child_arns,
        "timers": [[due.isoformat(), seq, op_id] for due, seq, op_id in ex.timers],
        "timer_seq": ex._timer_seq,
        "dirty": list(ex.dirty),
        "invoking": ex.invoking,
        "runner": ex.runner,
        "invocation_started": _time(ex.invocation_started),
    }


def callback_of(state: CallbackState) -> dict[str, Any]:
    """A callback's service-side state as a JSON-ready dictionary."""
    return {
        "op_id": state.op_id,
        "timeout_at": _time(state.timeout_at),
        "heartbeat_seconds": state.heartbeat_seconds,
        "heartbeat_at": _time(state.heartbeat_at),
    }


def restore(
    arn: str,
    state: dict[str, Any],
    operations: Iterable[tuple[dict[str, Any], bool]],
    events: Iterable[dict[str, Any]],
    callbacks: Iterable[tuple[str, dict[str, Any]]],
    *,
    into: Execution | None = None,
) -> Execution:
    """Rebuild an execution from its saved parts (operations in first-stored order).

    With ``into``, that object is reset and filled, so whoever holds it sees the new state.
    """
    ex = into if into is not None else Execution.__new__(Execution)
    Execution.__init__(
        ex, arn, state["name"], state["function_name"], state["input"], entry=state["entry"]
    )
    ex.status = ExecutionStatus(state["status"])
    ex.result = state["result"]
    ex.error = _parse_error(state["error"])
    ex.start_timestamp = _parse_time(state["start"])
    ex.end_timestamp = _parse_time(state["end"])
    ex.token = state["token"]
    ex.checkpoint_calls = state["checkpoint_calls"]
    ex.invocations = state["invocations"]
    closing = state["closing"]
    if closing is not None:
        ex.closing = (ExecutionStatus(closing[0]), closing[1], _parse_error(closing[2]))
    ex.wake = state["wake"]
    ex.failures = state["failures"]
    ex.empty_pending = state["empty_pending"]
    invoked_by = state["invoked_by"]
    ex.invoked_by = (invoked_by[0], invoked_by[1]) if invoked_by is not None else None
    ex.child_arns = list(state["child_arns"])
    ex.timers = [(datetime.fromisoformat(due), seq, op_id) for due, seq, op_id in state["timers"]]
    ex._timer_seq = state["timer_seq"]
    ex.dirty = dict.fromkeys(state["dirty"])
    ex.invoking = state["invoking"]
    ex.runner = state.get("runner")
    ex.invocation_started = _parse_time(state["invocation_started"])
    for data, hidden in operations:
        op = from_wire(data, Operation)
        ex.operations[op.id] = op
        if op.parent_id is not None:
            ex.children.setdefault(op.parent_id, []).append(op.id)
        if hidden:
            ex.hidden.add(op.id)
    ex.events = [from_wire(data, Event) for data in events]
    ex.saved_events = len(ex.events)
    for callback_id, data in callbacks:
        callback = CallbackState(
            op_id=data["op_id"],
            callback_id=callback_id,
            timeout_at=_parse_time(data["timeout_at"]),
            heartbeat_seconds=data["heartbeat_seconds"],
            heartbeat_at=_parse_time(data["heartbeat_at"]),
        )
        ex.callbacks[callback_id] = callback
        owner = ex.operations.get(callback.op_id)
        if owner is not None and owner.status is OperationStatus.STARTED:
            arm_callback(ex, callback)
    return ex
