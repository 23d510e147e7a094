"""An execution's beginning and end.

Its first operation and event, how an invocation's answer ends it (or not), and its last
event.

The service validates the handler's output: an unknown status, or a ``SUCCEEDED`` with an
``Error`` (a ``FAILED`` with a ``Result``) fails the execution with
``InvalidParameterValueException``; ``PENDING`` leaves it running. An empty ``Result`` (or an
absent ``Error``) takes the one an EXECUTION update recorded earlier (large results).

Example:
    >>> judge_output({"Status": "SUCCEEDED", "Result": "1"}, None)
    (<ExecutionStatus.SUCCEEDED: 'SUCCEEDED'>, '1', None)
    >>> judge_output({"Status": "PENDING"}, None) is None
    True
    >>> judge_output({"Status": "SUCCEEDED", "Error": {}}, None)[2].error_message
    'a SUCCEEDED response must not carry Error'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from orchestra.service.local.execution import Execution
from orchestra.service.local.history import error, payload
from orchestra.wire.models import (
    ErrorObject,
    Event,
    EventDetails,
    ExecutionDetails,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
)

__all__ = ["Verdict", "close_execution", "judge_output", "open_execution"]

#: How an execution ends: its status, result and error.
Verdict = tuple[ExecutionStatus, str | None, ErrorObject | None]

_INVALID = "InvalidParameterValueException"


def open_execution(
    arn: str,
    name: str,
    function_name: str,
    input_payload: str | None,
    execution_timeout: int,
    now: datetime,
    *,
    entry: str | None = None,
) -> Execution:
    """A new execution: its EXECUTION operation and its ``ExecutionStarted`` event."""
    ex = Execution(arn, name, function_name, input_payload, entry=entry)
    ex.start_timestamp = now
    op = Operation(
        id=ex.execution_id,
        type=OperationType.EXECUTION,
        status=OperationStatus.STARTED,
        start_timestamp=now,
        name=name,
        execution_details=ExecutionDetails(input_payload=input_payload),
    )
    ex.put(op)
    ex.append(
        Event(
            event_type="ExecutionStarted",
            event_id=0,
            event_timestamp=now,
            details=EventDetails(input=payload(input_payload), execution_timeout=execution_timeout),
            id=op.id,
            name=name,
        ),
    )
    return ex


def judge_output(output: Any, closing: Verdict | None) -> Verdict | None:
    """How the handler's ``output`` ends the execution; ``None`` while it is pending."""
    if not isinstance(output, dict) or output.get("Status") not in (
        "SUCCEEDED",
        "FAILED",
        "PENDING",
    ):
        return (
            ExecutionStatus.FAILED,
            None,
            ErrorObject(
                error_message=f"invalid handler response: {str(output)[:200]}",
                error_type=_INVALID,
            ),
        )
    status = output["Status"]
    if (status == "SUCCEEDED" and "Error" in output) or (status == "FAILED" and "Result" in output):
        return (
            ExecutionStatus.FAILED,
            None,
            ErrorObject(
                error_message=f"a {status} response must not carry "
                f"{'Error' if status == 'SUCCEEDED' else 'Result'}",
                error_type=_INVALID,
            ),
        )
    if status == "SUCCEEDED":
        result = output.get("Result")
        if not result and closing is not None:
            result = closing[1]
        return ExecutionStatus.SUCCEEDED, result, None
    if status == "FAILED":
        err_dict = output.get("Error")
        err = (
            ErrorObject(
                error_message=err_dict.get("ErrorMessage"),
                error_type=err_dict.get("ErrorType"),
                error_data=err_dict.get("ErrorData"),
                stack_trace=err_dict.get("StackTrace"),
            )
            if isinstance(err_dict, dict)
            else (closing[2] if closing is not None else None)
        )
        return ExecutionStatus.FAILED, None, err
    return None


_KINDS = {
    ExecutionStatus.SUCCEEDED: "ExecutionSucceeded",
    ExecutionStatus.FAILED: "ExecutionFailed",
    ExecutionStatus.TIMED_OUT: "ExecutionTimedOut",
    ExecutionStatus.STOPPED: "ExecutionStopped",
}


def close_execution(
    ex: Execution,
    status: ExecutionStatus,
    result: str | None,
    err: ErrorObject | None,
    now: datetime,
) -> None:
    """End ``ex``: its status, result or error, its EXECUTION operation and its last event."""
    ex.status = status
    ex.result = result
    ex.error = err
    ex.end_timestamp = now
    op = ex.operations[ex.execution_id]
    ex.put(attrs.evolve(op, status=OperationStatus(status.value), end_timestamp=now))
    details = (
        EventDetails(result=payload(result))
        if status is ExecutionStatus.SUCCEEDED
        else EventDetails(error=error(err))
    )
    ex.append(
        Event(
            event_type=_KINDS[status],
            event_id=0,
            event_timestamp=now,
            details=details,
            id=op.id,
            name=ex.name,
        ),
    )
