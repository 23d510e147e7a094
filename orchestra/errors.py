"""orchestra's exceptions.

Three families:

* :class:`OperationError` and its subclasses are thrown *into* a workflow when a durable
  operation failed (a step exhausted its retries, a child context raised). They keep the
  original ``error_type``, ``message`` and ``data`` exactly as checkpointed, so a first run
  and a replay raise identical errors. Catch them like any exception.
* :class:`ExecutionError` and its subclasses end the execution as FAILED without retrying
  the invocation: bad workflow code (non-determinism, unserialisable values, oversize
  payloads) that no retry can fix.
* :class:`InvocationError` subclasses end the *invocation* (Lambda retries it) when they are
  retryable: throttling, a stale checkpoint token, a 5xx from the service.

Example:
    >>> err = StepError("disk full", error_type="OSError")
    >>> err.is_caused_by(OSError), err.is_caused_by(KeyError)
    (True, False)
"""

from __future__ import annotations

from orchestra.wire.models import ErrorObject

__all__ = [
    "CheckpointError",
    "ChildContextError",
    "ExecutionError",
    "GetStateError",
    "InvocationError",
    "MalformedEventError",
    "NonDeterministicExecutionError",
    "OperationError",
    "OrchestraError",
    "PayloadTooLargeError",
    "SerializationError",
    "StepError",
    "StepInterruptedError",
    "ValidationError",
    "WorkflowDefinitionError",
    "error_object",
    "operation_error_from",
]


class OrchestraError(Exception):
    """Base class of every error orchestra raises."""


class ValidationError(OrchestraError, ValueError):
    """An argument is invalid (a duration out of range, a bad name, ...)."""


class OperationError(OrchestraError):
    """A durable operation failed; thrown into the workflow at the ``yield``.

    Attributes:
        message: the checkpointed error message.
        error_type: the type name of the error that caused the failure (``"ValueError"``).
        data: optional error data, as checkpointed.
        stack_trace: optional stack trace lines, as checkpointed.
        operation_id: the id of the failed operation, when known.
        name: the name of the failed operation, when known.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
        operation_id: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(message or "")
        self.message = message or ""
        self.error_type = error_type or type(self).__name__
        self.data = data
        self.stack_trace = stack_trace
        self.operation_id = operation_id
        self.name = name

    def is_caused_by(self, error: type[BaseException] | str) -> bool:
        """Whether this failure was caused by ``error`` (a class or a type name).

        The check uses the checkpointed type names, so it answers the same on the first run
        and on every replay.
        """
        names = {error} if isinstance(error, str) else {c.__name__ for c in error.__mro__}
        return self.error_type in names or type(self).__name__ in names

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_type={self.error_type!r})"


class StepError(OperationError):
    """A step failed and its retry policy gave up."""


class ChildContextError(OperationError):
    """A child context's body raised."""


class StepInterruptedError(OrchestraError):
    """An at-most-once step attempt was interrupted (the invocation died mid-attempt)."""


class ExecutionError(OrchestraError):
    """An error that fails the whole execution; retrying the invocation cannot help."""


class NonDeterministicExecutionError(ExecutionError):
    """The workflow yielded something other than what its history recorded at a position."""


class SerializationError(ExecutionError):
    """A value could not be serialised or deserialised."""


class PayloadTooLargeError(ExecutionError):
    """A value is larger than the service accepts for that payload."""


class WorkflowDefinitionError(ExecutionError, TypeError):
    """The workflow is not a generator function, or yielded something that is not an op."""


class MalformedEventError(ExecutionError):
    """The Lambda event is not a durable-execution invocation."""


class InvocationError(OrchestraError):
    """An error that ends the invocation; Lambda retries it when ``retryable``.

    Attributes:
        retryable: whether re-driving the invocation can help.
        code: the service's error code (``ThrottlingException``), when there is one.
        status: the HTTP status of the service's answer, when there was an answer.
        request_id: the service's RequestId, for support cases.
    """

    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.status = status
        self.request_id = request_id


class CheckpointError(InvocationError):
    """A ``CheckpointDurableExecution`` call failed or was answered with nonsense."""


class GetStateError(InvocationError):
    """A ``GetDurableExecutionState`` call failed or was answered with nonsense."""


_REGISTRY: dict[str, type[OperationError]] = {}


def _register(*classes: type[OperationError]) -> None:
    for cls in classes:
        _REGISTRY[cls.__name__] = cls


_register(OperationError, StepError, ChildContextError)


def error_object(error: BaseException) -> ErrorObject:
    """Describe ``error`` as the service stores it.

    An :class:`OperationError` keeps its message and data and is typed by its own class;
    any other exception is typed by its class name with ``str(error)`` as message.

    Example:
        >>> err = error_object(KeyError("nope"))
        >>> err.error_type, err.error_message
        ('KeyError', "'nope'")
    """
    if isinstance(error, OperationError):
        return ErrorObject(
            error_message=error.message or None,
            error_type=type(error).__name__,
            error_data=error.data,
            stack_trace=error.stack_trace,
        )
    return ErrorObject(error_message=str(error) or None, error_type=type(error).__name__)


def operation_error_from(
    wrapper: type[OperationError],
    error: ErrorObject | None,
    *,
    operation_id: str | None = None,
    name: str | None = None,
) -> OperationError:
    """Rebuild the typed error a workflow sees from a checkpointed :class:`ErrorObject`.

    The ``__cause__`` is rebuilt from the registry of orchestra's operation errors when the
    checkpointed type is one of them (a StepError inside a failed child context).
    """
    error = error or ErrorObject()
    result = wrapper(
        error.error_message,
        error_type=error.error_type,
        data=error.error_data,
        stack_trace=error.stack_trace,
        operation_id=operation_id,
        name=name,
    )
    cause_cls = _REGISTRY.get(error.error_type or "")
    if cause_cls is not None:
        result.__cause__ = cause_cls(error.error_message, data=error.error_data)
    return result
