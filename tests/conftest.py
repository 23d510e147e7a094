"""Shared fixtures: a recording wrapper around the emulator."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestra.service.local.engine import LocalService
from orchestra.wire.models import CheckpointResponse, ExecutionState, OperationUpdate


class RecordingService:
    """Delegates to a LocalService and records every checkpoint call's updates."""

    def __init__(self, inner: LocalService | None = None) -> None:
        self.inner = inner or LocalService()
        self.calls: list[list[OperationUpdate]] = []

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls.append(list(updates))
        return self.inner.checkpoint(arn, token, updates)

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        return self.inner.get_state(arn, token, marker, max_items)

    @property
    def updates(self) -> list[OperationUpdate]:
        return [u for call in self.calls for u in call]


@pytest.fixture
def recording() -> RecordingService:
    return RecordingService()


@pytest.fixture
def branches_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only ``Branches`` fan-out op with the interpreter."""
    from orchestra.interpreter import machine
    from tests.helpers import Branches, handle_branches

    monkeypatch.setitem(machine.HANDLERS, Branches, handle_branches)
