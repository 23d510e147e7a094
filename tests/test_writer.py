"""The checkpoint writer on its own: token chaining, paging, byte limits."""

from __future__ import annotations

import queue

from orchestra.interpreter.commands import Checkpoint
from orchestra.runtime.writer import MAX_BATCH_BYTES, CheckpointWriter
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)


def op(op_id: str) -> Operation:
    return Operation(id=op_id, type=OperationType.WAIT, status=OperationStatus.SUCCEEDED)


class PagingService:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.state_tokens: list[str] = []
        self.batches: list[int] = []

    def checkpoint(self, arn, token, updates):
        self.tokens.append(token)
        self.batches.append(len(updates))
        n = len(self.tokens)
        return CheckpointResponse(
            new_execution_state=ExecutionState(operations=[op(f"a{n}")], next_marker="m1"),
            checkpoint_token=f"t{n}",
        )

    def get_state(self, arn, token, marker, max_items):
        self.state_tokens.append(token)
        if marker == "m1":
            return ExecutionState(operations=[op("b")], next_marker="m2")
        return ExecutionState(operations=[op("c")], next_marker=None)


def update(i: int, payload: str | None = None) -> OperationUpdate:
    return OperationUpdate(
        id=f"s{i}", type=OperationType.STEP, action=OperationAction.SUCCEED, payload=payload
    )


def test_tokens_chain_and_pages_are_merged_before_the_ack():
    service = PagingService()
    acks: queue.SimpleQueue = queue.SimpleQueue()
    writer = CheckpointWriter(
        service, "arn", "t0", on_ack=lambda a, o: acks.put((a, o)), on_error=acks.put
    )
    writer.submit(Checkpoint(update(1), sync=True, ack=1))
    writer.flush()
    first = acks.get(timeout=5)
    writer.submit(Checkpoint(update(2), sync=True, ack=2))
    writer.flush()
    second = acks.get(timeout=5)
    writer.close()
    assert service.tokens == ["t0", "t1"]
    assert service.state_tokens == ["t1", "t1", "t2", "t2"]
    assert first == ([1], [op("a1"), op("b"), op("c")])
    assert second[0] == [2]


def test_batches_stay_under_750_kib():
    service = PagingService()
    acks: queue.SimpleQueue = queue.SimpleQueue()
    writer = CheckpointWriter(
        service, "arn", "t0", on_ack=lambda a, o: acks.put(a), on_error=acks.put
    )
    big = "x" * (200 * 1024)
    for i in range(8):
        writer.submit(Checkpoint(update(i, big), sync=True, ack=i))
    writer.flush()
    writer.close()
    assert sum(service.batches) == 8
    assert max(service.batches) * 200 * 1024 <= MAX_BATCH_BYTES
    assert len(service.batches) >= 3
