"""What the interpreter asks the shell to do, and the outcomes it reports.

Every command names its ``owner``, the fiber that asked for it, so that cancelling a fiber
can withdraw what it queued (:class:`Withdraw`).

Example:
    >>> Suspended()
    Suspended()
    >>> Checkpoint(None, sync=True, ack=3, owner=0).is_poll
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import attrs

from orchestra.wire.models import ErrorObject, OperationUpdate

__all__ = [
    "Checkpoint",
    "Command",
    "Failed",
    "Outcome",
    "RunStep",
    "Succeeded",
    "Suspended",
    "Warn",
    "Withdraw",
]


# The hot-path command and event classes are slotted but not frozen: a frozen class's
# ``__init__`` sets each field through ``object.__setattr__`` (twice the cost). Nothing
# mutates them after construction.
@final
@attrs.define
class Checkpoint:
    """Send ``update``; a ``sync`` one is acknowledged by ``ack``.

    ``update`` is ``None`` for a *poll*: an empty checkpoint call that only fetches the
    service's current state (a timer may have fallen due).
    """

    update: OperationUpdate | None
    sync: bool
    ack: int | None = None
    owner: int = 0

    @property
    def is_poll(self) -> bool:
        """Whether this is an empty call that only reads the state back."""
        return self.update is None


@final
@attrs.define
class RunStep:
    """Run a step function (attempt ``attempt``) and report its outcome for ``op_id``."""

    op_id: str
    name: str | None
    parent_id: str | None
    attempt: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    at_most_once: bool = False
    owner: int = 0


@attrs.frozen
class Withdraw:
    """Fibers ``owners`` were cancelled: drop their queued, unsent checkpoints."""

    owners: frozenset[int]


@attrs.frozen
class Warn:
    """Something the shell should log as a warning (the interpreter does no logging)."""

    message: str
    error: BaseException | None = None


Command = Checkpoint | RunStep | Withdraw | Warn


@attrs.frozen
class Succeeded:
    """The workflow returned; ``result`` is its JSON (the shell decides how to deliver it)."""

    result: str


@attrs.frozen
class Failed:
    """The workflow (or the execution) failed with ``error``."""

    error: ErrorObject


@attrs.frozen
class Suspended:
    """Nothing can progress until the service completes something (a timer, a callback)."""


Outcome = Succeeded | Failed | Suspended
