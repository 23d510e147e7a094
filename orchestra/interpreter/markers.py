"""How the interpreter runs the replay-safe markers Uuid and Patched.

See :class:`~orchestra.markers.Uuid` and :class:`~orchestra.markers.Patched`.

Neither takes a position of its own. A uuid is derived from the execution's ARN, the
fiber's context and position, and how many uuids the fiber drew there. A patch marker is a
STEP that only SUCCEEDs, with an id derived from the context and the change id (not a
position), so histories recorded before the patch keep every id they had.
"""

from __future__ import annotations

import uuid
from hashlib import blake2b
from typing import TYPE_CHECKING

from orchestra.interpreter.ids import operation_id
from orchestra.markers import Patched, Uuid
from orchestra.wire.models import Operation, OperationAction, OperationUpdate

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["UUID_NAMESPACE", "handle_patched", "handle_uuid", "patch_marker_id"]

#: The namespace of :class:`~orchestra.markers.Uuid` values (uuid5).
UUID_NAMESPACE = uuid.UUID("0b4f6a52-8a43-5d0e-9c1a-6f7a3c2d9e10")


def handle_uuid(k: Kernel, fiber: Fiber, op: Uuid, _op_id: str, _rec: Operation | None) -> object:
    """Give the next uuid of this position."""
    if fiber.uuid_position != fiber.counter:
        fiber.uuid_position, fiber.uuid_count = fiber.counter, 0
    fiber.uuid_count += 1
    where = f"{k.execution_arn}|{fiber.prefix or ''}|{fiber.counter}|{fiber.uuid_count}"
    k.wake(fiber, uuid.uuid5(UUID_NAMESPACE, where), None)
    return None


def patch_marker_id(prefix: str | None, change_id: str) -> str:
    """The id of the marker of ``change_id`` in the context with id prefix ``prefix``.

    Example:
        >>> len(patch_marker_id(None, "fix-1234"))
        64
    """
    raw = f"{prefix}-patched:{change_id}" if prefix else f"patched:{change_id}"
    return blake2b(raw.encode()).hexdigest()[:64]


def handle_patched(
    k: Kernel, fiber: Fiber, op: Patched, _op_id: str, _rec: Operation | None
) -> object:
    """True where the marker is recorded or the history ends here; false on old histories."""
    marker = patch_marker_id(fiber.prefix, op.change_id)
    if k.history.get(marker) is not None:
        k.wake(fiber, True, None)
        return None
    if k.history.get(operation_id(fiber.prefix, fiber.counter + 1)) is not None:
        k.wake(fiber, False, None)  # recorded by code that did not have the patch
        return None
    update = OperationUpdate(
        id=marker,
        type=op.op_type,
        action=OperationAction.SUCCEED,
        parent_id=fiber.parent_id,
        name=op.op_name,
        sub_type=op.sub_type,
        payload="true",
    )
    k.checkpoint(fiber, update)  # asynchronous: anything recorded after it implies it
    k.wake(fiber, True, None)
    return None
