"""What the interpreter asks the shell to do, and the outcomes it reports.

Example:
    >>> Suspended()
    Suspended()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from orchestra.wire.models import ErrorObject, OperationUpdate

__all__ = ["Checkpoint", "Failed", "Outcome", "RunStep", "Succeeded", "Suspended"]


@attrs.frozen
class Checkpoint:
    """Send ``update`` to the service. A ``sync`` update's ``ack`` must be acknowledged."""

    update: OperationUpdate
    sync: bool
    ack: int | None = None


@attrs.frozen
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


@attrs.frozen
class Succeeded:
    """The workflow returned; ``result`` is the JSON the handler returns."""

    result: str | None


@attrs.frozen
class Failed:
    """The workflow failed with ``error``; ``checkpointed`` when it was sent as an update."""

    error: ErrorObject
    checkpointed: bool = False


@attrs.frozen
class Suspended:
    """Nothing can progress until the service completes something (a timer, a callback)."""


Outcome = Succeeded | Failed | Suspended
