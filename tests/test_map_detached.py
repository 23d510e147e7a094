"""A fresh Map item that is one step runs detached: without a fiber and a generator.

Its checkpoints, its history and its outcome must be those of the fiber it would otherwise
run in; a failed attempt is handed to a fiber (retries, delays, FAIL); cancellation
withdraws what it queued. The fiber path is forced by making ``Machine.may_detach`` false.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pytest

from orchestra import Completion, Map, RetryPolicy, Wait, step_context
from orchestra.interpreter import fanout
from orchestra.interpreter.commands import Checkpoint, RunStep, Succeeded, Withdraw
from orchestra.interpreter.events import Acknowledged, StepFinished
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.machine import Machine
from orchestra.testing import LocalRunner, World
from orchestra.testing.runner import RunResult
from orchestra.wire.models import Operation, OperationStatus, OperationType, StepDetails
from tests.test_fanout import double, fail_on_odd

ROOT1 = operation_id(None, 1)


def _fibers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Machine, "may_detach", property(lambda self: False))


def _per_operation(run: RunResult) -> dict[str, list[tuple[Any, ...]]]:
    """Each operation's history events in order, without timestamps or event ids."""
    events: dict[str, list[tuple[Any, ...]]] = {}
    for event in run.history_dicts():
        if event["EventType"].startswith(("Execution", "Invocation")):
            continue  # (the execution's own ids, and the invocations' times and request ids)
        details = {
            key: value
            for key, value in event.items()
            if key not in {"EventTimestamp", "EventId", "Id", "SubType", "Name", "ParentId"}
        }
        shown = re.sub(r"\b\d{13}\b", "<time>", repr(details))  # (epoch milliseconds)
        events.setdefault(event.get("Id") or event["EventType"], []).append(
            (event.get("Name"), event.get("SubType"), event.get("ParentId"), shown)
        )
    return events


def _summary(run: RunResult) -> tuple[Any, ...]:
    ops = sorted(
        (
            op.id,
            op.type.value,
            op.sub_type,
            op.name,
            op.parent_id,
            op.status.value,
            repr(op.step_details.result if op.step_details else None),
            repr(op.step_details.error if op.step_details else None),
            repr(op.step_details.attempt if op.step_details else None),
            repr(op.context_details),
        )
        for op in run.operations
        if op.type.value != "EXECUTION"  # (its id is the execution's own)
    )
    return run.status, run.result_json, repr(run.error), run.invocations, tuple(ops)


def _items(result: Any) -> list[tuple[Any, ...]]:
    """A batch's items as plain values: status, then the value or the error's type and text."""
    shown: list[tuple[Any, ...]] = []
    for item in result.items:
        if item.status.value == "FAILED":
            error = item.result.failure()
            shown.append((item.status.value, error.error_type, error.message))
        else:
            shown.append((item.status.value, item.value if item.result else None))
    return shown


def _both(
    monkeypatch: pytest.MonkeyPatch, workflow: Any, value: Any = None
) -> tuple[RunResult, RunResult]:
    # (the same seed: the same retry jitter)
    detached = LocalRunner(workflow, world=World(seed=7)).run(value)
    with monkeypatch.context() as patch:
        _fibers_only(patch)
        fibers = LocalRunner(workflow, world=World(seed=7)).run(value)
    return detached, fibers


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The arguments of every ``Machine.start_context`` call (a fiber started for a context)."""
    calls: list[Any] = []
    original = Machine.start_context

    def spy(self: Machine, *args: Any) -> None:
        calls.append(args)
        original(self, *args)

    monkeypatch.setattr(Machine, "start_context", spy)
    return calls


def flaky(x: int, index: int) -> int:
    if step_context().attempt < 2:
        raise TimeoutError(f"flaky {x}")
    return x


def returns_a_generator(x: int, index: int) -> Any:
    return (n for n in range(x))


def unserialisable(x: int, index: int) -> object:
    return object()


SCENARIOS = {
    "all succeed": (double, {}),
    "failures tolerated, one at a time": (
        fail_on_odd,
        {"completion": Completion.all_completed(), "max_concurrency": 1},
    ),
    "fail fast": (fail_on_odd, {"max_concurrency": 1}),
    "retried once by the default policy": (flaky, {"max_concurrency": 1}),
    "a step returning a generator": (returns_a_generator, {"max_concurrency": 1}),
    "an unserialisable result": (unserialisable, {"max_concurrency": 1}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_detached_item_checkpoints_and_ends_exactly_as_its_fiber_would(
    monkeypatch: pytest.MonkeyPatch, scenario: str
):
    fn, options = SCENARIOS[scenario]

    def workflow(items: list[int]) -> Generator[Any, Any, Any]:
        result = yield Map(items, fn, name="items", **options)
        return [result.status, _items(result)]

    detached, fibers = _both(monkeypatch, workflow, [2, 3, 4, 5])
    assert _summary(detached) == _summary(fibers)
    assert _per_operation(detached) == _per_operation(fibers)


def test_a_fresh_plain_map_starts_no_fiber_per_item(
    monkeypatch: pytest.MonkeyPatch, started: list[Any]
):
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map(list(range(50)), double, max_concurrency=10)).values()

    run = LocalRunner(workflow).run()
    assert run.result == [2 * x for x in range(50)]
    assert started == []
    with monkeypatch.context() as patch:
        _fibers_only(patch)
        assert LocalRunner(workflow).run().result == run.result
    assert len(started) == 50


def test_a_step_that_cannot_be_built_fails_its_item_as_in_a_fiber(
    monkeypatch: pytest.MonkeyPatch,
):
    def refuse(self: Any, item: Any, index: int) -> Any:
        raise ValueError(f"cannot build item {index}")

    monkeypatch.setattr(fanout._ItemSteps, "checked", refuse)

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2], double, completion=Completion.all_completed())
        return _items(result)

    detached, fibers = _both(monkeypatch, workflow)
    assert detached.result == [
        ["FAILED", "ValueError", "cannot build item 0"],
        ["FAILED", "ValueError", "cannot build item 1"],
    ]
    assert _summary(detached) == _summary(fibers)


# --- driven by hand ---------------------------------------------------------------------------


def _commands(workflow: Any, *, detach: bool, monkeypatch: pytest.MonkeyPatch) -> Machine:
    if not detach:
        _fibers_only(monkeypatch)
    return Machine(workflow, None, HistoryIndex([]), execution_arn="arn:test")


def _shape(commands: list[Any]) -> list[tuple[Any, ...]]:
    """Commands without owners and ack numbers (which differ between the paths)."""
    shaped: list[tuple[Any, ...]] = []
    for c in commands:
        if isinstance(c, Checkpoint):
            shaped.append(("checkpoint", c.update, c.sync))
        elif isinstance(c, RunStep):
            shaped.append(("run", c.op_id, c.name, c.parent_id, c.attempt, c.args))
        else:
            shaped.append((type(c).__name__,))
    return shaped


def _acks(commands: list[Any]) -> tuple[int, ...]:
    return tuple(c.ack for c in commands if isinstance(c, Checkpoint) and c.ack is not None)


@pytest.mark.parametrize("detach", [True, False])
def test_by_hand_a_failed_attempt_is_retried_by_an_adopted_fiber(
    monkeypatch: pytest.MonkeyPatch, detach: bool
):
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([7], double, name="m")).values()

    m = _commands(workflow, detach=detach, monkeypatch=monkeypatch)
    first = m.run()
    [run] = [c for c in first if isinstance(c, RunStep)]
    branch = operation_id(ROOT1, 0)
    assert (run.op_id, run.parent_id, run.attempt) == (operation_id(branch, 1), branch, 1)
    assert len(m.fibers()) == (1 if detach else 2)  # the root alone: no fiber for the item
    m.handle(StepFinished(run.op_id, None, TimeoutError("slow")))
    [retry] = [c for c in m.run() if isinstance(c, Checkpoint)]
    assert retry.update is not None and retry.update.action.value == "RETRY"
    assert retry.update.error is not None and retry.update.error.error_type == "TimeoutError"
    assert len(m.fibers()) == 2  # detached or not, a fiber now waits for the retry
    assert m.fibers()[1].context.name == "map-item-0"


def test_by_hand_detached_and_fiber_items_issue_the_same_commands(
    monkeypatch: pytest.MonkeyPatch,
):
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([1, 2, 3], double, name="m", max_concurrency=2)).values()

    def drive(detach: bool) -> list[list[tuple[Any, ...]]]:
        """Finish the steps one at a time, acknowledging everything between them."""
        with monkeypatch.context() as patch:
            m = _commands(workflow, detach=detach, monkeypatch=patch)
            rounds: list[list[tuple[Any, ...]]] = []
            runs: list[RunStep] = []
            acks: list[int] = []
            commands = m.run()
            for _ in range(100):  # (bounded: a bug must not hang the suite)
                rounds.append(sorted(_shape(commands), key=repr))
                runs += [c for c in commands if isinstance(c, RunStep)]
                acks += _acks(commands)
                if m.outcome is not None:
                    break
                if acks:
                    m.handle(Acknowledged(tuple(acks)))
                    acks = []
                else:
                    run = runs.pop(0)
                    m.handle(StepFinished(run.op_id, 2 * run.args[0]))
                commands = m.run()
            assert m.outcome == Succeeded("[2,4,6]")
            assert m._detached_parents == {}  # (ended items are not kept for cancellation)
            return rounds

    assert drive(True) == drive(False)


def test_by_hand_cancelled_detached_items_withdraw_and_drop_their_outcomes(
    monkeypatch: pytest.MonkeyPatch,
):
    def workflow() -> Generator[Any, Any, Any]:
        batch = yield Map([1, 2, 3], double, name="m", completion=Completion.first_successful())
        return batch.values()

    m = _commands(workflow, detach=True, monkeypatch=monkeypatch)
    first = m.run()
    runs = [c for c in first if isinstance(c, RunStep)]
    assert len(runs) == 3 and len(m.fibers()) == 1
    owners = {c.owner for c in runs}
    m.handle(StepFinished(runs[0].op_id, 2))
    commands = m.run()  # the first item's step SUCCEED
    m.handle(Acknowledged(_acks(commands)))
    commands = m.run()  # its branch SUCCEED
    m.handle(Acknowledged(_acks(commands)))
    commands = m.run()  # decided: the others are cancelled, the Map's SUCCEED is sent
    withdrawn = {o for c in commands if isinstance(c, Withdraw) for o in c.owners}
    assert withdrawn == owners - {runs[0].owner}
    assert m.running_steps() == []
    # the cancelled items' steps end later: nothing of theirs reaches the wire
    m.handle(StepFinished(runs[1].op_id, 4))
    m.handle(StepFinished(runs[2].op_id, None, ValueError("late")))
    late = m.run()
    assert not any(isinstance(c, Checkpoint) and c.owner in owners for c in late)
    m.handle(Acknowledged(_acks(commands) + _acks(late)))
    m.run()
    assert m.outcome == Succeeded("[2]")


def test_a_retry_policy_on_the_item_is_not_needed_for_a_detached_retry():
    # a Map's items use the default policy: three attempts, then FAIL with the raised type
    def always(x: int, index: int) -> int:
        raise KeyError(x)

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1], always, completion=Completion.all_completed())
        return [item[:2] for item in _items(result)]

    run = LocalRunner(workflow).run()
    assert run.result == [["FAILED", "KeyError"]]
    [step] = [op for op in run.operations_named("always") if op.type.value == "STEP"]
    assert step.step_details is not None
    assert step.step_details.attempt == RetryPolicy.default().max_attempts


def test_a_map_after_a_wait_runs_detached_in_the_invocation_that_replays_the_wait(
    monkeypatch: pytest.MonkeyPatch, started: list[Any]
):
    def workflow() -> Generator[Any, Any, Any]:
        yield Wait(30, name="pause")
        return (yield Map([1, 2, 3], double, name="after", max_concurrency=1)).values()

    detached, fibers = _both(monkeypatch, workflow)
    assert detached.result == [2, 4, 6] and detached.invocations == 2
    assert len(started) == 3  # (those of the fiber path only)
    assert _summary(detached) == _summary(fibers)
    assert _per_operation(detached) == _per_operation(fibers)


def test_a_history_recording_an_items_step_but_not_its_branch_goes_to_the_fiber():
    # a damaged history: branch 0's step is recorded, its context is not. The detached path
    # would START that step again; the fiber replays it, as any branch with history does.
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([5], double, name="m")).values()

    branch = operation_id(ROOT1, 0)
    step = Operation(
        id=operation_id(branch, 1),
        type=OperationType.STEP,
        status=OperationStatus.SUCCEEDED,
        parent_id=branch,
        name="double",
        sub_type="Step",
        step_details=StepDetails(attempt=1, result="10"),
    )
    m = Machine(workflow, None, HistoryIndex([step]), execution_arn="arn:test")
    commands = m.run()
    assert not any(isinstance(c, RunStep) for c in commands)  # replayed, not run again
    updates = [c.update for c in commands if isinstance(c, Checkpoint) and c.update]
    assert [(u.id, u.action.value, u.payload) for u in updates] == [
        (ROOT1, "START", None),
        (branch, "START", None),
        (branch, "SUCCEED", "10"),
    ]


def test_by_hand_a_map_cancelled_from_outside_takes_its_detached_items_with_it(
    branches_op: None,
):
    # a Map in the losing branch of a race, its items' steps still running: once the other
    # branch wins, nothing of the Map's items reaches the wire and the invocation can end
    from orchestra import Step
    from tests.helpers import Branches

    def loser() -> Generator[Any, Any, Any]:
        return (yield Map([1, 2, 3], double, name="inner map"))

    def winner() -> Generator[Any, Any, str]:
        yield Step(double, 1, 0, name="winner-step")
        return "won"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Branches((loser, winner), race=True))

    m = Machine(workflow, None, HistoryIndex([]), execution_arn="arn:test")
    first = m.run()
    runs = {r.name: r for r in first if isinstance(r, RunStep)}
    items = [r for r in first if isinstance(r, RunStep) and r.name == "double"]
    assert len(items) == 3
    m.handle(StepFinished(runs["winner-step"].op_id, 2))
    [succeed] = [c for c in m.run() if isinstance(c, Checkpoint) and c.sync]
    m.handle(Acknowledged((succeed.ack,)))  # type: ignore[arg-type]
    commands = m.run()
    withdrawn = {o for c in commands if isinstance(c, Withdraw) for o in c.owners}
    assert {r.owner for r in items} <= withdrawn  # the items' queued STARTs go too
    assert m.running_steps() == []
    for r in items:  # the items' steps end afterwards: dropped
        m.handle(StepFinished(r.op_id, 2 * r.args[0]))
    late = m.run()
    assert not any(isinstance(c, Checkpoint) for c in late)
    m.handle(Acknowledged(_acks(commands)))
    m.run()
    assert isinstance(m.outcome, Succeeded)


def test_an_at_most_once_item_step_runs_on_a_fiber(
    monkeypatch: pytest.MonkeyPatch, started: list[Any]
):
    # Map items are at-least-once steps today; one that were not must START durably before
    # it runs, which is the fiber's handler's work: the detached path declines it
    from orchestra import Step, StepSemantics

    def at_most_once(self: Any, item: Any, index: int) -> Step[Any]:
        return Step(double, item, index, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)

    monkeypatch.setattr(fanout._ItemSteps, "checked", at_most_once)

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([1, 2], double, name="m")).values()

    run = LocalRunner(workflow).run()
    assert run.result == [2, 4]
    assert len(started) == 2
