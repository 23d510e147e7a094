"""A determinism guard: report clock, random and uuid calls made by workflow code.

Workflow code is replayed, so it must not read the clock, draw random numbers or mint
uuids: a replay would see different values and take a different path. Steps may do all of
that (their results are checkpointed). The guard watches the thread that runs the workflow
during each invocation, where steps never run, and records every such call made by user
code (the standard library, such as logging's timestamps, and orchestra itself are not
workflow code).

Example:
    >>> import random
    >>> from orchestra import Step
    >>> from orchestra.testing import LocalRunner
    >>> def coin() -> bool:
    ...     return random.random() < 2          # fine: inside a step
    >>> def workflow():
    ...     lucky = random.random() < 2         # not fine: in workflow code
    ...     return (yield Step(coin)) and lucky
    >>> guard = DeterminismGuard()
    >>> LocalRunner(workflow, guard=guard).run().status
    'SUCCEEDED'
    >>> [v.call for v in guard.violations]
    ['random.random']
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

import attrs

__all__ = ["DeterminismGuard", "Violation"]

_ORCHESTRA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))

_C_FUNCTIONS: dict[Any, str] = {
    time.time: "time.time",
    time.time_ns: "time.time_ns",
    os.urandom: "os.urandom",
}
_C_METHODS: dict[tuple[type, str], str] = {
    (_dt.datetime, "now"): "datetime.now",
    (_dt.datetime, "utcnow"): "datetime.utcnow",
    (_dt.datetime, "today"): "datetime.today",
    (_dt.date, "today"): "date.today",
}
_PY_FUNCTIONS = {
    uuid.uuid1.__code__: "uuid.uuid1",
    uuid.uuid4.__code__: "uuid.uuid4",
    random.Random.randint.__code__: "random.randint",
    random.Random.randrange.__code__: "random.randrange",
    random.Random.choice.__code__: "random.choice",
    random.Random.choices.__code__: "random.choices",
    random.Random.shuffle.__code__: "random.shuffle",
    random.Random.sample.__code__: "random.sample",
    random.Random.uniform.__code__: "random.uniform",
    random.Random.gauss.__code__: "random.gauss",
}


@attrs.frozen
class Violation:
    """A non-deterministic call from workflow code: what, and where."""

    call: str
    location: str

    def __str__(self) -> str:
        return f"{self.call}() called from workflow code at {self.location}"


def _is_watched_caller(frame: FrameType | None) -> bool:
    if frame is None:
        return False
    filename = frame.f_code.co_filename
    # the standard library (logging stamps records with time.time) and orchestra itself
    # are not workflow code; user code and third-party libraries are
    return not (
        filename.startswith(_ORCHESTRA_DIR)
        or (filename.startswith(_STDLIB_DIR) and "site-packages" not in filename)
    )


def _location(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _c_name(fn: Any) -> str | None:
    name = _C_FUNCTIONS.get(fn)
    if name is not None:
        return name
    owner = getattr(fn, "__self__", None)
    fn_name = getattr(fn, "__name__", None)
    if isinstance(owner, random.Random) and fn_name in ("random", "getrandbits"):
        return f"random.{fn_name}"
    if isinstance(owner, type):
        return _C_METHODS.get((owner, fn_name or ""))
    return None


class DeterminismGuard:
    """Records non-deterministic calls made by workflow code while it is active.

    Use :meth:`wrap` on a handler (``LocalRunner(guard=...)`` does it), or
    ``with guard.watching(): ...`` around code that runs a workflow on this thread.
    """

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._lock = threading.Lock()

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            name = _c_name(arg)
            if name is not None and _is_watched_caller(frame):
                self._record(name, frame)
        elif event == "call":
            name = _PY_FUNCTIONS.get(frame.f_code)
            if name is not None and _is_watched_caller(frame.f_back):
                assert frame.f_back is not None
                self._record(name, frame.f_back)

    def _record(self, name: str, frame: FrameType) -> None:
        with self._lock:
            self.violations.append(Violation(name, _location(frame)))

    def watching(self) -> _Watching:
        """A context manager that watches the current thread."""
        return _Watching(self)

    def wrap(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """A handler that runs ``handler`` while watching its thread."""

        def guarded(event: Any, context: Any = None) -> Any:
            with self.watching():
                return handler(event, context)

        return guarded


class _Watching:
    def __init__(self, guard: DeterminismGuard) -> None:
        self._guard = guard
        self._previous: Any = None

    def __enter__(self) -> DeterminismGuard:
        self._previous = sys.getprofile()
        sys.setprofile(self._guard._profile)
        return self._guard

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(self._previous)
