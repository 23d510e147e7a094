"""The replay-aware logger.

Records logged from workflow code while it *replays* checkpointed operations are dropped,
so each line appears once across invocations. Every record carries the execution ARN and,
inside a step, the operation id, name and attempt (as ``extra`` fields, which a JSON log
formatter writes as top-level keys). Payloads are never logged by orchestra itself.

Example:
    >>> log = get_logger("shop")
    >>> log.logger.name
    'orchestra.workflow.shop'
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from orchestra._context import active_fields

__all__ = ["ReplayAwareLogger", "get_logger"]


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that skips replayed workflow code and adds execution fields."""

    def __init__(self, logger: logging.Logger, *, log_replay: bool = False) -> None:
        super().__init__(logger, {})
        self.log_replay = log_replay

    def isEnabledFor(self, level: int) -> bool:
        """Whether a record at ``level`` would be emitted now (never while replaying)."""
        fields = active_fields()
        if fields is not None and fields.replaying and not self.log_replay:
            return False
        return self.logger.isEnabledFor(level)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the execution and operation fields to the record's ``extra``."""
        fields = active_fields()
        if fields is not None:
            extra = dict(kwargs.get("extra") or {})
            extra.update(fields.as_extra())
            kwargs["extra"] = extra
        return msg, kwargs


def get_logger(name: str | None = None, *, log_replay: bool = False) -> ReplayAwareLogger:
    """A replay-aware logger under ``orchestra.workflow``.

    Args:
        name: a suffix for the logger name.
        log_replay: also log while replaying (to observe re-execution).
    """
    full = "orchestra.workflow" + (f".{name}" if name else "")
    return ReplayAwareLogger(logging.getLogger(full), log_replay=log_replay)
