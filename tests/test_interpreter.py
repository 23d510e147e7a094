"""The pure interpreter, driven by hand: commands out, events in, no threads."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs
from returns.result import Failure, Success

from orchestra import (
    Child,
    RetryPolicy,
    Step,
    StepError,
    StepSemantics,
    Wait,
)
from orchestra.interpreter.commands import Checkpoint, Failed, RunStep, Succeeded, Suspended
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.machine import Machine
from orchestra.wire.models import (
    ContextDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    StepDetails,
)

ID1 = operation_id(None, 1)
ID2 = operation_id(None, 2)


def step_op(op_id: str, status: OperationStatus, **details: Any) -> Operation:
    return Operation(
        id=op_id,
        type=OperationType.STEP,
        status=status,
        sub_type="Step",
        name=details.pop("name", None),
        step_details=StepDetails(**details),
    )


def double(x: int) -> int:
    return 2 * x


def two_steps(x):
    a = yield Step(double, x)
    b = yield Step(double, a)
    return b


def machine(workflow, value=None, ops=(), **kw) -> Machine:
    return Machine(workflow, value, HistoryIndex(ops), execution_arn="arn:test", **kw)


def drive(m: Machine, steps: dict[str, Any] | None = None) -> list[Any]:
    """Run ``m`` to its outcome, executing steps inline and acknowledging every checkpoint."""
    sent: list[Any] = []
    for _ in range(1000):
        commands = m.run()
        sent.extend(commands)
        if m.outcome is not None:
            return sent
        acks = [c.ack for c in commands if isinstance(c, Checkpoint) and c.ack is not None]
        for c in commands:
            if isinstance(c, RunStep):
                try:
                    m.step_finished(c.op_id, c.fn(*c.args, **c.kwargs), None)
                except Exception as exc:
                    m.step_finished(c.op_id, None, exc)
        if acks:
            m.acknowledged(acks, [])
    raise AssertionError("machine did not settle")


def test_first_run_checkpoints_start_and_succeed_for_each_step():
    m = machine(two_steps, 3)
    sent = drive(m)
    actions = [(c.update.id, c.update.action) for c in sent if isinstance(c, Checkpoint)]
    assert actions == [
        (ID1, OperationAction.START),
        (ID1, OperationAction.SUCCEED),
        (ID2, OperationAction.START),
        (ID2, OperationAction.SUCCEED),
    ]
    assert m.outcome == Succeeded("12")


def test_at_least_once_start_is_async_and_succeed_is_sync():
    m = machine(two_steps, 3)
    first = m.run()
    assert [type(c) for c in first] == [Checkpoint, RunStep]
    assert first[0].sync is False
    m.step_finished(ID1, 6, None)
    succeed = m.run()
    assert succeed[0].sync is True
    assert not m.running_steps()
    assert m.awaiting_acks


def test_value_is_delivered_only_after_its_checkpoint_is_acknowledged():
    m = machine(two_steps, 3)
    m.run()
    m.step_finished(ID1, 6, None)
    m.run()
    assert m.run() == []  # nothing new until the SUCCEED is durable
    m.acknowledged([1], [])
    assert [type(c) for c in m.run()] == [Checkpoint, RunStep]


def test_replay_returns_checkpointed_values_without_running_steps():
    history = [
        step_op(ID1, OperationStatus.SUCCEEDED, attempt=1, result="6", name="double"),
        step_op(ID2, OperationStatus.SUCCEEDED, attempt=1, result="12", name="double"),
    ]
    m = machine(two_steps, 3, history)
    assert m.run() == []
    assert m.outcome == Succeeded("12")


def test_replayed_failure_is_rethrown_as_the_same_step_error():
    from orchestra.errors import error_object

    seen: list[StepError] = []

    def workflow():
        try:
            yield Step(double, 1, retry=RetryPolicy.none())
        except StepError as exc:
            seen.append(exc)
        return "ok"

    err = error_object(ValueError("boom"))
    m = machine(
        workflow, ops=[step_op(ID1, OperationStatus.FAILED, attempt=1, error=err, name="double")]
    )
    drive(m)
    assert m.outcome == Succeeded('"ok"')
    assert seen[0].error_type == "ValueError" and seen[0].message == "boom"
    assert seen[0].is_caused_by(ValueError)


def test_changed_step_name_is_reported_as_non_determinism_with_position():
    history = [step_op(ID1, OperationStatus.SUCCEEDED, attempt=1, result="6", name="triple")]
    m = machine(two_steps, 3, history)
    m.run()
    assert isinstance(m.outcome, Failed)
    assert m.outcome.error.error_type == "NonDeterministicExecutionError"
    message = m.outcome.error.error_message
    assert "operation #1 of the workflow" in message
    assert "named triple" in message and "named double" in message


def test_operation_type_changed_at_an_id_fails_the_execution():
    wait = Operation(
        id=ID1, type=OperationType.WAIT, status=OperationStatus.SUCCEEDED, sub_type="Wait"
    )
    m = machine(two_steps, 3, [wait])
    m.run()
    assert isinstance(m.outcome, Failed)
    assert "a WAIT (Wait)" in m.outcome.error.error_message


def test_retry_checkpoints_retry_with_the_policy_delay_and_suspends():
    def flaky():
        raise RuntimeError("down")

    def workflow():
        return (yield Step(flaky, retry=RetryPolicy.fixed(__import__("orchestra").Duration(7))))

    m = machine(workflow)
    sent = drive(m)
    retry = [c.update for c in sent if isinstance(c, Checkpoint)][-1]
    assert retry.action is OperationAction.RETRY
    assert retry.step_options.next_attempt_delay_seconds == 7
    assert retry.error.error_type == "RuntimeError"
    assert m.outcome == Suspended()


def test_retry_exhaustion_fails_the_step_with_fail_update():
    def flaky():
        raise RuntimeError("down")

    def workflow():
        return (yield Step(flaky, retry=RetryPolicy.fixed(max_attempts=2)))

    history = [step_op(ID1, OperationStatus.READY, attempt=1, name="flaky")]
    m = machine(workflow, ops=history)
    sent = drive(m)
    assert [c.update.action for c in sent if isinstance(c, Checkpoint)] == [
        OperationAction.START,
        OperationAction.FAIL,
    ]
    assert isinstance(m.outcome, Failed) and m.outcome.error.error_type == "StepError"


def test_at_most_once_start_is_synchronous_and_precedes_the_run():
    def workflow():
        return (yield Step(double, 2, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY))

    m = machine(workflow)
    first = m.run()
    assert len(first) == 1 and first[0].sync and first[0].update.action is OperationAction.START
    m.acknowledged([first[0].ack], [])
    assert isinstance(m.run()[0], RunStep)


def test_interrupted_at_most_once_attempt_is_not_rerun():
    calls: list[int] = []

    def effect() -> int:
        calls.append(1)
        return 1

    def workflow():
        return (
            yield Step(
                effect, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry=RetryPolicy.none()
            )
        )

    m = machine(workflow, ops=[step_op(ID1, OperationStatus.STARTED, name="effect")])
    sent = drive(m)
    assert calls == []
    fail = [c.update for c in sent if isinstance(c, Checkpoint)]
    assert [u.action for u in fail] == [OperationAction.FAIL]
    assert fail[0].error.error_type == "StepInterruptedError"


def test_interrupted_at_least_once_attempt_reruns_without_a_new_start():
    m = machine(two_steps, 3, [step_op(ID1, OperationStatus.STARTED, name="double")])
    first = m.run()
    assert [type(c) for c in first] == [RunStep]
    assert first[0].attempt == 1


def test_wait_start_is_sync_then_the_execution_suspends():
    def workflow():
        yield Wait(60, name="nap")
        return 1

    m = machine(workflow)
    sent = drive(m)
    assert sent[0].update.wait_options.wait_seconds == 60 and sent[0].sync
    assert m.outcome == Suspended()


def test_child_context_ids_and_parent_ids():
    def inner(x):
        return (yield Step(double, x))

    def workflow(x):
        return (yield Child(inner, x, name="outer"))

    m = machine(workflow, 5)
    sent = drive(m)
    updates = [c.update for c in sent if isinstance(c, Checkpoint)]
    child_step = operation_id(ID1, 1)
    assert [(u.id, u.type, u.action, u.parent_id) for u in updates] == [
        (ID1, OperationType.CONTEXT, OperationAction.START, None),
        (child_step, OperationType.STEP, OperationAction.START, ID1),
        (child_step, OperationType.STEP, OperationAction.SUCCEED, ID1),
        (ID1, OperationType.CONTEXT, OperationAction.SUCCEED, None),
    ]
    assert updates[-1].payload == "10"
    assert m.outcome == Succeeded("10")


def test_succeeded_child_is_not_rerun_on_replay():
    def inner():
        raise AssertionError("must not run")
        yield  # pragma: no cover

    def workflow():
        return (yield Child(inner, name="c"))

    done = Operation(
        id=ID1,
        type=OperationType.CONTEXT,
        status=OperationStatus.SUCCEEDED,
        sub_type="RunInChildContext",
        name="c",
        context_details=ContextDetails(result='"cached"'),
    )
    m = machine(workflow, ops=[done])
    assert m.run() == [] and m.outcome == Succeeded('"cached"')


def test_large_child_result_uses_replay_children_and_an_empty_payload():
    def inner():
        return "x" * 300_000
        yield  # pragma: no cover

    def workflow():
        value = yield Child(inner, name="big")
        return len(value)

    m = machine(workflow)
    sent = drive(m)
    succeed = [c.update for c in sent if isinstance(c, Checkpoint)][-1]
    assert succeed.payload == "" and succeed.context_options.replay_children is True
    assert m.outcome == Succeeded("300000")


def test_virtual_child_checkpoints_no_context_and_reports_the_outer_parent():
    def inner():
        return (yield Step(double, 1))

    def workflow():
        return (yield Child(inner, virtual=True))

    m = machine(workflow)
    updates = [c.update for c in drive(m) if isinstance(c, Checkpoint)]
    assert {u.type for u in updates} == {OperationType.STEP}
    assert all(u.parent_id is None for u in updates)
    assert updates[0].id == operation_id(ID1, 1)


def test_attempt_gives_a_result_instead_of_raising():
    def boom():
        raise KeyError("k")

    def workflow():
        ok = yield Step(double, 2).attempt()
        bad = yield Step(boom, retry=RetryPolicy.none()).attempt()
        return [isinstance(ok, Success), ok.unwrap(), isinstance(bad, Failure)]

    m = machine(workflow)
    drive(m)
    assert m.outcome == Succeeded("[true,4,true]")


@attrs.frozen
class Order:
    id: str
    total: int


def make_order() -> Order:
    return Order("a", 3)


def test_step_results_are_structured_into_the_return_annotation():
    seen: list[Any] = []

    def workflow():
        order = yield Step(make_order)
        seen.append(order)
        return order.total

    drive(machine(workflow))
    replayed = machine(
        workflow,
        ops=[
            step_op(
                ID1,
                OperationStatus.SUCCEEDED,
                attempt=1,
                result='{"id":"a","total":3}',
                name="make_order",
            )
        ],
    )
    drive(replayed)
    assert seen == [Order("a", 3), Order("a", 3)]


def test_first_run_value_is_round_tripped_through_the_serde():
    seen: list[Any] = []

    def make_tuple():
        return (1, 2)

    def workflow():
        seen.append((yield Step(make_tuple)))

    drive(machine(workflow))
    assert seen == [[1, 2]]  # what a replay of the JSON payload would give


def test_replay_of_a_long_history_is_one_lookup_per_operation():
    def workflow():
        total = 0
        for _ in range(2000):
            total += yield Step(double, 1)
        return total

    ops = [
        step_op(
            operation_id(None, n), OperationStatus.SUCCEEDED, attempt=1, result="2", name="double"
        )
        for n in range(1, 2001)
    ]

    class CountingIndex(HistoryIndex):
        lookups = 0

        def get(self, op_id):
            CountingIndex.lookups += 1
            return super().get(op_id)

    m = Machine(workflow, None, CountingIndex(ops), execution_arn="arn")
    m.run()
    assert m.outcome == Succeeded("4000")
    assert CountingIndex.lookups <= 2 * 2000 + 2


def make_orders():
    order = yield Step(make_order)
    return order


def typed_child() -> Generator[Any, Any, Order]:
    order = yield Step(make_order)
    return order


def test_child_results_are_structured_into_the_return_annotation():
    seen: list[Any] = []

    def workflow():
        seen.append((yield Child(make_order)))  # a plain function annotated -> Order
        seen.append((yield Child(typed_child)))  # a generator annotated Generator[..., Order]
        seen.append((yield Child(make_orders)))  # unannotated: plain JSON

    drive(machine(workflow))
    assert seen == [Order("a", 3), Order("a", 3), {"id": "a", "total": 3}]


def test_a_result_that_does_not_fit_its_annotation_fails_before_it_is_checkpointed():
    def wrong() -> int:
        return "abc"  # type: ignore[return-value]

    def workflow():
        yield Step(wrong)

    m = machine(workflow)
    sent = drive(m)
    assert [c.update.action for c in sent if isinstance(c, Checkpoint)] == [OperationAction.START]
    assert isinstance(m.outcome, Failed) and m.outcome.error.error_type == "SerializationError"


def test_yield_from_gives_the_same_value_as_yield():
    def workflow():
        order = yield from Step(make_order)
        doubled = yield from Step(double, order.total)
        return doubled

    m = machine(workflow)
    drive(m)
    assert m.outcome == Succeeded("6")


def test_a_removed_operation_is_reported_not_re_executed():
    history = [
        # position 1 missing, position 2 recorded: the code or the history changed
        step_op(ID2, OperationStatus.SUCCEEDED, attempt=1, result="12", name="double"),
    ]
    m = machine(two_steps, 3, history)
    commands = m.run()
    assert not [c for c in commands if isinstance(c, RunStep)]
    assert isinstance(m.outcome, Failed)
    assert "records the next one" in m.outcome.error.error_message


def test_a_workflow_that_stops_before_its_history_ends_is_reported():
    history = [
        step_op(ID1, OperationStatus.SUCCEEDED, attempt=1, result="6", name="double"),
        step_op(ID2, OperationStatus.SUCCEEDED, attempt=1, result="12", name="double"),
        step_op(operation_id(None, 3), OperationStatus.SUCCEEDED, attempt=1, result="1", name="x"),
    ]
    m = machine(two_steps, 3, history)
    m.run()
    assert isinstance(m.outcome, Failed)
    assert "finished after 2 operations" in m.outcome.error.error_message
    assert "named x" in m.outcome.error.error_message


def test_the_observer_sees_every_yield_with_its_position():
    seen: list[tuple[str, str, int]] = []
    m = Machine(
        two_steps,
        3,
        HistoryIndex(),
        execution_arn="arn",
        observer=lambda op_id, op, path, n: seen.append((op_id, op.op_name, n)),
    )
    drive(m)
    assert seen == [(ID1, "double", 1), (ID2, "double", 2)]
