"""The interface both service backends satisfy, and how their errors are classified.

Example:
    >>> classify(ServiceError("ThrottlingException", "slow down", status=429)).retryable
    True
    >>> classify(ServiceError("InvalidParameterValueException", "invalid checkpoint token",
    ...                       status=400)).retryable
    True
    >>> classify(ServiceError("InvalidParameterValueException", "Inconsistent operation name.",
    ...                       status=400)).retryable
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orchestra.errors import CheckpointError
from orchestra.wire.models import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = ["DurableService", "ServiceError", "classify"]

_KMS_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)
_PAYLOAD_TOO_LARGE = ("RequestEntityTooLargeException", "PayloadTooLargeException")


class ServiceError(Exception):
    """An error answer from the durable-execution service (or no answer: ``status=None``)."""

    def __init__(self, code: str, message: str, *, status: int | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


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


def classify(error: ServiceError) -> CheckpointError:
    """Wrap a service error as a :class:`CheckpointError`, retryable or not.

    Retryable (the invocation fails and Lambda re-drives it): throttling (429), 5xx,
    network errors, and a stale checkpoint token whatever the case of its message.
    Terminal (the execution fails): KMS errors, a payload-too-large rejection, and any other
    4xx.
    """
    message = f"{error.code}: {error.message}"
    if error.code in _KMS_CODES:
        return CheckpointError(message, retryable=False, code=error.code)
    if error.code in _PAYLOAD_TOO_LARGE or error.status == 413:
        return CheckpointError(message, retryable=False, code=error.code)
    if error.status is None or error.status == 429 or error.status >= 500:
        return CheckpointError(message, retryable=True, code=error.code)
    if error.message.lower().startswith("invalid checkpoint token"):
        return CheckpointError(message, retryable=True, code=error.code)
    return CheckpointError(message, retryable=False, code=error.code)
