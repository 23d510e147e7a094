"""Helpers shared by the reference-SDK workflows."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.logger import Logger
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

_seen: set[tuple[str, str]] = set()
_seen_lock = threading.Lock()


class TransientError(Exception):
    """A custom error type that a retry strategy can single out."""


class UppercaseSerDes(SerDes[Any]):
    """Serialises a value as its upper-case text, stored verbatim; reads it back as is."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return str(value).upper()

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return data


def execution_arn(context: DurableContext) -> str:
    """The ARN of the execution ``context`` belongs to."""
    return context.state.durable_execution_arn


def first_time(arn: str, label: str) -> bool:
    """True the first time execution ``arn`` asks with ``label``, False afterwards.

    Kept in the process (the part the official handlers give a DynamoDB counter), so it
    survives the emulated crash of an invocation.
    """
    with _seen_lock:
        if (arn, label) in _seen:
            return False
        _seen.add((arn, label))
        return True


def replay_logger(context: DurableContext) -> Logger:
    """``context.logger`` with replay logging on: it also logs while the context replays."""
    return context.logger.with_is_replaying(lambda: False)


def crash_process(*, after_seconds: float = 0.0) -> None:
    """Emulate the Lambda process dying (``process.exit``) from inside a step."""
    if after_seconds:
        time.sleep(after_seconds)
    sys.exit(1)
