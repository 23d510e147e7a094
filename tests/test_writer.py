"""The checkpoint writer on its own: token chaining, paging, the flush policy, withdrawal.

The fakes here (:class:`ScriptedService`, :class:`Collector`) are shared by the other
``test_writer_*`` modules.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from orchestra.runtime.writer import CheckpointWriter
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

ARN = "arn"
WAIT = 5  # seconds a test waits for the writer thread before it declares a hang


def op(op_id: str) -> Operation:
    return Operation(id=op_id, type=OperationType.WAIT, status=OperationStatus.SUCCEEDED)


def update(i: int | str, payload: str | None = None, action=OperationAction.SUCCEED):
    return OperationUpdate(id=f"s{i}", type=OperationType.STEP, action=action, payload=payload)


def execution_succeed(payload: str = '"done"') -> OperationUpdate:
    return OperationUpdate(
        id="exec", type=OperationType.EXECUTION, action=OperationAction.SUCCEED, payload=payload
    )


Answer = CheckpointResponse | BaseException | Callable[[], CheckpointResponse]


class ScriptedService:
    """Answers checkpoint calls from a script (then with fresh tokens), records everything.

    A script entry is a CheckpointResponse, an exception to raise, or a callable.
    ``pages`` maps a marker to the page (or exception) get_state answers with.
    """

    def __init__(
        self,
        script: Sequence[Answer] = (),
        pages: dict[str, ExecutionState | BaseException] | None = None,
    ) -> None:
        self.script = list(script)
        self.pages = pages or {}
        self.calls: list[list[OperationUpdate]] = []
        self.tokens: list[str] = []
        self.state_calls: list[tuple[str, str]] = []

    def checkpoint(self, arn: str, token: str, updates: Sequence[OperationUpdate]):
        self.calls.append(list(updates))
        self.tokens.append(token)
        n = len(self.calls)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer() if callable(answer) else answer
        return CheckpointResponse(checkpoint_token=f"t{n}", request_id=f"req-{n}")

    def get_state(self, arn: str, token: str, marker: str, max_items: int):
        self.state_calls.append((token, marker))
        page = self.pages[marker]
        if isinstance(page, BaseException):
            raise page
        return page

    @property
    def sizes(self) -> list[int]:
        return [len(call) for call in self.calls]


class Collector:
    """Records on_ack and on_error calls; waits for them with a bound."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.acks: list[int] = []
        self.operations: list[Operation] = []
        self.errors: list[BaseException] = []

    def on_ack(self, acks: list[int], operations: list[Operation]) -> None:
        self.acks.extend(acks)
        self.operations.extend(operations)
        self.events.put(("ack", (acks, operations)))

    def on_error(self, error: BaseException) -> None:
        self.errors.append(error)
        self.events.put(("error", error))

    def next(self, timeout: float = WAIT) -> tuple[str, Any]:
        return self.events.get(timeout=timeout)

    def error(self, timeout: float = WAIT) -> BaseException:
        """The next reported error, skipping acks."""
        deadline = time.monotonic() + timeout
        while True:
            kind, value = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            if kind == "error":
                return value

    def writer(self, service: Any, **kwargs: Any) -> CheckpointWriter:
        return CheckpointWriter(
            service, ARN, "t0", on_ack=self.on_ack, on_error=self.on_error, **kwargs
        )


def test_tokens_chain_and_pages_are_merged_before_the_ack():
    service = ScriptedService(
        [
            CheckpointResponse(
                new_execution_state=ExecutionState(operations=[op("a1")], next_marker="m1"),
                checkpoint_token="t1",
            ),
            CheckpointResponse(checkpoint_token="t2"),
        ],
        pages={
            "m1": ExecutionState(operations=[op("b")], next_marker="m2"),
            "m2": ExecutionState(operations=[op("c")], next_marker=None),
        },
    )
    got = Collector()
    writer = got.writer(service)
    writer.submit(update(1), ack=1)
    writer.flush()
    first = got.next()
    writer.submit(update(2), ack=2)
    writer.flush()
    second = got.next()
    assert writer.close(WAIT)
    assert service.tokens == ["t0", "t1"]
    assert service.state_calls == [("t1", "m1"), ("t1", "m2")]  # pages use the new token
    assert first == ("ack", ([1], [op("a1"), op("b"), op("c")]))
    assert second == ("ack", ([2], []))


def test_an_empty_submission_is_an_empty_call_and_is_acknowledged():
    service = ScriptedService(
        [
            CheckpointResponse(
                new_execution_state=ExecutionState(operations=[op("w")]), checkpoint_token="t1"
            )
        ]
    )
    got = Collector()
    writer = got.writer(service)
    writer.submit(None, ack=7)
    writer.flush()
    assert got.next() == ("ack", ([7], [op("w")]))
    assert writer.close(WAIT)
    assert service.calls == [[]]


def test_polls_coalesce_with_updates_into_one_call():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit(None, ack=1)
    writer.submit(update(1), ack=2)
    writer.submit(None, ack=3)
    writer.flush()
    assert got.next() == ("ack", ([1, 2, 3], []))
    assert writer.close(WAIT)
    assert service.calls == [[update(1)]]


def test_a_flush_sends_at_once_without_lingering():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    started = time.monotonic()
    writer.submit(update(1), ack=1)
    writer.flush()
    assert got.next() == ("ack", ([1], []))
    assert time.monotonic() - started < 2
    assert writer.close(WAIT)


def test_an_update_nobody_waits_for_rides_along_with_the_next_flush():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit(update(1, action=OperationAction.START))  # async: no ack
    time.sleep(0.2)
    assert service.calls == []  # it waits for company
    writer.submit(update(1), ack=1)
    writer.flush()
    assert got.next() == ("ack", ([1], []))
    assert writer.close(WAIT)
    assert service.calls == [[update(1, action=OperationAction.START), update(1)]]


def test_an_update_nobody_waits_for_goes_alone_after_the_async_bound():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=0.05)
    writer.submit(update(1, action=OperationAction.START))
    assert got.next() == ("ack", ([], []))
    assert writer.close(WAIT)
    assert service.calls == [[update(1, action=OperationAction.START)]]


def test_withdraw_drops_queued_items_of_those_owners_only():
    gate = threading.Event()
    service = ScriptedService(
        [lambda: (gate.wait(WAIT), CheckpointResponse(checkpoint_token="t1"))[1]]
    )
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit(update(0), ack=0, owner=1)
    writer.flush()  # in flight: withdrawing cannot take it back
    deadline = time.monotonic() + WAIT
    while not service.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.submit(update(1), ack=1, owner=1)
    writer.submit(update(2), ack=2, owner=2)
    writer.submit(update(3), ack=3)
    writer.withdraw({1})
    writer.flush()
    gate.set()
    assert got.next() == ("ack", ([0], []))
    assert got.next() == ("ack", ([2, 3], []))
    assert writer.close(WAIT)
    assert service.calls == [[update(0)], [update(2), update(3)]]


def test_submit_all_queues_its_items_in_order_as_one_call_with_their_acks_and_owners():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit_all(
        [
            (update(1, action=OperationAction.START), None, 1),
            (update(2, action=OperationAction.START), None, 2),
            (update(1), 7, 1),
        ]
    )
    writer.withdraw({2})  # owners are kept per item
    writer.flush()
    assert got.next() == ("ack", ([7], []))
    assert writer.close(WAIT)
    assert service.calls == [[update(1, action=OperationAction.START), update(1)]]


def test_submit_all_after_close_is_refused_and_queues_nothing():
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    assert writer.close(WAIT)
    try:
        writer.submit_all([(update(1), 1, None)])
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("submit_all on a closed writer was accepted")
    assert service.calls == []


def test_an_execution_update_answered_without_a_token_completes_the_execution():
    service = ScriptedService(
        [CheckpointResponse(new_execution_state=ExecutionState(operations=[op("x")]))],
        pages={},
    )
    got = Collector()
    writer = got.writer(service)
    writer.submit(update(1), ack=1)
    writer.submit(execution_succeed(), ack=2)
    writer.flush()
    assert got.next() == ("ack", ([1, 2], [op("x")]))  # no paging: the token is spent
    writer.submit(update(3), ack=3)
    writer.flush()
    error = got.error()
    assert writer.close(WAIT)
    assert getattr(error, "retryable", None) is False and error.code == "ExecutionEnded"
    assert len(service.calls) == 1
