"""Replay validation: the yielded operation must match what the history holds at its id.

Example:
    >>> from orchestra.wire.models import Operation, OperationType, OperationStatus
    >>> recorded = Operation(id="x", type=OperationType.WAIT, status=OperationStatus.SUCCEEDED,
    ...                      sub_type="Wait", name="nap")
    >>> mismatch(recorded, OperationType.STEP, "Step", "charge")
    'a WAIT (Wait) named nap'
    >>> mismatch(recorded, OperationType.WAIT, "Wait", "nap") is None
    True
"""

from __future__ import annotations

from orchestra.wire.models import Operation, OperationType

__all__ = ["describe", "mismatch"]


def describe(op_type: OperationType, sub_type: str | None, name: str | None) -> str:
    """A short human description of an operation."""
    text = f"a {op_type.value}"
    if sub_type:
        text += f" ({sub_type})"
    return text + (f" named {name}" if name else " without a name")


def mismatch(
    recorded: Operation, op_type: OperationType, sub_type: str, name: str | None
) -> str | None:
    """Describe the recorded operation if it differs from the yielded one, else ``None``."""
    same = (
        recorded.type is op_type
        and (recorded.sub_type is None or recorded.sub_type == sub_type)
        and (recorded.name or None) == (name or None)
    )
    return None if same else describe(recorded.type, recorded.sub_type, recorded.name)
