"""Core II: the fiber tree, its states, machine-made contexts, cancellation, generator
lifecycle and time as an input. Driven by hand: events in, commands out, no threads."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from orchestra import Child, Step, Wait
from orchestra.interpreter import machine as machine_module
from orchestra.interpreter.commands import (
    Checkpoint,
    RunStep,
    Succeeded,
    Suspended,
    Warn,
    Withdraw,
)
from orchestra.interpreter.events import Acknowledged, Resume, StepFinished
from orchestra.interpreter.fiber import TRANSITIONS, Fiber, FiberState, FiberStateError
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.machine import Machine
from orchestra.wire.models import (
    Operation,
    OperationStatus,
    OperationType,
    WaitDetails,
)
from tests.helpers import Branches

ROOT1 = operation_id(None, 1)


def new_machine(workflow: Any, ops: list[Operation] | None = None, **kw: Any) -> Machine:
    return Machine(workflow, None, HistoryIndex(ops or []), execution_arn="arn:test", **kw)


def checkpoints(commands: list[Any]) -> list[Checkpoint]:
    return [c for c in commands if isinstance(c, Checkpoint)]


def step_runs(commands: list[Any]) -> list[RunStep]:
    return [c for c in commands if isinstance(c, RunStep)]


# --- states ---------------------------------------------------------------------------------


def test_the_transition_table_is_closed_and_final_states_are_final():
    assert set(TRANSITIONS) == set(FiberState)
    assert TRANSITIONS[FiberState.DONE] == frozenset()
    assert TRANSITIONS[FiberState.CANCELLED] == frozenset()
    for targets in TRANSITIONS.values():
        assert targets <= set(FiberState)


def test_a_forbidden_move_is_refused():
    def body() -> Generator[Any, Any, None]:
        yield None

    fiber = Fiber(0, body(), machine_module.Context.root(), parent=None, replaying=False)
    fiber.move_to(FiberState.DONE)
    with pytest.raises(FiberStateError, match="cannot go from done to runnable"):
        fiber.move_to(FiberState.RUNNABLE)


def double(x: int) -> int:
    return 2 * x


def test_a_fiber_moves_through_step_ack_and_done():
    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(double, 2))

    m = new_machine(workflow)
    [root] = m.fibers()
    commands = m.run(now_ms=1)
    assert root.state is FiberState.ON_STEP
    assert root.pending is not None and root.pending.op_id == ROOT1
    m.handle(StepFinished(step_runs(commands)[0].op_id, 4))
    m.run()
    assert root.state is FiberState.ON_ACK
    m.handle(Acknowledged((root.pending.ack,)))  # type: ignore[union-attr]
    assert m.run() == []
    assert root.state is FiberState.DONE
    assert m.outcome == Succeeded("4")


# --- machine-made contexts ------------------------------------------------------------------


def branch_step(x: int) -> Any:
    def body() -> Generator[Any, Any, int]:
        return (yield Step(double, x, name=f"double-{x}"))

    return body


def test_contexts_made_by_the_machine_have_map_ids_names_and_sub_types(branches_op: None):
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((branch_step(1), branch_step(2)), virtual=False))

    m = new_machine(workflow)
    commands = m.run()
    root, first, second = m.fibers()
    assert root.state is FiberState.ON_CHILDREN
    assert [f.context.prefix for f in (first, second)] == [
        operation_id(ROOT1, 0),
        operation_id(ROOT1, 1),
    ]
    assert [f.context.name for f in (first, second)] == ["map-item-0", "map-item-1"]
    assert {f.context.sub_type for f in (first, second)} == {"MapIteration"}
    runs = step_runs(commands)
    assert [r.op_id for r in runs] == [
        operation_id(operation_id(ROOT1, 0), 1),
        operation_id(operation_id(ROOT1, 1), 1),
    ]
    # their updates report the branch context as parent, and carry their fiber as owner
    starts = checkpoints(commands)
    assert [c.update.parent_id for c in starts if c.update] == [first.prefix, second.prefix]
    assert [c.owner for c in starts] == [first.id, second.id]


def test_a_virtual_machine_made_context_reports_the_enclosing_parent(branches_op: None):
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((branch_step(1), branch_step(2))))

    m = new_machine(workflow)
    commands = m.run()
    assert [c.update.parent_id for c in checkpoints(commands) if c.update] == [None, None]


# --- cancellation ---------------------------------------------------------------------------


def test_cancelling_a_fiber_drops_its_work_and_closes_its_generator(branches_op: None):
    closed: list[str] = []

    def slow() -> Generator[Any, Any, int]:
        try:
            return (yield Step(double, 10, name="slow"))
        finally:
            closed.append("slow")

    def quick() -> Generator[Any, Any, str]:
        yield from ()
        return "quick"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((slow, quick), race=True))

    m = new_machine(workflow)
    started: list[Fiber] = []
    original = m.start_context

    def spy(*args: Any) -> None:
        original(*args)
        started.append(args[0].children[-1])

    m.start_context = spy  # type: ignore[method-assign]
    commands = m.run()
    loser, winner = started
    assert loser.state is FiberState.CANCELLED
    assert winner.state is FiberState.DONE
    assert m.fibers() == [m.fibers()[0]]  # finished fibers leave the tree
    assert closed == ["slow"]
    withdraws = [c for c in commands if isinstance(c, Withdraw)]
    assert withdraws == [Withdraw(frozenset({loser.id}))]
    # the loser's START was issued before it was cancelled: the withdraw names its owner
    assert [c.owner for c in checkpoints(commands)] == [loser.id]
    assert m.outcome == Succeeded('["quick"]')
    # the step's late result is dropped: nothing more reaches the wire
    m.handle(StepFinished(step_runs(commands)[0].op_id, 20))
    assert m.run() == []


def test_cancelling_a_subtree_closes_grandchildren_before_their_parents(branches_op: None):
    order: list[str] = []

    def inner() -> Generator[Any, Any, None]:
        try:
            yield Wait(5, name="inner-wait")
        finally:
            order.append("inner")

    def outer() -> Generator[Any, Any, None]:
        try:
            yield Child(inner, name="inner")
        finally:
            order.append("outer")

    def winner() -> Generator[Any, Any, str]:
        yield Step(double, 1, name="winner-step")
        return "won"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((outer, winner), race=True))

    m = new_machine(workflow)
    commands = m.run()
    assert order == []
    [run] = step_runs(commands)
    m.handle(StepFinished(run.op_id, 2))
    [succeed] = [c for c in checkpoints(m.run()) if c.sync and c.owner == run.owner]
    m.handle(Acknowledged((succeed.ack,)))  # type: ignore[arg-type]
    commands = m.run()
    assert order == ["inner", "outer"]
    [withdraw] = [c for c in commands if isinstance(c, Withdraw)]
    assert len(withdraw.owners) == 2  # outer and inner
    assert m.outcome == Succeeded('["won"]')
    # the inner wait's START ack, if it ever comes, is ignored
    m.handle(Acknowledged((1, 2, 3)))
    assert m.run() == []


# --- generator lifecycle --------------------------------------------------------------------


def test_generators_are_closed_when_the_invocation_suspends():
    events: list[str] = []

    def workflow() -> Generator[Any, Any, None]:
        try:
            yield Wait(60)
        finally:
            events.append("finally ran")

    m = new_machine(workflow)
    [start] = checkpoints(m.run())
    m.handle(Acknowledged((start.ack,)))  # type: ignore[arg-type]
    assert m.run() == []
    assert m.outcome == Suspended()
    assert events == ["finally ran"]


def test_a_yield_while_closing_is_refused_with_a_warning_not_swallowed():
    def workflow() -> Generator[Any, Any, None]:
        try:
            yield Wait(60)
        finally:
            yield Step(double, 1, name="cleanup")  # not allowed: the invocation is ending

    m = new_machine(workflow)
    [start] = checkpoints(m.run())
    m.handle(Acknowledged((start.ack,)))  # type: ignore[arg-type]
    commands = m.run()
    [warn] = [c for c in commands if isinstance(c, Warn)]
    assert "yielded while being closed" in warn.message
    assert type(warn.error).__name__ == "WorkflowDefinitionError"
    assert not step_runs(commands)  # the cleanup step never runs


# --- time is an input -----------------------------------------------------------------------


def napping_machine(now_ms: int) -> Machine:
    """A wait in one branch, a step in the other: the wait parks while the step runs."""

    def sleeper() -> Generator[Any, Any, str]:
        yield Wait(5, name="nap")
        return "rested"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((sleeper, branch_step(3)), virtual=False))

    return new_machine(workflow, now_ms=now_ms)


def test_a_due_timer_is_polled_while_other_work_goes_on_and_resumes_in_the_invocation(
    branches_op: None,
):
    m = napping_machine(1_000)
    commands = m.run()
    wait_start = next(c for c in checkpoints(commands) if c.sync)
    wait_id = wait_start.update.id  # type: ignore[union-attr]
    due = datetime.fromtimestamp(6, tz=UTC)
    started = Operation(
        id=wait_id,
        type=OperationType.WAIT,
        status=OperationStatus.STARTED,
        wait_details=WaitDetails(scheduled_end_timestamp=due),
    )
    m.handle(Acknowledged((wait_start.ack,), (started,)))  # type: ignore[arg-type]
    assert m.run() == []
    sleeper_fiber = m.fibers()[1]
    assert sleeper_fiber.state is FiberState.ON_TIMER
    assert m.next_wakeup_ms == 6_000
    m.handle(Resume(5_999))
    assert m.run() == []  # not due yet
    m.handle(Resume(6_000))
    [poll] = m.run()
    assert isinstance(poll, Checkpoint) and poll.is_poll and poll.sync
    done = attrs.evolve(started, status=OperationStatus.SUCCEEDED)
    m.handle(Acknowledged((poll.ack,), (done,)))  # type: ignore[arg-type]
    m.run()
    assert sleeper_fiber.state is FiberState.DONE


def test_a_timer_not_yet_complete_is_polled_again_later(branches_op: None):
    m = napping_machine(0)
    wait_start = next(c for c in checkpoints(m.run()) if c.sync)
    m.handle(Acknowledged((wait_start.ack,)))  # type: ignore[arg-type]
    assert m.run(now_ms=4_999) == []
    [poll] = m.run(now_ms=5_000)
    assert isinstance(poll, Checkpoint) and poll.is_poll
    assert m.run(now_ms=5_050) == []  # one poll at a time
    m.handle(Acknowledged((poll.ack,)))  # type: ignore[arg-type]  # the wait is still STARTED
    assert m.run(now_ms=5_100) == []
    assert m.next_wakeup_ms == 5_050 + machine_module.POLL_INTERVAL_MS  # from the ack
    [again] = m.run(now_ms=6_050)
    assert isinstance(again, Checkpoint) and again.is_poll


def test_with_nothing_else_in_flight_a_timer_suspends_instead_of_polling():
    def workflow() -> Generator[Any, Any, None]:
        yield Wait(5)

    m = new_machine(workflow, now_ms=0)
    [start] = checkpoints(m.run())
    m.handle(Acknowledged((start.ack,)))  # type: ignore[arg-type]
    assert m.run(now_ms=10_000) == []
    assert m.outcome == Suspended()


# --- parked on the service (callbacks, invokes) ----------------------------------------------


def callback_started(op_id: str, status: OperationStatus, **details: Any) -> Operation:
    from orchestra.wire.models import CallbackDetails

    return Operation(
        id=op_id,
        type=OperationType.CALLBACK,
        status=status,
        sub_type="Callback",
        name="cb",
        callback_details=CallbackDetails(callback_id="cb-1", **details),
    )


def test_an_awaited_callback_parks_on_the_service_and_the_invocation_suspends():
    from orchestra import Callback

    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="cb")
        return (yield handle)

    m = new_machine(workflow)
    [start] = checkpoints(m.run())
    op_id = start.update.id  # type: ignore[union-attr]
    m.handle(Acknowledged((start.ack,), (callback_started(op_id, OperationStatus.STARTED),)))  # type: ignore[arg-type]
    assert m.run() == []
    assert m.outcome == Suspended()


def test_a_callback_completed_while_another_branch_runs_resumes_in_the_invocation(
    branches_op: None,
):
    from orchestra import Callback

    def waiter() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="cb")
        return (yield handle)

    m = new_machine(lambda: (yield Branches((waiter, branch_step(4)), virtual=False)))
    commands = m.run()
    start = next(c for c in checkpoints(commands) if c.sync)
    op_id = start.update.id  # type: ignore[union-attr]
    m.handle(Acknowledged((start.ack,), (callback_started(op_id, OperationStatus.STARTED),)))  # type: ignore[arg-type]
    assert m.run() == []
    waiting = m.fibers()[1]
    assert waiting.state is FiberState.ON_SERVICE
    assert m.next_wakeup_ms is None  # nothing to poll for: the service tells us
    # the other branch's step finishes; its checkpoint's answer carries the completed callback
    [run] = step_runs(commands)
    m.handle(StepFinished(run.op_id, 8))
    [succeed] = [c for c in checkpoints(m.run()) if c.sync]
    done = callback_started(op_id, OperationStatus.SUCCEEDED, result='"approved"')
    m.handle(Acknowledged((succeed.ack,), (done,)))  # type: ignore[arg-type]
    m.run()
    assert m.outcome == Succeeded('["approved",8]')


def test_cancelling_a_fiber_drops_its_pending_confirmations_so_the_invocation_can_suspend(
    branches_op: None,
):
    """A Map inside a losing Race branch: its item's SUCCEED was queued (a confirmation no
    fiber waits on) when the branch was cancelled; the withdrawn update is never acknowledged,
    so the machine must forget it, or a later Wait could never suspend the invocation."""
    from orchestra import Map

    def item(x: int, index: int) -> int:
        return x

    def loser() -> Generator[Any, Any, Any]:
        return (yield Map([1], item, name="inner map"))

    def winner() -> Generator[Any, Any, str]:
        yield Step(double, 1, name="winner-step")
        return "won"

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Branches((loser, winner), race=True)
        yield Wait(10, name="after")
        return result

    m = new_machine(workflow)
    runs = {r.name: r for r in step_runs(m.run())}
    m.handle(StepFinished(runs["item"].op_id, 1))
    [step_succeed] = [c for c in checkpoints(m.run()) if c.sync]
    m.handle(Acknowledged((step_succeed.ack,)))  # type: ignore[arg-type]
    [confirm] = [c for c in checkpoints(m.run()) if c.sync]  # the branch SUCCEED: no ack yet
    assert confirm.update is not None and confirm.update.sub_type == "MapIteration"
    m.handle(StepFinished(runs["winner-step"].op_id, 2))
    [succeed] = [c for c in checkpoints(m.run()) if c.sync]
    m.handle(Acknowledged((succeed.ack,)))  # type: ignore[arg-type]
    commands = m.run()
    assert any(isinstance(c, Withdraw) for c in commands)
    [wait_start] = [c for c in checkpoints(commands) if c.sync]
    m.handle(Acknowledged((wait_start.ack,)))  # type: ignore[arg-type]
    assert m.run() == []
    assert m.outcome == Suspended()
