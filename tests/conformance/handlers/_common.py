"""Helpers shared by the conformance handlers."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from orchestra import get_logger, step_context

#: The durable logger (replay-aware: records from replayed workflow code are dropped).
log = get_logger("conformance")
#: The same logger with replay logging on, so that re-executed code stays observable.
replay_log = get_logger("conformance", log_replay=True)

_seen: set[tuple[str, str]] = set()
_seen_lock = threading.Lock()


class TransientError(Exception):
    """A custom error type that a retry policy can single out."""


class UppercaseSerde:
    """Serialises a string as its upper-case text, stored verbatim; reads it back as is."""

    def serialize(self, value: Any) -> str:
        return str(value).upper()

    def deserialize(self, data: str) -> Any:
        return data


def current_attempt() -> int:
    """The running step's 1-based attempt number."""
    ctx = step_context()
    assert ctx is not None, "current_attempt() called outside a step"
    return ctx.attempt


def first_time_in_execution(label: str) -> bool:
    """True the first time a step of this execution asks with ``label``, False afterwards.

    The state lives in the process, keyed by the execution ARN: it plays the part of the
    reference handlers' DynamoDB counter and survives the emulated process crash.
    """
    ctx = step_context()
    assert ctx is not None, "first_time_in_execution() called outside a step"
    key = (ctx.execution_arn, label)
    with _seen_lock:
        if key in _seen:
            return False
        _seen.add(key)
        return True


def crash_process(*, after_seconds: float = 0.0) -> None:
    """Emulate the Lambda process dying (``process.exit``) from inside a step."""
    if after_seconds:
        time.sleep(after_seconds)
    sys.exit(1)
