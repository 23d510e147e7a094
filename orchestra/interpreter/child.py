"""How the interpreter runs a :class:`~orchestra.ops.Child` context.

The body runs as a child fiber whose operations are numbered under the child's id. A
child that succeeded is not run again (its result is returned), unless its result was too
large to store (``ReplayChildren``): then the body replays from its children's
checkpoints. A virtual child checkpoints nothing of its own and its operations report
the enclosing context as their parent. A body that cannot even be called (wrong
arguments) fails the child like a body that raised.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from orchestra.errors import ChildContextError, WorkflowDefinitionError, error_object
from orchestra.errors import operation_error_from as rebuild
from orchestra.interpreter.payloads import decode, encode, serde_for
from orchestra.interpreter.signals import BLOCKED
from orchestra.ops import Child, Step, is_generator_function
from orchestra.serde import Serde
from orchestra.wire.models import ContextOptions, Operation, OperationAction, OperationStatus

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["CHECKPOINT_PAYLOAD_LIMIT", "handle_child"]

#: A child result larger than this is not stored; its children are replayed instead.
CHECKPOINT_PAYLOAD_LIMIT = 256 * 1024


def handle_child(
    k: Kernel, fiber: Fiber, op: Child[Any], op_id: str, recorded: Operation | None
) -> object:
    """Replay or run ``op`` at ``op_id``."""
    serde = serde_for(k.serdes, op.fn, op.serde)
    details = recorded.context_details if recorded is not None else None
    replay_children = False
    if recorded is not None:
        if recorded.status is OperationStatus.SUCCEEDED:
            if not (details and details.replay_children):
                k.wake(
                    fiber, decode(serde, details.result if details else None, op_id, op.name), None
                )
                return None
            replay_children = True
        elif recorded.is_terminal:
            error = rebuild(
                ChildContextError,
                details.error if details else None,
                operation_id=op_id,
                name=op.name,
            )
            k.wake(fiber, None, error)
            return None
    elif not op.virtual:
        k.checkpoint(fiber, k.update(fiber, op, op_id, OperationAction.START))

    def done(value: Any, error: BaseException | None) -> None:
        _finished(k, fiber, op, op_id, serde, replay_children, value, error)

    context = fiber.context.child(op_id, sub_type=op.sub_type, name=op.name, virtual=op.virtual)
    k.start_context(fiber, lambda: _body(op), context, done)
    return BLOCKED


def _finished(
    k: Kernel,
    fiber: Fiber,
    op: Child[Any],
    op_id: str,
    serde: Serde[Any],
    replay_children: bool,
    value: Any,
    error: BaseException | None,
) -> None:
    if error is not None:
        err = error_object(error)
        failure = rebuild(ChildContextError, err, operation_id=op_id, name=op.name)
        if op.virtual:
            k.wake(fiber, None, failure)
            return
        update = k.update(fiber, op, op_id, OperationAction.FAIL, error=err)
        k.checkpoint(fiber, update, lambda: k.wake(fiber, None, failure))
        return
    if replay_children:
        k.wake(fiber, value, None)
        return
    payload = encode(serde, value, op_id, op.name, None, "child context result")
    if op.virtual:
        k.wake(fiber, decode(serde, payload, op_id, op.name), None)
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
    result = value if large else decode(serde, payload, op_id, op.name)
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
