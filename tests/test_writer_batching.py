"""Where the writer cuts a call: 250 updates, 750 KiB, one update of a kind per id, EXECUTION last."""

from __future__ import annotations

import json

from orchestra.runtime.writer import MAX_BATCH_BYTES, MAX_BATCH_UPDATES
from orchestra.service.local.rules import check_batch
from orchestra.wire.converter import to_wire
from orchestra.wire.models import OperationAction, OperationType, OperationUpdate, StepOptions
from tests.test_writer import WAIT, Collector, ScriptedService, execution_succeed, update

A = OperationAction


def wire_bytes(call: list[OperationUpdate]) -> int:
    return sum(len(json.dumps(to_wire(u), separators=(",", ":")).encode()) for u in call)


def send_all(updates: list[OperationUpdate]) -> tuple[ScriptedService, Collector]:
    service = ScriptedService()
    got = Collector()
    writer = got.writer(service, async_bound=60)
    for i, u in enumerate(updates):
        writer.submit(u, ack=i)
    writer.flush()
    assert writer.close(WAIT)
    assert got.errors == []
    assert got.acks == list(range(len(updates)))
    assert [u for call in service.calls for u in call] == updates  # FIFO, nothing lost
    return service, got


def test_more_than_250_updates_are_sent_in_calls_of_at_most_250():
    service, _ = send_all([update(i) for i in range(620)])
    assert service.sizes == [MAX_BATCH_UPDATES, MAX_BATCH_UPDATES, 120]


def test_more_than_750_kib_is_sent_in_calls_of_at_most_750_kib():
    payload = "x" * (100 * 1024)
    updates = [update(i, payload) for i in range(20)]  # ~2 MiB in all
    service, _ = send_all(updates)
    sizes = [wire_bytes(call) for call in service.calls]
    assert len(service.calls) >= 3
    assert all(size <= MAX_BATCH_BYTES for size in sizes)
    for call, following in zip(service.calls, service.calls[1:], strict=False):
        # each call is full: the next update would not have fitted
        assert wire_bytes([*call, following[0]]) > MAX_BATCH_BYTES


def test_many_small_and_some_large_updates_respect_both_limits():
    updates = [update(i, "y" * (40 * 1024) if i % 10 == 0 else None) for i in range(400)]
    service, _ = send_all(updates)
    assert all(len(call) <= MAX_BATCH_UPDATES for call in service.calls)
    assert all(wire_bytes(call) <= MAX_BATCH_BYTES for call in service.calls)


def test_an_update_larger_than_750_kib_goes_alone():
    service, _ = send_all([update(0), update(1, "z" * (800 * 1024)), update(2)])
    assert service.sizes == [1, 1, 1]


def test_two_updates_of_the_same_kind_for_one_id_never_share_a_call():
    retry = OperationUpdate(
        id="s1",
        type=OperationType.STEP,
        action=A.RETRY,
        step_options=StepOptions(next_attempt_delay_seconds=1),
    )
    updates = [
        update(1, action=A.START),
        retry,
        update(1, action=A.START),  # the next attempt
        update(1, action=A.SUCCEED),
    ]
    service, _ = send_all(updates)
    assert service.calls == [[updates[0], updates[1]], [updates[2], updates[3]]]
    operations: dict = {}
    for call in service.calls:
        check_batch(operations, call)  # the service's own batch rule accepts every call


def test_a_start_may_share_a_call_with_one_other_action_for_its_id():
    updates = [update(1, action=A.START), update(1, action=A.SUCCEED), update(2)]
    service, _ = send_all(updates)
    assert service.calls == [updates]


def test_nothing_follows_an_execution_update_in_a_call():
    updates = [update(1), execution_succeed(), update(2)]
    service, _ = send_all(updates)
    assert service.calls == [[update(1), execution_succeed()], [update(2)]]
