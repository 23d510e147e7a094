"""The interface both service backends satisfy, and how their errors are classified.

A backend raises :class:`ServiceError` for every failed call: an error answer, no answer
(a network error or a timeout, ``status=None``), or an answer that does not parse
(:data:`MALFORMED`). :func:`classify` turns it into the error an invocation reports: a
:class:`~orchestra.errors.CheckpointError` or a :class:`~orchestra.errors.GetStateError`,
retryable or not.

Example:
    >>> classify(ServiceError("ThrottlingException", "slow down", status=429)).retryable
    True
    >>> classify(ServiceError("InvalidParameterValueException", "invalid checkpoint token",
    ...                       status=400)).retryable
    True
    >>> classify(ServiceError("InvalidParameterValueException", "Inconsistent operation name.",
    ...                       status=400)).retryable
    False
    >>> err = classify(ServiceError("ServiceException", "boom", status=503, request_id="r-1"),
    ...                Call.GET_STATE)
    >>> type(err).__name__, err.retryable, err.request_id
    ('GetStateError', True, 'r-1')
    >>> print(err)
    GetDurableExecutionState failed: ServiceException: boom (HTTP 503, RequestId r-1)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from orchestra.errors import CheckpointError, GetStateError, InvocationError
from orchestra.wire.models import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = [
    "MALFORMED",
    "Call",
    "DurableService",
    "ServiceError",
    "classify",
    "describe",
    "is_retryable",
]

#: The code of a :class:`ServiceError` for an answer that does not match the service's model.
MALFORMED = "MalformedResponse"

_KMS_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)
_PAYLOAD_TOO_LARGE = ("RequestEntityTooLargeException", "PayloadTooLargeException")
_STALE_TOKEN = "invalid checkpoint token"


class Call(enum.Enum):
    """The service call that failed; it decides the classified error's type."""

    CHECKPOINT = "CheckpointDurableExecution"
    GET_STATE = "GetDurableExecutionState"


class ServiceError(Exception):
    """A failed call to the durable-execution service.

    Args:
        code: the service's error code (``ThrottlingException``), or the client-side error's
            name (``ReadTimeoutError``), or :data:`MALFORMED`.
        message: the error message (never a payload).
        status: the HTTP status of the answer; ``None`` when there was no answer.
        request_id: the answer's RequestId, when there was one.
        retryable: the backend's own verdict, when it knows better than the status (a
            client-side parameter validation error is terminal, a malformed answer
            retryable); ``None`` lets :func:`classify` decide.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None,
        request_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retryable = retryable


class DurableService(Protocol):
    """The two calls an invocation makes."""

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """``CheckpointDurableExecution``: record ``updates``; returns the next token."""
        ...

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """``GetDurableExecutionState``: a page of the execution's operations."""
        ...


def is_retryable(error: ServiceError) -> bool:
    """Whether re-driving the invocation can get past ``error``.

    Retryable: throttling (429), 5xx, no answer (network errors, timeouts), a malformed
    answer, and a stale checkpoint token whatever the case of its message. Terminal: KMS
    errors (at any status), a payload-too-large rejection, a request the client itself
    rejected, and any other 4xx.

    Example:
        >>> is_retryable(ServiceError("KMSDisabledException", "kms", status=502))
        False
    """
    if error.retryable is not None:
        return error.retryable
    if error.code in _KMS_CODES:
        return False
    if error.code in _PAYLOAD_TOO_LARGE or error.status == 413:
        return False
    if error.status is None or error.status == 429 or error.status >= 500:
        return True
    return error.message.lower().startswith(_STALE_TOKEN)


def describe(error: ServiceError, call: Call) -> str:
    """One line for logs and errors: call, code, message, HTTP status and RequestId.

    Example:
        >>> describe(ServiceError("ReadTimeoutError", "read timed out", status=None),
        ...          Call.CHECKPOINT)
        'CheckpointDurableExecution failed: ReadTimeoutError: read timed out (no answer)'
    """
    details = [f"HTTP {error.status}" if error.status is not None else "no answer"]
    if error.request_id:
        details.append(f"RequestId {error.request_id}")
    return f"{call.value} failed: {error.code}: {error.message} ({', '.join(details)})"


def classify(error: ServiceError, call: Call = Call.CHECKPOINT) -> InvocationError:
    """Wrap a service error as the invocation error ``call`` reports.

    Args:
        error: what the backend raised.
        call: which call failed: a checkpoint gives a
            :class:`~orchestra.errors.CheckpointError`, a state read a
            :class:`~orchestra.errors.GetStateError`.

    Returns:
        The classified error, retryable or not (:func:`is_retryable`), with ``code``,
        ``status`` and ``request_id`` set and ``error`` as its ``__cause__``.
    """
    cls = GetStateError if call is Call.GET_STATE else CheckpointError
    result = cls(
        describe(error, call),
        retryable=is_retryable(error),
        code=error.code,
        status=error.status,
        request_id=error.request_id,
    )
    result.__cause__ = error
    return result
