"""Calling user code without letting it break the interpreter.

User code can fail in ways the interpreter must contain: a workflow whose signature does
not fit the input, an exception whose ``__str__`` raises, a yielded value that is not an
operation. Each helper here turns such a failure into a clear error the execution can end
with, never an exception that escapes the handler.

Example:
    >>> class Weird(Exception):
    ...     def __str__(self):
    ...         raise ValueError
    >>> safe_str(Weird())
    '<Weird whose str() raised>'
    >>> def workflow(event):
    ...     yield event
    >>> start_workflow(workflow, {"a": 1}).send(None)
    {'a': 1}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import Any

from orchestra.errors import ExecutionError, WorkflowDefinitionError, error_object
from orchestra.wire.models import ErrorObject

__all__ = [
    "ReplayRaised",
    "error_object_of",
    "not_an_op",
    "raising",
    "safe_repr",
    "safe_str",
    "start_workflow",
    "where",
]


def start_workflow(workflow: Callable[..., Any], input_value: Any) -> Generator[Any, Any, Any]:
    """Call ``workflow`` with the input (or nothing, if it takes no argument).

    Raises:
        WorkflowDefinitionError: it is not a generator function, or cannot take the input.
        ExecutionError: calling it raised.
    """
    name = getattr(workflow, "__qualname__", None) or safe_repr(workflow)
    from orchestra.ops import is_generator_function

    if not is_generator_function(workflow):
        raise WorkflowDefinitionError(
            f"workflow {name!r} is not a generator function: a workflow must `yield` its "
            "operations (for example `result = yield Step(fn, arg)`)"
        )
    try:
        params = inspect.signature(workflow).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    try:
        gen = workflow(input_value) if params else workflow()
    except TypeError as exc:
        raise WorkflowDefinitionError(
            f"workflow {name!r} cannot be called with the execution input: {exc}. A "
            "workflow takes one argument (the input) or none."
        ) from exc
    except Exception as exc:
        raise ExecutionError(
            f"starting workflow {name!r} raised {type(exc).__name__}: {safe_str(exc)}"
        ) from exc
    if not inspect.isgenerator(gen):
        raise WorkflowDefinitionError(f"workflow {name!r} did not return a generator")
    return gen


def not_an_op(path: str, counter: int, yielded: Any) -> WorkflowDefinitionError:
    """The error for a workflow at ``path`` that yielded something that is not an operation."""
    hint = ""
    if inspect.isgenerator(yielded):
        hint = " It is a generator: use `yield from` to run a sub-generator inline, or Child(...)."
    return WorkflowDefinitionError(
        f"{path} yielded {safe_repr(yielded)} ({type(yielded).__name__}) after operation "
        f"#{counter}, which is not an operation; yield Step, Wait, Child, ...{hint}"
    )


class ReplayRaised(ExecutionError):
    """Carries an exception raised by new code during replay, to be reported as itself."""

    def __init__(self, error: BaseException, note: str) -> None:
        super().__init__(f"{safe_str(error)} ({note}{where(error)})")
        self.error = error


def error_object_of(error: BaseException) -> ErrorObject:
    """The checkpointed form of ``error``; never raises (a user ``__str__`` may)."""
    if isinstance(error, ReplayRaised):
        inner = error_object_of(error.error)
        return ErrorObject(
            error_message=str(error),
            error_type=inner.error_type,
            error_data=inner.error_data,
            stack_trace=inner.stack_trace,
        )
    try:
        return error_object(error)
    except Exception as exc:
        return ErrorObject(
            error_message=f"(the error's message could not be read: {type(exc).__name__})",
            error_type=type(error).__name__,
        )


def raising(error: BaseException) -> Generator[Any, Any, Any]:
    """A generator that raises ``error`` when first resumed (a body that could not start)."""
    raise error
    yield  # pragma: no cover - makes this a generator


def safe_str(value: object) -> str:
    """``str(value)``, or a placeholder when that raises."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} whose str() raised>"


def safe_repr(value: object) -> str:
    """``repr(value)`` cut to 200 characters, or a placeholder when that raises."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} whose repr() raised>"
    return text if len(text) <= 200 else text[:200] + "..."


def where(error: BaseException) -> str:
    """``, at file:line`` of the innermost frame of ``error``'s traceback, if any.

    It reads the traceback object only (no source files).
    """
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f", at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
