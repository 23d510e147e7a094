r"""orchestra's exceptions, and how an exception is written to and read from a checkpoint.

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

**Error objects.** :func:`error_object` describes an exception as the service stores it
(``ErrorType``, ``ErrorMessage``, ``ErrorData``, ``StackTrace``), and
:func:`operation_error_from` rebuilds the typed error a workflow sees from it. The first run
goes through both functions too, so it sees exactly what every replay sees.

* ``ErrorType`` is the class name: the exception's own (``"ValueError"``), or the wrapper's
  for an :class:`OperationError` (``"StepError"``), as the reference SDK writes it.
* Every field is bounded so that the object's JSON stays under the service's limit of
  32,768 bytes (:data:`ERROR_OBJECT_LIMIT`): at most 1 KiB for the type (and 256
  characters), 10 KiB for the message, 10 KiB for the data and 10 KiB for the stack trace,
  counted as ASCII-escaped JSON, the largest encoding of a string. A cut text ends with
  ``"… [truncated N bytes]"`` (``N`` counts the UTF-8 bytes removed); text is cut between
  characters, never inside one. A stack trace that is too long keeps its first and last
  lines around a ``"… [N lines truncated]"`` line.
* ``StackTrace`` holds the lines of ``traceback.format_exception`` for an exception that
  carries a traceback (a step function's or a workflow body's), or the ``stack_trace`` an
  :class:`OperationError` already carries.

**The cause chain.** ``ErrorType`` names only the outermost class, so the types below it
(the ``ValueError`` inside a ``StepError`` that escaped a child context, or the ``__cause__``
of a ``raise ... from ...``) are written as the *last* lines of ``StackTrace``, one line per
link, outermost first::

    Caused by: ValueError: card declined
    Caused by: KeyError: 'card'

In a link, backslash, line feed and carriage return are escaped as ``\\``, ``\n`` and
``\r`` (and ``:`` as ``\x3a`` in the type), so each link is exactly one line. A trace line
of the exception's own that starts with ``Caused by:`` is written with a leading space, so
only links end the list. The links are the chain's type names in order: for an
:class:`OperationError` its class name and then its ``error_type``, for any other exception
its class name, following ``__cause__``; consecutive links of the same type are written once.
At most 16 links are kept (the first 15 and the innermost), each at most 256 bytes.

:func:`operation_error_from` takes the links off ``stack_trace`` and rebuilds them as a
``__cause__`` chain of :class:`OperationError` instances whose ``error_type`` is the
original type name. A name of orchestra's own wrappers (``StepError``, ``ChildContextError``)
is rebuilt as that class, carrying the next link as its ``error_type``: a ``ChildContextError``
whose body let a ``StepError`` caused by a ``ValueError`` escape is rebuilt as::

    ChildContextError(error_type="StepError")
      .__cause__ = StepError(error_type="ValueError")

so ``err.is_caused_by(ValueError)`` holds on the first run and on every replay.

Example:
    >>> def step_failure():
    ...     try:
    ...         raise ValueError("card declined")
    ...     except ValueError as exc:
    ...         return operation_error_from(StepError, error_object(exc))
    >>> step_err = step_failure()
    >>> obj = error_object(step_err)  # the StepError escaped a child context
    >>> obj.error_type, obj.stack_trace[-1]
    ('StepError', 'Caused by: ValueError: card declined')
    >>> child_err = operation_error_from(ChildContextError, obj)
    >>> child_err.error_type, child_err.is_caused_by(ValueError)
    ('StepError', True)
    >>> child_err.__cause__
    StepError('card declined', error_type='ValueError')
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Iterator, Sequence

from orchestra.wire.models import ErrorObject

__all__ = [
    "ERROR_OBJECT_LIMIT",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildContextError",
    "ExecutionError",
    "GetStateError",
    "InvocationError",
    "InvokeError",
    "MalformedEventError",
    "NonDeterministicExecutionError",
    "OperationError",
    "OrchestraError",
    "PayloadTooLargeError",
    "SerializationError",
    "StepError",
    "StepInterruptedError",
    "ValidationError",
    "WaitForConditionError",
    "WorkflowDefinitionError",
    "describe_value",
    "error_object",
    "operation_error_from",
]

#: The service rejects an error object whose JSON is larger than this many bytes.
ERROR_OBJECT_LIMIT = 32_768

# Budgets in bytes of ASCII-escaped JSON (quotes included). Their sum plus the keys and
# separators stays below ERROR_OBJECT_LIMIT whatever the text.
_TYPE_CHARS = 256
_TYPE_BUDGET = 1024
_MESSAGE_BUDGET = 10 * 1024
_DATA_BUDGET = 10 * 1024
_TRACE_BUDGET = 10 * 1024
_TRACE_LINE_BUDGET = 512
_MAX_TRACE_LINES = 200
_MAX_LINKS = 16
_LINK_BUDGET = 256
_LINK_TYPE_BUDGET = 96

_CAUSE_PREFIX = "Caused by: "


class OrchestraError(Exception):
    """Base class of every error orchestra raises."""


class ValidationError(OrchestraError, ValueError):
    """An argument is invalid (a duration out of range, a bad name, ...)."""


def describe_value(value: object) -> str:
    """``"int 3"``: a value's type and a short repr, for error messages.

    Example:
        >>> describe_value(3), describe_value("x" * 100)[:12]
        ('int 3', "str 'xxxxxxx")
    """
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


class OperationError(OrchestraError):
    """A durable operation failed; thrown into the workflow at the ``yield``.

    Attributes:
        message: the checkpointed error message.
        error_type: the type name of the error that caused the failure (``"ValueError"``).
        data: optional error data (a string: serialise structured data, e.g. with
            ``json.dumps``), as checkpointed.
        stack_trace: optional stack trace lines, as checkpointed.
        operation_id: the id of the failed operation, when known.
        name: the name of the failed operation, when known.

    Example:
        >>> StepError("boom", data={"code": 7})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: StepError data must be a str or None, got dict ...
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: Sequence[str] | None = None,
        operation_id: str | None = None,
        name: str | None = None,
    ) -> None:
        what = type(self).__name__
        for field, value in (("message", message), ("error_type", error_type)):
            if value is not None and not isinstance(value, str):
                raise ValidationError(
                    f"{what} {field} must be a str or None, got {describe_value(value)}"
                )
        if data is not None and not isinstance(data, str):
            raise ValidationError(
                f"{what} data must be a str or None, got {describe_value(data)}: the service "
                "stores error data as a string; serialise it first, e.g. "
                "data=json.dumps(value)"
            )
        if stack_trace is not None and (
            isinstance(stack_trace, str)
            or not isinstance(stack_trace, Sequence)
            or not all(isinstance(line, str) for line in stack_trace)
        ):
            raise ValidationError(
                f"{what} stack_trace must be a list of str (one line each) or None, "
                f"got {describe_value(stack_trace)}"
            )
        super().__init__(message or "")
        self.message = message or ""
        self.error_type = error_type or what
        self.data = data
        self.stack_trace = None if stack_trace is None else list(stack_trace)
        self.operation_id = operation_id
        self.name = name

    def is_caused_by(self, error: type[BaseException] | str) -> bool:
        """Whether ``error`` (a class or a type name) is in this failure's cause chain.

        The chain is this error and its ``__cause__``, recursively; each link is matched by
        its class name and, for an :class:`OperationError`, its ``error_type``. A class
        also matches the names of its subclasses, found by walking the class hierarchy, so
        the answer is the same on the first run and on every replay.

        Example:
            >>> StepError("nope", error_type="KeyError").is_caused_by(LookupError)
            True
            >>> StepError("nope", error_type="KeyError").is_caused_by("LookupError")
            False
        """
        wanted = {error} if isinstance(error, str) else _subclass_names(error)
        return any(not wanted.isdisjoint(_names(link)) for link in _chain(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_type={self.error_type!r})"


class StepError(OperationError):
    """A step failed and its retry policy gave up."""


class ChildContextError(OperationError):
    """A child context's body raised."""


class CallbackError(OperationError):
    """A callback did not deliver a result (the base of the callback errors)."""


class CallbackTimeoutError(CallbackError):
    """A callback timed out: on its overall timeout, or on its heartbeat timeout.

    Example:
        >>> CallbackTimeoutError("Callback timed out on heartbeat").on_heartbeat
        True
    """

    @property
    def on_heartbeat(self) -> bool:
        """Whether it was the heartbeat timeout (no heartbeat in time) that expired."""
        return "heartbeat" in f"{self.error_type} {self.message}".lower()


class CallbackExternalError(CallbackError):
    """The external system reported a failure through ``SendDurableExecutionCallbackFailure``.

    ``error_type``, ``message`` and ``data`` are the ones the external system sent.
    """


class CallbackSubmitterError(CallbackError):
    """The submitter of a ``WaitForCallback`` failed and its retry policy gave up.

    Its ``__cause__`` is the submitter step's :class:`StepError`.
    """


class InvokeError(OperationError):
    """A chained invoke failed; ``error_type`` is the callee's error type."""


class WaitForConditionError(OperationError):
    """A ``WaitForCondition`` failed: its check or strategy raised, or it ran out of attempts."""


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


_register(
    OperationError,
    StepError,
    ChildContextError,
    CallbackError,
    CallbackTimeoutError,
    CallbackExternalError,
    CallbackSubmitterError,
    InvokeError,
    WaitForConditionError,
)


# --- the cause chain ------------------------------------------------------------------------


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its ``__cause__``s, outermost first (a cycle is walked once)."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__


def _names(error: BaseException) -> set[str]:
    names = {type(error).__name__}
    if isinstance(error, OperationError):
        names.add(error.error_type)
    return names


def _subclass_names(cls: type[BaseException]) -> set[str]:
    """The names of ``cls`` and all its subclasses, from the class hierarchy."""
    if not isinstance(cls, type):
        raise TypeError(f"is_caused_by needs a class or a type name, got {describe_value(cls)}")
    names: set[str] = set()
    todo: list[type] = [cls]
    seen: set[type] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        names.add(current.__name__)
        todo.extend(type.__subclasses__(current))
    return names


def _message_of(error: BaseException) -> str:
    if isinstance(error, OperationError):
        return error.message
    try:
        return str(error)
    except Exception:  # a broken __str__ must not hide the original failure
        return f"<unprintable {type(error).__name__}>"


def _links(error: BaseException) -> list[tuple[str, str]]:
    """The chain's ``(type name, message)`` links, outermost first (see the module doc)."""
    links: list[tuple[str, str]] = []

    def add(type_name: str, message: str) -> None:
        if not links or links[-1][0] != type_name:
            links.append((type_name, message))

    for i, link in enumerate(_chain(error)):
        message = _message_of(link)
        if not isinstance(link, OperationError):
            add(type(link).__name__, message)
            continue
        if i == 0 or type(link) is not OperationError:  # a bare OperationError only carries
            add(type(link).__name__, message)
        add(link.error_type, message)
    return links


_UNESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\x3a": ":"}
_UNESCAPE = re.compile(r"\\\\|\\n|\\r|\\x3a")


def _escape(text: str, *, colon: bool = False) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return text.replace(":", "\\x3a") if colon else text


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda m: _UNESCAPES[m.group(0)], text)


def _link_line(type_name: str, message: str) -> str:
    def escape_type(text: str) -> str:
        return _escape(text, colon=True)

    head = _CAUSE_PREFIX + escape_type(_truncate(type_name, _LINK_TYPE_BUDGET, escape_type))
    if not message:
        return head
    budget = _LINK_BUDGET - _json_len(head + ": ") + 2
    return f"{head}: {_escape(_truncate(message, max(budget, 48), _escape))}"


def _parse_link(line: str) -> tuple[str, str]:
    type_part, _, message = line[len(_CAUSE_PREFIX) :].partition(": ")
    return _unescape(type_part), _unescape(message)


def _split_trace(lines: Sequence[str] | None) -> tuple[list[str] | None, list[tuple[str, str]]]:
    """Split a checkpointed ``StackTrace`` into its own lines and its cause links."""
    if not lines:
        return (None if lines is None else list(lines)), []
    start = len(lines)
    while start > 0 and lines[start - 1].startswith(_CAUSE_PREFIX):
        start -= 1
    own = list(lines[:start])
    links = [_parse_link(line) for line in lines[start:]]
    return (own or None) if links else own, links


# --- bounding -------------------------------------------------------------------------------


def _json_len(text: str) -> int:
    """Bytes of ``text`` as ASCII-escaped JSON: never fewer than its UTF-8 JSON."""
    return len(json.dumps(text))


def _clean(text: str) -> str:
    """``text`` with any lone surrogate replaced, so it always encodes as UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def _truncate(text: str, budget: int, encode: Callable[[str], str] | None = None) -> str:
    """``text``, cut with a marker so that its (encoded) JSON takes at most ``budget`` bytes.

    Example:
        >>> _truncate("é" * 100, 60)
        'ééééé… [truncated 190 bytes]'
    """
    text = _clean(text)

    def measure(s: str) -> int:
        return _json_len(encode(s) if encode else s)

    if measure(text) <= budget:
        return text
    size = len(text.encode())

    def cut(n: int) -> str:
        kept = text[:n]
        return f"{kept}… [truncated {size - len(kept.encode())} bytes]"

    lo, hi = 0, min(len(text), budget)
    while lo < hi:  # the longest prefix that fits with its marker
        mid = (lo + hi + 1) // 2
        if measure(cut(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return cut(lo)


def _bound_lines(lines: list[str], budget: int, max_lines: int) -> list[str]:
    """Keep the first and last lines within ``budget`` bytes of JSON list items."""
    lines = [_truncate(line, _TRACE_LINE_BUDGET) for line in lines]
    costs = [_json_len(line) + 2 for line in lines]  # ", " between list items
    if len(lines) <= max_lines and sum(costs) <= budget:
        return lines
    room = max(budget - 64, 0)  # the marker line
    head: list[str] = []
    used = 0
    for line, cost in zip(lines, costs, strict=True):
        if len(head) >= max_lines // 4 or used + cost > room // 4:
            break
        head.append(line)
        used += cost
    tail: list[str] = []
    for line, cost in zip(reversed(lines), reversed(costs), strict=True):
        if len(head) + len(tail) >= max_lines - 1 or used + cost > room:
            break
        tail.append(line)
        used += cost
    dropped = len(lines) - len(head) - len(tail)
    return [*head, f"… [{dropped} lines truncated]", *reversed(tail)]


def _trace_of(error: BaseException) -> list[str] | None:
    if isinstance(error, OperationError) and error.stack_trace is not None:
        return list(error.stack_trace)
    if error.__traceback__ is None:
        return None
    try:
        return "".join(traceback.format_exception(error)).splitlines()
    except Exception:  # formatting must never hide the original failure
        return None


def _stack_trace(own: list[str] | None, links: list[tuple[str, str]]) -> list[str] | None:
    if len(links) > _MAX_LINKS:
        links = [*links[: _MAX_LINKS - 1], links[-1]]
    link_lines = [_link_line(type_name, message) for type_name, message in links]
    used = sum(_json_len(line) + 2 for line in link_lines)
    if own is not None:
        own = [" " + line if line.startswith(_CAUSE_PREFIX) else line for line in own]
        own = _bound_lines(own, _TRACE_BUDGET - used, _MAX_TRACE_LINES)
    if own is None and not link_lines:
        return None
    return [*(own or []), *link_lines]


def _bounded_type(name: str) -> str:
    if len(name) > _TYPE_CHARS:
        name = name[: _TYPE_CHARS - 1] + "…"
    return _truncate(name, _TYPE_BUDGET)


def error_object(error: BaseException) -> ErrorObject:
    """Describe ``error`` as the service stores it, within the service's size limit.

    An :class:`OperationError` keeps its message, data and stack trace and is typed by its
    own class; any other exception is typed by its class name with ``str(error)`` as message
    and its formatted traceback (if it has one) as stack trace. The types of the cause chain
    end the stack trace (see the module documentation); every field is bounded.

    Example:
        >>> err = error_object(KeyError("nope"))
        >>> err.error_type, err.error_message
        ('KeyError', "'nope'")
        >>> error_object(ValueError("x" * 40_000)).error_message[-26:]
        'x… [truncated 29792 bytes]'
    """
    message: str | None = _message_of(error) or None
    data = error.data if isinstance(error, OperationError) else None
    return ErrorObject(
        error_message=None if message is None else _truncate(message, _MESSAGE_BUDGET),
        error_type=_bounded_type(type(error).__name__),
        error_data=None if data is None else _truncate(data, _DATA_BUDGET),
        stack_trace=_stack_trace(_trace_of(error), _links(error)[1:]),
    )


def operation_error_from(
    wrapper: type[OperationError],
    error: ErrorObject | None,
    *,
    operation_id: str | None = None,
    name: str | None = None,
) -> OperationError:
    """Rebuild the typed error a workflow sees from a checkpointed :class:`ErrorObject`.

    The cause links that end the stack trace (see the module documentation) are taken off
    ``stack_trace`` and rebuilt as the ``__cause__`` chain. A checkpointed type that is one
    of orchestra's operation errors (a StepError inside a failed child context) is rebuilt
    as that class, so ``__cause__`` is a ``StepError``.

    Example:
        >>> obj = ErrorObject("declined", "ValueError", stack_trace=["Caused by: KeyError: 'k'"])
        >>> err = operation_error_from(StepError, obj, name="charge")
        >>> err.error_type, err.stack_trace, err.__cause__
        ('ValueError', None, OperationError("'k'", error_type='KeyError'))
    """
    error = error or ErrorObject()
    own, links = _split_trace(error.stack_trace)
    result = wrapper(
        error.error_message,
        error_type=error.error_type,
        data=error.error_data,
        stack_trace=own,
        operation_id=operation_id,
        name=name,
    )
    nodes = [(error.error_type or "", result.message), *links]
    _attach_causes(result, nodes, error.error_data)
    return result


def _attach_causes(top: OperationError, nodes: list[tuple[str, str]], data: str | None) -> None:
    """Rebuild ``nodes[1:]`` as ``top``'s ``__cause__`` chain; ``top`` stands for ``nodes[0]``.

    A node naming one of orchestra's wrappers becomes that class carrying the next node as
    its ``error_type``; any other node becomes an :class:`OperationError` carrying its name.
    """
    prev: OperationError = top
    j = 0
    while True:
        cls = _REGISTRY.get(nodes[j][0])
        if cls is not None:
            if j + 1 == len(nodes):  # the wrapper's own type, as the reference SDK rebuilds it
                prev.__cause__ = cls(nodes[j][1], data=data if j == 0 else None)
                return
            j += 1
            link = cls(nodes[j][1], error_type=nodes[j][0])
        else:
            if j + 1 == len(nodes):
                return
            j += 1
            if nodes[j][0] in _REGISTRY:
                continue
            link = OperationError(nodes[j][1], error_type=nodes[j][0])
        prev.__cause__ = link
        prev = link
