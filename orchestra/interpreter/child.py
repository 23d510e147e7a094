"""How the interpreter runs a child context.

Both :class:`~orchestra.ops.Child` and the contexts other operations are made of
(``WaitForCallback``) go through :func:`run_context`.

The body runs as a child fiber whose operations are numbered under the context's id. A
context that succeeded is not run again (its result is returned), unless its result was
too large to store (``ReplayChildren``): then the body replays from its children's
checkpoints. A virtual context checkpoints nothing of its own and its operations report
the enclosing context as their parent. A body that cannot even be called (wrong
arguments) fails the context like a body that raised.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from orchestra.errors import (
    ChildContextError,
    ExecutionError,
    OperationError,
    WorkflowDefinitionError,
)
from orchestra.errors import error_object as describe_error
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.payloads import decode, encode, serde_for
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure
from orchestra.ops import Child, Op, Step, is_generator_function
from orchestra.serde import Serde
from orchestra.wire.models import ContextOptions, Operation, OperationAction, OperationStatus

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["CHECKPOINT_PAYLOAD_LIMIT", "ErrorMapper", "handle_child", "run_context"]

#: A child result larger than this is not stored; its children are replayed instead.
CHECKPOINT_PAYLOAD_LIMIT = 256 * 1024

#: Turns the context's failure into the error its caller sees (first run and replay alike).
ErrorMapper = Callable[[ChildContextError], OperationError]


def handle_child(
    k: Kernel, fiber: Fiber, op: Child[Any], op_id: str, recorded: Operation | None
) -> object:
    """Replay or run ``op`` at ``op_id``."""
    return run_context(
        k,
        fiber,
        op,
        op_id,
        recorded,
        body=lambda: _body(op),
        serde=serde_for(k.serdes, op.fn, op.serde),
        virtual=op.virtual,
        map_error=_mapper(op),
    )


def _mapper(op: Child[Any]) -> ErrorMapper | None:
    """The Child's error_mapper, guarded: one that raises or returns a non-error fails clearly."""
    mapper = op.error_mapper
    if mapper is None:
        return None

    def mapped(error: ChildContextError) -> OperationError:
        try:
            result = mapper(error)
        except Exception as exc:
            raise ExecutionFailure(
                ExecutionError(
                    f"the error_mapper of Child {op.name!r} raised {type(exc).__name__}: {exc}"
                )
            ) from exc
        if not isinstance(result, OperationError):
            raise ExecutionFailure(
                ExecutionError(
                    f"the error_mapper of Child {op.name!r} returned {type(result).__name__}; "
                    "it must return an OperationError"
                )
            )
        return result

    return mapped


def run_context(
    k: Kernel,
    fiber: Fiber,
    op: Op[Any],
    op_id: str,
    recorded: Operation | None,
    *,
    body: Callable[[], Generator[Any, Any, Any]],
    serde: Serde[Any],
    virtual: bool = False,
    map_error: ErrorMapper | None = None,
) -> object:
    """Replay or run a CONTEXT operation ``op`` whose body is ``body()``."""
    name = op.op_name
    details = recorded.context_details if recorded is not None else None
    replay_children = False
    if recorded is not None:
        if recorded.status is OperationStatus.SUCCEEDED:
            if not (details and details.replay_children):
                k.wake(fiber, decode(serde, details.result if details else None, op_id, name), None)
                return None
            replay_children = True
        elif recorded.is_terminal:
            error = rebuild(
                ChildContextError,
                details.error if details else None,
                operation_id=op_id,
                name=name,
            )
            k.wake(fiber, None, map_error(error) if map_error else error)  # type: ignore[arg-type]
            return None
    elif not virtual:
        k.checkpoint(fiber, k.update(fiber, op, op_id, OperationAction.START))

    def done(value: Any, error: BaseException | None) -> None:
        if error is not None:
            _failed(k, fiber, op, op_id, virtual, map_error, error)
        elif replay_children:
            k.wake(fiber, value, None)
        else:
            _succeeded(k, fiber, op, op_id, virtual, serde, value)

    context = fiber.context.child(op_id, sub_type=op.sub_type, name=name, virtual=virtual)
    k.start_context(fiber, body, context, done)
    return BLOCKED


def _failed(
    k: Kernel,
    fiber: Fiber,
    op: Op[Any],
    op_id: str,
    virtual: bool,
    map_error: ErrorMapper | None,
    error: BaseException,
) -> None:
    err = describe_error(error)
    failure = rebuild(ChildContextError, err, operation_id=op_id, name=op.op_name)
    seen = map_error(failure) if map_error else failure  # type: ignore[arg-type]
    if virtual:
        k.wake(fiber, None, seen)
        return
    update = k.update(fiber, op, op_id, OperationAction.FAIL, error=err)
    k.checkpoint(fiber, update, lambda: k.wake(fiber, None, seen))


def _succeeded(
    k: Kernel,
    fiber: Fiber,
    op: Op[Any],
    op_id: str,
    virtual: bool,
    serde: Serde[Any],
    value: Any,
) -> None:
    name = op.op_name
    payload = encode(serde, value, op_id, name, None, "child context result")
    if virtual:
        k.wake(fiber, decode(serde, payload, op_id, name), None)
        return
    large = len(payload.encode()) > CHECKPOINT_PAYLOAD_LIMIT
    update = k.update(
        fiber,
        op,
        op_id,
        OperationAction.SUCCEED,
        payload="" if large else payload,
        context_options=ContextOptions(replay_children=large),
    )
    result = value if large else decode(serde, payload, op_id, name)
    k.checkpoint(fiber, update, lambda: k.wake(fiber, result, None))


def _body(op: Child[Any]) -> Generator[Any, Any, Any]:
    if is_generator_function(op.fn):
        gen = op.fn(*op.args, **op.kwargs)
        if not inspect.isgenerator(gen):
            raise WorkflowDefinitionError(f"Child {op.name!r} did not return a generator")
        return gen
    return _single_step(Step(op.fn, *op.args, name=op.name, kwargs=op.kwargs))


def _single_step(step: Step[Any]) -> Generator[Any, Any, Any]:
    value = yield step
    return value
