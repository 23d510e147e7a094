"""Chained invokes in the emulator: targets, function names, child executions, outcomes.

A CHAINED_INVOKE START names a function (a name, a partial ARN or a full ARN, with an
optional ``:qualifier``). The emulator looks for a *target* registered under that function
name (``name:qualifier`` first, then ``name``):

* a plain function ``f(payload)`` is called with the JSON-decoded payload, between
  invocations; its JSON-encoded return value is the operation's ``Result``, an exception
  its ``Error`` ``{ErrorType: <class name>, ErrorMessage: str(exc)}``;
* a :class:`DurableTarget` (a Lambda handler speaking the durable protocol, such as
  ``lambda_handler(workflow, service=service)``) becomes a child durable execution on the
  same emulator, with its own ARN and history; its outcome completes the operation.

An unknown target fails the operation in the same checkpoint response
(``ResourceNotFoundException``, "Function not found: ..."), as the service's preflight does;
a function name the service model does not allow is rejected with the checkpoint call.

Example:
    >>> parse_function_name("arn:aws:lambda:us-east-1:123456789012:function:pay:prod")
    FunctionRef(name='pay', qualifier='prod', account='123456789012', region='us-east-1')
    >>> parse_function_name("pay").qualifier is None
    True
    >>> parse_function_name("not a name")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.service.api.ServiceError: InvalidParameterValueException: Invalid FunctionName...
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from orchestra.service.api import ServiceError
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import completion_event, operation_event, payload
from orchestra.service.local.transitions import new_operation
from orchestra.wire.models import (
    ChainedInvokeDetails,
    ErrorObject,
    EventDetails,
    ExecutionStatus,
    OperationStatus,
    OperationUpdate,
)

__all__ = [
    "ACCOUNT",
    "REGION",
    "DurableTarget",
    "FunctionRef",
    "Invokes",
    "Target",
    "check_tenant_id",
    "parse_function_name",
]

#: The account and region of the emulated functions (they appear in ARNs).
ACCOUNT = "123456789012"
REGION = "us-east-1"

#: ``NamespacedFunctionName`` in the service model, with named groups.
_FUNCTION_NAME = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:(?:-gov)|(?:-iso(?:[a-z]?)))?-[a-z]+-\d{1}):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9\-_\.]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?"
)
_TENANT_ID = re.compile(r"[a-zA-Z0-9\._:/=+\-@ ]+")

Handler = Callable[[dict[str, Any], Any], Any]


@attrs.frozen
class DurableTarget:
    """A durable function to run as a child execution: its Lambda handler.

    Example::

        service.register_target("child", DurableTarget(lambda_handler(child, service=service)))
    """

    handler: Handler


#: A registered target: a plain function of the decoded payload, or a durable function.
Target = Callable[[Any], Any] | DurableTarget


@attrs.frozen
class FunctionRef:
    """A parsed function name: the name, and the qualifier, account and region if given."""

    name: str
    qualifier: str | None = None
    account: str | None = None
    region: str | None = None


def _reject(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, status=400)


def parse_function_name(text: object) -> FunctionRef:
    """Parse a ``FunctionName`` as the service model allows it, or reject it (HTTP 400)."""
    match = _FUNCTION_NAME.fullmatch(text) if isinstance(text, str) and len(text) <= 256 else None
    if match is None:
        raise _reject(
            "Invalid FunctionName: expected a function name, partial ARN or full ARN "
            "(1-256 characters)."
        )
    return FunctionRef(
        name=match["name"],
        qualifier=match["qualifier"],
        account=match["account"],
        region=match["region"],
    )


def check_tenant_id(tenant_id: object) -> None:
    """Reject a ``TenantId`` the service model does not allow (HTTP 400)."""
    if tenant_id is None:
        return
    if (
        not isinstance(tenant_id, str)
        or not 1 <= len(tenant_id) <= 256
        or _TENANT_ID.fullmatch(tenant_id) is None
    ):
        raise _reject("Invalid TenantId: 1-256 characters of [a-zA-Z0-9._:/=+-@ ].")


#: Starts a child execution ``(function name, input payload, handler) -> execution``.
StartChild = Callable[[str, str | None, Handler], Execution]


class Invokes:
    """The emulator's chained-invoke processor and its registry of targets.

    Args:
        start_child: creates a child execution and registers its handler with the engine.
    """

    def __init__(self, start_child: StartChild) -> None:
        self._start_child = start_child
        self._targets: dict[tuple[str, str | None], Target] = {}

    def register(self, function_name: str, target: Target) -> None:
        """Register ``target`` under ``function_name`` (a name or ARN, qualifier optional)."""
        if not isinstance(target, DurableTarget):
            if inspect.isgeneratorfunction(target):
                raise TypeError(
                    "a workflow target needs a handler: register "
                    "DurableTarget(lambda_handler(workflow, service=service)), or use "
                    "LocalRunner.register_target(name, workflow)"
                )
            if not callable(target):
                raise TypeError(f"a target must be callable, got {type(target).__name__}")
        ref = parse_function_name(function_name)
        self._targets[(ref.name, ref.qualifier)] = target

    def _lookup(self, ref: FunctionRef) -> Target | None:
        if ref.account not in (None, ACCOUNT) or ref.region not in (None, REGION):
            return None
        found = self._targets.get((ref.name, ref.qualifier))
        return found if found is not None else self._targets.get((ref.name, None))

    def start(self, ex: Execution, update: OperationUpdate, now: datetime) -> None:
        """Apply an accepted CHAINED_INVOKE START: the operation, its event, its target."""
        options = update.chained_invoke_options
        assert options is not None  # checked by the rules
        ref = parse_function_name(options.function_name)
        target = self._lookup(ref)
        op = new_operation(update, now)
        child: Execution | None = None
        if isinstance(target, DurableTarget):
            child = self._start_child(ref.name, update.payload, target.handler)
            child.invoked_by = (ex.arn, op.id)
            ex.child_arns.append(child.arn)
        ex.store(op)
        ex.append(
            operation_event(
                "ChainedInvokeStarted",
                op,
                now,
                EventDetails(
                    function_name=options.function_name,
                    tenant_id=options.tenant_id,
                    input=payload(update.payload),
                    executed_version=ref.qualifier or "$LATEST",
                    durable_execution_arn=child.arn if child is not None else None,
                ),
            )
        )
        if target is None:
            error = ErrorObject(
                error_message=f"Function not found: {options.function_name}. Register a "
                "target for it (LocalService.register_target).",
                error_type="ResourceNotFoundException",
            )
            finish(ex, op.id, OperationStatus.FAILED, now, error=error)
        elif not isinstance(target, DurableTarget):
            ex.schedule(now, functools.partial(_call_plain, ex, op.id, target, update.payload))


def _call_plain(
    ex: Execution, op_id: str, function: Callable[[Any], Any], body: str | None, now: datetime
) -> None:
    try:
        argument = json.loads(body) if body is not None else None
    except ValueError:
        error = ErrorObject(
            error_message="Could not parse request body into json",
            error_type="InvalidRequestContentException",
        )
        finish(ex, op_id, OperationStatus.FAILED, now, error=error)
        return
    try:
        value = function(argument)
    except Exception as exc:
        error = ErrorObject(error_message=str(exc), error_type=type(exc).__name__)
        finish(ex, op_id, OperationStatus.FAILED, now, error=error)
        return
    try:
        result = json.dumps(value)
    except (TypeError, ValueError) as exc:
        error = ErrorObject(
            error_message=f"Unable to marshal response: {exc}", error_type="Runtime.MarshalError"
        )
        finish(ex, op_id, OperationStatus.FAILED, now, error=error)
        return
    finish(ex, op_id, OperationStatus.SUCCEEDED, now, result=result)


_OUTCOMES = {
    ExecutionStatus.SUCCEEDED: OperationStatus.SUCCEEDED,
    ExecutionStatus.FAILED: OperationStatus.FAILED,
    ExecutionStatus.TIMED_OUT: OperationStatus.TIMED_OUT,
    ExecutionStatus.STOPPED: OperationStatus.STOPPED,
}


def child_outcome(parent: Execution, op_id: str, child: Execution, now: datetime) -> None:
    """Complete the CHAINED_INVOKE ``op_id`` of ``parent`` with ``child``'s outcome."""
    status = _OUTCOMES[child.status]
    if status is OperationStatus.SUCCEEDED:
        finish(parent, op_id, status, now, result=child.result)
    else:
        finish(parent, op_id, status, now, error=child.error)


def finish(
    ex: Execution,
    op_id: str,
    status: OperationStatus,
    now: datetime,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> None:
    """Complete a started chained invoke (no-op once it or its execution has ended)."""
    op = ex.operations.get(op_id)
    if (
        op is None
        or op.status is not OperationStatus.STARTED
        or ex.status is not ExecutionStatus.RUNNING
    ):
        return
    done = attrs.evolve(
        op,
        status=status,
        end_timestamp=now,
        chained_invoke_details=ChainedInvokeDetails(result=result, error=error),
    )
    ex.store(done)
    ex.append(completion_event(done, now))
