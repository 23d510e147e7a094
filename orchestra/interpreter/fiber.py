"""A fiber: one workflow generator plus its context (id prefix, parent, counter).

The root workflow is one fiber; each child context is another. Fibers are cooperative and
run on the interpreter's thread, so thousands of concurrent branches cost thousands of
generator objects, not threads.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

__all__ = ["Fiber"]

#: Called with ``(value, error)`` when the fiber's generator returns or raises.
Done = Callable[[Any, BaseException | None], None]


class Fiber:
    """One generator being interpreted.

    Attributes:
        gen: the workflow generator.
        prefix: the id prefix of its context (``None`` at the root).
        parent_id: the ``ParentId`` its operations report.
        path: a readable location for error messages (``workflow > child 'x'``).
        counter: how many operations it has yielded.
        replaying: whether it is re-running checkpointed code (for the logger).
        on_done: the continuation run when the generator finishes.
    """

    __slots__ = (
        "counter",
        "error",
        "gen",
        "on_done",
        "parent_id",
        "path",
        "prefix",
        "replaying",
        "value",
    )

    def __init__(
        self,
        gen: Generator[Any, Any, Any],
        *,
        prefix: str | None,
        parent_id: str | None,
        path: str,
        replaying: bool,
        on_done: Done,
    ) -> None:
        self.gen = gen
        self.prefix = prefix
        self.parent_id = parent_id
        self.path = path
        self.replaying = replaying
        self.on_done = on_done
        self.counter = 0
        self.value: Any = None
        self.error: BaseException | None = None

    def resume_with(self, value: Any, error: BaseException | None) -> None:
        """Set what the next resume sends (``value``) or throws (``error``)."""
        self.value = value
        self.error = error

    def position(self) -> str:
        """Where the fiber is, for error messages."""
        return f"operation #{self.counter} of {self.path}"
