"""Issue 10 §2: the runtime without needless thread hops, and the guarantees it keeps.

A sequential workflow runs on the invocation's driver thread end to end: the driver makes
each checkpoint call itself when it would otherwise wait for the answer, and runs a step
that is the only work in flight. The writer thread still sends a slow at-least-once step's
START within the async bound, concurrent steps still run on the pool, and the handler
still answers at the Lambda deadline whatever the driver is doing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

import attrs
import pytest

from orchestra import Map, Step, StepSemantics, lambda_handler
from orchestra.runtime.invocation import InvocationTimeoutError
from orchestra.service.local.engine import LocalService
from orchestra.testing import DeterminismGuard, LocalRunner
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

A = OperationAction


@attrs.define
class Call:
    """One checkpoint call: its updates, the thread that made it and when."""

    updates: list[OperationUpdate]
    thread: str
    at: float


class ThreadRecordingService:
    """The emulator, recording which thread made each checkpoint call, and when."""

    def __init__(self) -> None:
        self.inner = LocalService()
        self.calls: list[Call] = []

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls.append(Call(list(updates), threading.current_thread().name, time.monotonic()))
        return self.inner.checkpoint(arn, token, updates)

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        return self.inner.get_state(arn, token, marker, max_items)

    def run(self, workflow: Any, value: Any = None, **options: Any) -> str:
        arn = self.inner.start_execution("fn", "null" if value is None else str(value))
        self.inner.run(arn, lambda_handler(workflow, service=self, **options))
        return arn


step_threads: list[str] = []


def inc(x: int) -> int:
    step_threads.append(threading.current_thread().name)
    return x + 1


def sequential(n: int) -> Generator[Any, Any, int]:
    total = 0
    for _ in range(n):
        total = yield Step(inc, total)
    return total


@pytest.fixture(autouse=True)
def _clear() -> None:
    step_threads.clear()


def test_n_sequential_steps_make_exactly_n_calls_each_from_the_invocation_thread():
    service = ThreadRecordingService()
    arn = service.run(sequential, 50)
    assert service.inner.execution(arn).result == "50"
    assert len(service.calls) == 50
    assert all([u.action for u in c.updates] == [A.START, A.SUCCEED] for c in service.calls)
    # the driver made every call itself: no round trip through the writer thread
    assert {c.thread for c in service.calls} == {"orchestra-invocation"}


def test_a_step_that_is_the_only_work_runs_on_the_invocation_thread_not_the_pool():
    service = ThreadRecordingService()
    service.run(sequential, 5)
    assert step_threads == ["orchestra-invocation"] * 5


def test_concurrent_steps_still_run_on_the_pool():
    def item(x: int, _: Any) -> Generator[Any, Any, int]:
        return (yield Step(inc, x))

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(list(range(8)), item)
        return sorted(result.values())

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED" and run.result == [x + 1 for x in range(8)]
    assert len(step_threads) == 8
    assert all(name.startswith("orchestra-step") for name in step_threads[:7])


def test_a_slow_at_least_once_step_start_is_in_the_history_within_the_async_bound():
    service = ThreadRecordingService()
    seen: list[list[OperationStatus]] = []
    bound = 0.05

    def slow() -> str:
        started = time.monotonic()
        time.sleep(0.6)
        # while it ran, its START reached the service on the writer thread
        starts = [c for c in service.calls if [u.action for u in c.updates] == [A.START]]
        seen.append([op.status for op in service.inner.execution(arn[0]).operations.values()])
        assert starts and starts[0].at - started < bound + 0.3
        assert starts[0].thread == "orchestra-checkpoint"
        return "done"

    def workflow() -> Generator[Any, Any, str]:
        return (yield Step(slow, name="slow"))

    arn: list[str] = []
    arn.append(service.inner.start_execution("fn", "null"))
    service.inner.run(arn[0], lambda_handler(workflow, service=service, async_bound=bound))
    assert service.inner.execution(arn[0]).result == '"done"'
    assert OperationStatus.STARTED in seen[0]
    assert [[u.action for u in c.updates] for c in service.calls] == [[A.START], [A.SUCCEED]]


def test_an_at_most_once_step_runs_only_after_its_start_is_acknowledged():
    service = ThreadRecordingService()
    observed: list[int] = []

    def once() -> int:
        observed.append(len(service.calls))
        return 1

    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(once, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY))

    service.run(workflow)
    assert observed == [1]  # the START call had returned before the attempt began
    assert [[u.action for u in c.updates] for c in service.calls] == [[A.START], [A.SUCCEED]]


def test_a_step_running_on_the_invocation_thread_does_not_hold_the_handler_past_the_deadline():
    release = threading.Event()

    def stuck() -> str:
        release.wait(5)
        return "late"

    def workflow() -> Generator[Any, Any, str]:
        return (yield Step(stuck, name="stuck"))

    @attrs.frozen
    class Context:
        remaining_ms: int

        def get_remaining_time_in_millis(self) -> int:
            return self.remaining_ms

    service = LocalService()
    handler = lambda_handler(workflow, service=service)
    arn = service.start_execution("f", "{}")
    started = time.monotonic()
    try:
        with pytest.raises(InvocationTimeoutError) as info:
            handler(service.invocation_event(arn), Context(remaining_ms=500))
        assert info.value.retryable
        assert time.monotonic() - started < 1.5
    finally:
        release.set()
    time.sleep(0.2)
    ops = [o for o in service.execution(arn).operations.values() if o.name == "stuck"]
    # the late result was never checkpointed: the abandoned driver sent nothing more
    assert [o.status for o in ops] == [OperationStatus.STARTED]


def test_under_a_determinism_guard_steps_keep_off_the_watched_workflow_thread():
    import random

    def draw() -> float:
        step_threads.append(threading.current_thread().name)
        return random.random()

    def workflow() -> Generator[Any, Any, float]:
        return (yield Step(draw))

    guard = DeterminismGuard()
    run = LocalRunner(workflow, guard=guard).run()
    assert run.status == "SUCCEEDED"
    assert guard.violations == []  # the step's random draw is not workflow code
    assert step_threads and step_threads[0].startswith("orchestra-step")


def test_workflow_code_is_still_watched_by_a_guard_on_the_invocation_thread():
    import random

    def workflow() -> Generator[Any, Any, bool]:
        lucky = random.random() < 2
        yield Step(inc, 1)
        return lucky

    guard = DeterminismGuard()
    assert LocalRunner(workflow, guard=guard).run().status == "SUCCEEDED"
    assert [v.call for v in guard.violations] == ["random.random"]


def test_a_crash_injected_at_a_call_made_on_the_invocation_thread_loses_nothing():
    runner = LocalRunner(sequential)
    run = runner.run(6, crash_at=[3])
    assert run.status == "SUCCEEDED" and run.result == 6
    steps = [op for op in run.operations if op.type is OperationType.STEP]
    assert len(steps) == 6


# --- per-step fast paths: each is checked against what the general path does -------------


def test_a_plain_step_result_is_not_decoded_again_but_a_typed_one_still_is():
    from orchestra.interpreter.payloads import ANY_SERDE, encode_checked, serde_for

    for value in (0, -5, 2**70, "é\ud800", True, None, 1.5, -0.0):
        payload, decoded = encode_checked(ANY_SERDE, value, "id", None, 1024, "step result")
        assert decoded == value and type(decoded) is type(value)
        assert payload == ANY_SERDE.serialize(value)
    # values that do not read back as themselves still go through the decoder
    assert encode_checked(ANY_SERDE, (1, 2), "id", None, None, "x")[1] == [1, 2]

    def typed() -> int:
        return 1

    serde = serde_for({}, typed, None)
    assert encode_checked(serde, "7", "id", None, None, "x") == ('"7"', 7)
    assert encode_checked(serde, True, "id", None, None, "x")[1] == 1  # bool is not int


def test_a_plain_step_result_over_the_limit_is_still_refused():
    from orchestra.interpreter.payloads import ANY_SERDE, encode_checked
    from orchestra.interpreter.signals import ExecutionFailure

    with pytest.raises(ExecutionFailure):
        encode_checked(ANY_SERDE, "é" * 200, "id", None, 1000, "step result")  # 1,202 bytes
    assert encode_checked(ANY_SERDE, "a" * 300, "id", None, 1000, "x")[1] == "a" * 300  # measured
    assert encode_checked(ANY_SERDE, "a" * 240, "id", None, 1000, "x")[1] == "a" * 240  # bounded


def test_the_machine_reads_its_clock_only_when_an_operation_needs_the_time():
    from orchestra import Wait
    from orchestra.interpreter.history import HistoryIndex
    from orchestra.interpreter.machine import Machine

    reads: list[int] = []

    def clock() -> int:
        reads.append(1)
        return 5_000

    def workflow() -> Generator[Any, Any, None]:
        yield Wait(10)

    machine = Machine(sequential, 3, HistoryIndex(), execution_arn="arn", clock=clock)
    machine.run()
    assert reads == []  # a step needs no time
    machine = Machine(workflow, None, HistoryIndex(), execution_arn="arn", clock=clock)
    machine.run()
    assert len(reads) == 1  # the wait's start time: read once, when used
    machine.run(7_000)  # a time given is used as it is
    assert machine.now_ms == 7_000 and len(reads) == 1


def test_a_step_reported_from_another_thread_by_run_here_is_not_lost():
    from orchestra.runtime.executor import StepExecutor

    class Handing(StepExecutor):
        def run_here(self, command, execution_arn, report, *, now=None):  # type: ignore[no-untyped-def]
            thread = threading.Thread(target=self._run, args=(command, execution_arn, report, now))
            thread.start()
            thread.join()

    service = ThreadRecordingService()
    arn = service.run(sequential, 4, executor=Handing())
    assert service.inner.execution(arn).result == "4"


def _counting_wakes(writer: Any) -> list[int]:
    woken = [0]
    notify_all = writer._cond.notify_all

    def counting() -> None:
        woken[0] += 1
        notify_all()

    writer._cond.notify_all = counting
    return woken


def test_the_writer_thread_is_woken_once_however_many_due_updates_wait_for_it():
    from orchestra.runtime.writer import CheckpointWriter

    service = LocalService()
    arn = service.start_execution("fn", "{}")
    token = service.invocation_event(arn)["CheckpointToken"]
    writer = CheckpointWriter(service, arn, token, on_ack=lambda a, o: None, on_error=print)
    time.sleep(0.05)  # the thread sleeps with an empty queue
    woken = _counting_wakes(writer)
    with writer._lock:  # the thread cannot run meanwhile: every submission finds it asleep
        for i in range(20):
            writer._queue.append(_item(writer, f"s{i}"))
            writer._flush_upto = writer._seq  # due now (a flush)
            writer._nudge()
    assert woken[0] == 1
    writer.close(5)


def _timed_writer(*, async_bound: float) -> tuple[Any, list[float]]:
    """A writer on a fresh execution, and the list of when each of its calls was made."""
    from orchestra.runtime.writer import CheckpointWriter

    service = LocalService()
    arn = service.start_execution("fn", "{}")
    token = service.invocation_event(arn)["CheckpointToken"]
    sent: list[float] = []
    checkpoint = service.checkpoint

    def recording(*args: Any, **kwargs: Any) -> Any:
        sent.append(time.monotonic())
        return checkpoint(*args, **kwargs)

    service.checkpoint = recording  # type: ignore[method-assign]
    writer = CheckpointWriter(
        service, arn, token, on_ack=lambda a, o: None, on_error=print, async_bound=async_bound
    )
    return writer, sent


def _wait_for(sent: list[float]) -> None:
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.001)


def test_an_update_nobody_waits_for_wakes_no_thread_and_still_goes_within_the_async_bound():
    writer, sent = _timed_writer(async_bound=0.1)
    time.sleep(0.15)  # the thread sleeps with an empty queue
    woken = _counting_wakes(writer)
    queued = time.monotonic()
    writer.submit(OperationUpdate(id="s1", type=OperationType.STEP, action=A.START))
    assert woken[0] == 0  # the thread looks again within the bound by itself
    _wait_for(sent)
    assert sent, "the update was never sent"
    # it waited for company, then went by the bound (not by the 0.5 s poll)
    assert 0.05 <= sent[0] - queued < 0.35
    writer.close(5)


def test_a_tiny_async_bound_neither_spins_the_idle_writer_nor_delays_an_update():
    writer, sent = _timed_writer(async_bound=0.001)
    looks = [0]
    wait = writer._cond.wait

    def counting(timeout: float | None = None) -> bool:
        looks[0] += 1
        return wait(timeout)

    writer._cond.wait = counting  # type: ignore[method-assign]
    time.sleep(0.3)
    assert looks[0] <= 40  # about one look per 10 ms, not one per millisecond
    queued = time.monotonic()
    writer.submit(OperationUpdate(id="s1", type=OperationType.STEP, action=A.START))
    _wait_for(sent)
    assert sent and sent[0] - queued < 0.2  # woken for it: due long before the next look
    writer.close(5)


def _item(writer: Any, op_id: str) -> Any:
    from orchestra.runtime.writer import _Item

    writer._seq += 1
    update = OperationUpdate(id=op_id, type=OperationType.STEP, action=A.START)
    return _Item(writer._seq - 1, update, None, None, time.monotonic())


def test_plain_values_are_written_exactly_as_the_json_encoder_writes_them():
    import json

    from orchestra.errors import SerializationError
    from orchestra.serde import JsonSerde

    codec = JsonSerde()
    for value in (0, -3, 2**80, 'a"\\é\ud800\n\x00', "", True, False, None, 1.5, [1, "x"]):
        assert codec.serialize(value) == json.dumps(value, separators=(",", ":"), allow_nan=False)
    for bad in (10**5000, float("nan")):  # over int's digit limit; not JSON
        with pytest.raises(SerializationError):
            codec.serialize(bad)


def test_send_now_once_makes_one_call_and_keeps_the_rest_queued():
    from orchestra.runtime.writer import MAX_BATCH_UPDATES, CheckpointWriter

    service = ThreadRecordingService()
    arn = service.inner.start_execution("fn", "{}")
    token = service.inner.invocation_event(arn)["CheckpointToken"]
    acked: list[Any] = []
    writer = CheckpointWriter(
        service, arn, token, on_ack=lambda a, o: acked.append(a), on_error=print
    )
    for i in range(MAX_BATCH_UPDATES + 40):
        writer.submit(OperationUpdate(id=f"s{i}", type=OperationType.STEP, action=A.START), ack=i)
    assert writer.send_now(once=True)
    assert [len(c.updates) for c in service.calls] == [MAX_BATCH_UPDATES]
    assert writer.queued == 40
    assert writer.send_now()
    assert [len(c.updates) for c in service.calls] == [MAX_BATCH_UPDATES, 40]
    writer.close(5)


def test_a_map_sends_full_calls_while_its_items_are_finishing(monkeypatch):
    # 1,000 one-step items, 100 at a time: 4,002 updates, so at least 17 calls of 250. The
    # driver waits for results still coming before each call, and sends one call at a time
    # while items run, so the calls stay nearly full (without it: 31 to 41 calls here). The
    # gap is widened so that a loaded machine, where results come slower, counts the same.
    from orchestra.runtime import invocation

    monkeypatch.setattr(invocation, "LINGER_GAP_SECONDS", 0.05)
    monkeypatch.setattr(invocation, "LINGER_MAX_SECONDS", 0.5)

    def item(x: int, _: int) -> int:
        return x + 1

    def workflow() -> Generator[Any, Any, int]:
        result = yield Map(list(range(1000)), item, max_concurrency=100)
        return sum(result.values())

    service = ThreadRecordingService()
    arn = service.run(workflow)
    assert service.inner.execution(arn).result == str(sum(range(1, 1001)))
    sizes = [len(c.updates) for c in service.calls]
    assert sum(sizes) == 4002
    assert len(sizes) <= 24, sizes


def test_a_sequential_workflow_never_lingers():
    service = ThreadRecordingService()
    begin = time.monotonic()
    service.run(sequential, 200)
    # 200 lingering waits of 2 ms would take 0.4 s alone
    assert time.monotonic() - begin < 0.4
    assert len(service.calls) == 200


def _general_cut(items: list[Any]) -> list[Any]:
    """What the writer's general planning (``_Batch``) takes off a queue of ``items``."""
    from collections import deque

    from orchestra.runtime.writer import CheckpointWriter, _bound, _measure, _rough

    writer = CheckpointWriter.__new__(CheckpointWriter)
    writer._queue = deque(items)
    batch = writer._plan(_rough)
    if batch.cut_for_size:
        batch = writer._plan(_bound)
    if batch.cut_for_size:
        batch = writer._plan(_measure)
    return batch.items


def test_the_writer_short_cut_for_one_or_two_items_follows_the_batch_rules():
    from collections import deque

    from orchestra.runtime.writer import MAX_BATCH_BYTES, CheckpointWriter, _Item

    big = "x" * (MAX_BATCH_BYTES // 2)
    updates: list[OperationUpdate | None] = [None]
    for kind in (OperationType.STEP, OperationType.CONTEXT, OperationType.WAIT):
        for action in (A.START, A.SUCCEED, A.FAIL, A.RETRY):
            for op_id in ("a", "b"):
                updates.append(OperationUpdate(id=op_id, type=kind, action=action))
    updates.append(OperationUpdate(id="e", type=OperationType.EXECUTION, action=A.SUCCEED))
    updates.append(OperationUpdate(id="a", type=OperationType.STEP, action=A.START, payload=big))
    updates.append(OperationUpdate(id="c", type=OperationType.STEP, action=A.SUCCEED, payload=big))
    checked = 0
    for first in updates:
        for second in [*updates, "alone"]:
            pair = [first] if second == "alone" else [first, second]
            items = [_Item(i, u, None, None, 0.0) for i, u in enumerate(pair)]
            queue = deque(items)
            small = CheckpointWriter._cut_small(queue)
            expected = _general_cut(items)
            if small is None:  # left to the general planning (maybe too large together)
                assert len(pair) == 2 and queue == deque(items)
                continue
            assert small == expected, pair
            assert list(queue) == items[len(small) :]
            checked += 1
    assert checked > 700


def test_the_driver_takes_the_acknowledgement_of_its_own_call_without_the_inbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestra.runtime.invocation import _Invocation

    posted: list[str] = []
    post = _Invocation._post

    def recording(self: Any, event: Any) -> None:
        posted.append(type(event).__name__)
        post(self, event)

    monkeypatch.setattr(_Invocation, "_post", recording)
    service = ThreadRecordingService()
    arn = service.run(sequential, 5)
    assert service.inner.execution(arn).result == "5"
    assert len(service.calls) == 5
    assert "Acknowledged" not in posted


def test_an_acknowledgement_queues_behind_pending_events_and_off_the_driver():
    from orchestra.interpreter.events import Acknowledged, Resume
    from orchestra.runtime.invocation import _Deadline, _Invocation

    run = _Invocation(None, None, None, "arn", _Deadline(time.monotonic() + 5), lambda: 0)  # type: ignore[arg-type]
    run._driver_thread = threading.get_ident()
    run._on_ack([1], [])  # not during the driver's own call: through the inbox
    assert run._acked is None and run.inbox.get_nowait() == Acknowledged((1,), ())
    run._direct = True
    run.inbox.put(Resume(1))
    run._on_ack([2], [])  # something already waits: the ack goes after it
    assert run._acked is None and run.inbox.qsize() == 2
    run.inbox.get_nowait(), run.inbox.get_nowait()
    run._on_ack([3], [])
    assert run._acked == Acknowledged((3,), ())
    run._on_ack([4], [])  # a second call's ack follows the first through the inbox
    assert run.inbox.get_nowait() == Acknowledged((4,), ())
    run._acked = None
    other = threading.Thread(target=run._on_ack, args=([5], []))
    other.start()
    other.join()
    assert run._acked is None and run.inbox.get_nowait() == Acknowledged((5,), ())


def test_a_positive_int_payload_reads_exactly_as_the_json_decoder_reads_it():
    import json

    from orchestra.errors import SerializationError
    from orchestra.serde import JsonSerde

    codec, typed = JsonSerde(), JsonSerde(int)
    for data in ("0", "7", "05", "00", "123", "1" * 5000, "²", "١٢", "-1", "1e3", "12a", " 5", ""):
        try:
            expected: Any = json.loads(data)
        except ValueError:
            for serde in (codec, typed):
                with pytest.raises(SerializationError):
                    serde.deserialize(data)
            continue
        assert codec.deserialize(data) == expected and type(codec.deserialize(data)) is type(
            expected
        )
        assert typed.deserialize(data) == expected
