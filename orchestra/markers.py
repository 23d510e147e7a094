"""Replay-safe helpers: the time, uuids and version markers without breaking determinism.

Workflow code must not read the clock or draw random numbers: a replay would see other
values. These descriptors give the same value on every replay:

* ``now = yield Now()``: the current UTC time, checkpointed once (a step).
* ``uid = yield Uuid()``: a uuid derived from the execution and the position in the
  workflow; nothing is checkpointed and it takes no position of its own.
* ``if (yield Patched("fix-1234")): ...``: true for executions that reach this point on
  code that has the patch, false when replaying a history recorded before it existed. It
  lets a deployed workflow change without breaking executions in flight (see
  docs/determinism.md).

Example:
    >>> from orchestra.testing import LocalRunner
    >>> def workflow():
    ...     first = yield Uuid()
    ...     second = yield Uuid()
    ...     started = yield Now()
    ...     return [first != second, started.tzinfo is not None]
    >>> LocalRunner(workflow).run().result
    [True, True]
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, final

import attrs

from orchestra._steps import step_context
from orchestra.errors import ValidationError
from orchestra.ops import Op, Step, check_name
from orchestra.wire.models import OperationType

__all__ = ["PATCH_SUB_TYPE", "Now", "Patched", "Uuid", "utc_now"]

#: The sub-type of the marker a :class:`Patched` records (a STEP that only SUCCEEDs).
PATCH_SUB_TYPE = "Patch"


def utc_now() -> datetime:
    """The current time in UTC by the service's clock (the step behind :func:`Now`).

    Under :class:`~orchestra.testing.LocalRunner` that is the emulator's virtual time, so a
    ``Now()`` after a one-day ``Wait`` is a day later.
    """
    ctx = step_context()
    return ctx.now() if ctx is not None else datetime.now(UTC)


def Now(*, name: str = "now") -> Step[datetime]:
    """The current UTC time, as a step: checkpointed once, the same on every replay.

    Example:
        >>> Now().name
        'now'
    """
    return Step(utc_now, name=name)


@final
@attrs.frozen
class Uuid(Op[uuid.UUID]):
    """A uuid derived from the execution's ARN and the position in the workflow.

    The same on every replay of the execution, different for each ``Uuid()`` yielded and
    for each execution. It is not secret: use :mod:`secrets` in a step for tokens.
    """

    op_type = OperationType.STEP
    sub_type = "Uuid"
    positional: ClassVar[bool] = False

    @property
    def op_name(self) -> str | None:
        """Uuids have no name."""
        return None


@final
@attrs.frozen(init=False)
class Patched(Op[bool]):
    """Whether this execution runs the code that has change ``change_id``.

    The first time an execution reaches it at the end of its history, it records a marker
    and gives ``True``; replays of that execution find the marker and give ``True`` again.
    An execution whose history already goes past this point without the marker was
    recorded by the old code: it gives ``False``, so the old branch replays unchanged.
    """

    change_id: str

    op_type = OperationType.STEP
    sub_type = PATCH_SUB_TYPE
    positional: ClassVar[bool] = False

    def __init__(self, change_id: str) -> None:
        checked = check_name(change_id, "Patched")
        if checked is None or len(checked) > 200:
            raise ValidationError(
                "Patched needs a change id of 1-200 printable ASCII characters, such as "
                f"'fix-1234', got {change_id!r}"
            )
        self.__attrs_init__(checked)

    @property
    def op_name(self) -> str | None:
        """The marker's name: ``patched:<change id>``."""
        return f"patched:{self.change_id}"
