"""The emulator's rejections, transitions, timers and history."""

from __future__ import annotations

import pytest

from orchestra import Child, Step, Wait
from orchestra.service.api import ServiceError
from orchestra.service.local.engine import LocalService
from orchestra.service.local.rules import check_batch
from orchestra.testing import LocalRunner
from orchestra.wire.models import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepOptions,
    WaitOptions,
)

A = OperationAction
T = OperationType
S = OperationStatus


def upd(op_id: str, type_: T, action: A, **kw) -> OperationUpdate:
    return OperationUpdate(id=op_id, type=type_, action=action, **kw)


def stored(op_id: str, type_: T, status: S, **kw) -> Operation:
    return Operation(id=op_id, type=type_, status=status, **kw)


REJECTIONS = [
    ([], [upd("e1", T.EXECUTION, A.SUCCEED), upd("e2", T.EXECUTION, A.FAIL)], "multiple EXECUTION"),
    ([], [upd("e", T.EXECUTION, A.SUCCEED), upd("s", T.STEP, A.START)], "must be the last"),
    ([], [upd("w", T.WAIT, A.START, wait_options=WaitOptions(1))] * 2, "same ID"),
    ([], [upd("s", T.STEP, A.SUCCEED), upd("s", T.STEP, A.SUCCEED)], "same ID"),
    ([], [upd("s", T.STEP, A.START, parent_id="nope")], "Invalid parent operation id"),
    (
        [stored("w", T.WAIT, S.STARTED)],
        [upd("s", T.STEP, A.START, parent_id="w")],
        "Invalid parent",
    ),
    ([stored("s", T.STEP, S.READY, name="a")], [upd("s", T.STEP, A.START, name="b")], "name"),
    (
        [stored("s", T.STEP, S.READY)],
        [upd("s", T.WAIT, A.START, wait_options=WaitOptions(1))],
        "type",
    ),
    (
        [stored("s", T.STEP, S.READY, sub_type="Step")],
        [upd("s", T.STEP, A.START, sub_type="X")],
        "subtype",
    ),
    ([], [upd("s", T.STEP, A.FAIL, error=ErrorObject(error_message="x" * 40000))], "32768"),
    ([], [upd("w", T.WAIT, A.SUCCEED)], "Invalid action"),
    ([], [upd("c", T.CALLBACK, A.SUCCEED)], "Invalid action"),
    ([stored("s", T.STEP, S.STARTED)], [upd("s", T.STEP, A.START)], "state to start"),
    ([stored("s", T.STEP, S.PENDING)], [upd("s", T.STEP, A.SUCCEED)], "state to close"),
    ([stored("s", T.STEP, S.SUCCEEDED)], [upd("s", T.STEP, A.FAIL)], "state to close"),
    ([], [upd("s", T.STEP, A.RETRY)], "Invalid StepOptions"),
    ([], [upd("s", T.STEP, A.FAIL, payload="1")], "Payload"),
    ([], [upd("s", T.STEP, A.SUCCEED, error=ErrorObject())], "Error"),
    ([stored("c", T.CONTEXT, S.STARTED)], [upd("c", T.CONTEXT, A.START)], "already exist"),
    ([stored("c", T.CONTEXT, S.SUCCEEDED)], [upd("c", T.CONTEXT, A.FAIL)], "state to close"),
    (
        [stored("w", T.WAIT, S.STARTED)],
        [upd("w", T.WAIT, A.START, wait_options=WaitOptions(1))],
        "already exist",
    ),
    ([], [upd("w", T.WAIT, A.CANCEL)], "Cannot cancel"),
    ([], [upd("i", T.CHAINED_INVOKE, A.START)], "requires ChainedInvokeOptions"),
]


@pytest.mark.parametrize(("ops", "updates", "fragment"), REJECTIONS)
def test_the_emulator_rejects_what_the_service_rejects(ops, updates, fragment):
    with pytest.raises(ServiceError, match=fragment) as info:
        check_batch({op.id: op for op in ops}, updates)
    assert info.value.status == 400 and info.value.code == "InvalidParameterValueException"


ACCEPTED = [
    ([], [upd("s", T.STEP, A.START), upd("s", T.STEP, A.SUCCEED, payload="1")]),
    ([], [upd("s", T.STEP, A.SUCCEED, payload="1")]),
    (
        [stored("s", T.STEP, S.READY)],
        [upd("s", T.STEP, A.START), upd("s", T.STEP, A.RETRY, step_options=StepOptions(1))],
    ),
    ([], [upd("c", T.CONTEXT, A.START), upd("s", T.STEP, A.START, parent_id="c")]),
    (
        [],
        [
            upd("c", T.CONTEXT, A.START),
            upd("c", T.CONTEXT, A.SUCCEED, context_options=ContextOptions(False)),
        ],
    ),
    ([stored("w", T.WAIT, S.STARTED)], [upd("w", T.WAIT, A.CANCEL)]),
    ([], [upd("s", T.STEP, A.START), upd("e", T.EXECUTION, A.SUCCEED, payload="1")]),
]


@pytest.mark.parametrize(("ops", "updates"), ACCEPTED)
def test_the_emulator_accepts_valid_batches(ops, updates):
    check_batch({op.id: op for op in ops}, updates)


def ident(x):
    return x


def test_an_hour_long_wait_takes_no_real_time_but_shows_in_history():
    def workflow():
        yield Wait(3600, name="hour")
        return 1

    run = LocalRunner(workflow).run()
    events = {e.event_type: e for e in run.history}
    gap = events["WaitSucceeded"].event_timestamp - events["WaitStarted"].event_timestamp
    assert gap.total_seconds() >= 3600
    assert events["WaitSucceeded"].details.duration == 3600
    assert run.invocations == 2


def test_retry_timer_makes_the_step_ready_and_reinvokes():
    attempts: list[int] = []

    def flaky():
        from orchestra import step_context

        attempts.append(step_context().attempt)
        if len(attempts) < 3:
            raise RuntimeError("again")
        return "ok"

    def workflow():
        return (yield Step(flaky))

    run = LocalRunner(workflow).run()
    assert run.result == "ok" and attempts == [1, 2, 3]
    failed = [e for e in run.history_dicts() if e["EventType"] == "StepFailed"]
    assert [e["StepFailedDetails"]["RetryDetails"]["CurrentAttempt"] for e in failed] == [1, 2]
    assert run.operation("flaky").step_details.attempt == 3


def test_children_of_a_completed_context_are_not_handed_back():
    def inner():
        yield Step(ident, 1, name="inner step")
        return 2

    def workflow():
        value = yield Child(inner, name="ctx")
        yield Wait(1)
        return value

    service = LocalService()
    seen: list[int] = []
    runner = LocalRunner(workflow, service=service)
    original = runner.handler

    def spy(event, context):
        seen.append(len(event["InitialExecutionState"]["Operations"]))
        return original(event, context)

    runner.handler = spy
    run = runner.run()
    assert run.result == 2
    # second invocation: EXECUTION, ctx and the wait; the inner step stays hidden
    assert seen == [1, 3]


def test_pending_with_nothing_pending_fails_the_execution_after_retries():
    service = LocalService()
    arn = service.start_execution("fn", "null")
    status = service.run(arn, lambda event, ctx: {"Status": "PENDING"})
    assert status.value == "FAILED"
    assert "no pending operations" in service.execution(arn).error.error_message


def test_checkpoint_tokens_are_random_and_long():
    service = LocalService()
    arn = service.start_execution("fn", "null")
    tokens = set()
    for _ in range(50):
        service._invoke(
            arn,
            lambda e, c: tokens.add(e["CheckpointToken"]) or {"Status": "FAILED"},
        )
        service.execution(arn).status = service.execution(arn).status.RUNNING
    assert len(tokens) == 50 and all(len(t) >= 40 for t in tokens)
