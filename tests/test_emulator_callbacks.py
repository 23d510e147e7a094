"""The emulator's callbacks at the wire level: ids, answers, timeouts, heartbeats, scripts."""

from __future__ import annotations

import re
import time

import pytest

from orchestra.service.api import ServiceError
from orchestra.service.local import CallbackAction, LocalService
from orchestra.service.local.callbacks import MAX_RESULT_BYTES
from orchestra.wire.models import (
    CallbackOptions,
    ErrorObject,
    OperationAction,
    OperationType,
    OperationUpdate,
)

ID_PATTERN = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def start(name: str | None = "approval", op_id: str = "cb", **options) -> OperationUpdate:
    return OperationUpdate(
        id=op_id,
        type=OperationType.CALLBACK,
        action=OperationAction.START,
        name=name,
        sub_type="Callback",
        callback_options=CallbackOptions(**options) if options else None,
    )


def waiting_handler(service: LocalService, *updates: OperationUpdate):
    """Starts ``updates`` once, then waits until every callback ended; returns their outcome."""

    def handler(event, context):
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        missing = [u for u in updates if u.id not in ops]
        if missing:
            service.checkpoint(event["DurableExecutionArn"], event["CheckpointToken"], missing)
            return {"Status": "PENDING"}
        callbacks = [ops[u.id] for u in updates]
        if any(op["Status"] == "STARTED" for op in callbacks):
            return {"Status": "PENDING"}
        first = callbacks[0]
        if first["Status"] == "SUCCEEDED":
            return {"Status": "SUCCEEDED", "Result": first["CallbackDetails"].get("Result")}
        return {"Status": "FAILED", "Error": first["CallbackDetails"].get("Error", {})}

    return handler


def started(service: LocalService, *updates: OperationUpdate, script=()):
    """An execution whose first invocation started ``updates`` (default: one callback)."""
    updates = updates or (start(),)
    arn = service.start_execution("fn", "null")
    service.script_callbacks(arn, script)
    handler = waiting_handler(service, *updates)
    status = service.run(arn, handler)
    return arn, handler, status


def callback_id(service: LocalService, arn: str, op_id: str = "cb") -> str:
    return service.execution(arn).operations[op_id].callback_details.callback_id


def event_types(service: LocalService, arn: str) -> list[str]:
    return [e["EventType"] for e in service.history_dicts(arn)]


def details(service: LocalService, arn: str, kind: str) -> dict:
    return next(e[f"{kind}Details"] for e in service.history_dicts(arn) if e["EventType"] == kind)


# --- START -----------------------------------------------------------------------------------


def test_start_mints_an_unguessable_id_returned_in_the_checkpoint_answer():
    service = LocalService()
    ids = set()
    for _ in range(20):
        arn = service.start_execution("fn", None)
        event = service.invocation_event(arn)
        answer = service.checkpoint(arn, event["CheckpointToken"], [start()])
        (op,) = answer.new_execution_state.operations
        assert op.status.value == "STARTED"
        ids.add(op.callback_details.callback_id)
    assert len(ids) == 20
    assert all(ID_PATTERN.fullmatch(i) and 40 <= len(i) <= 1024 for i in ids)


def test_callback_started_details_carry_the_id_and_only_the_timeouts_set():
    service = LocalService()
    arn, _, _ = started(service, start(timeout_seconds=600, heartbeat_timeout_seconds=0))
    assert details(service, arn, "CallbackStarted") == {
        "CallbackId": callback_id(service, arn),
        "Timeout": 600,
    }
    plain, _, _ = started(service, start())
    assert details(service, plain, "CallbackStarted") == {"CallbackId": callback_id(service, plain)}


def test_without_timeout_or_outside_action_the_run_returns_still_running():
    service = LocalService()
    arn, handler, status = started(service)
    assert status.value == "RUNNING"
    assert service.execution(arn).invocations == 1
    # running again changes nothing: no extra invocation while nothing happened
    assert service.run(arn, handler).value == "RUNNING"
    assert service.execution(arn).invocations == 1


# --- outside answers ---------------------------------------------------------------------------


def test_success_stores_the_body_as_text_and_the_next_run_continues():
    service = LocalService()
    arn, handler, _ = started(service)
    service.send_callback_success(callback_id(service, arn), b'{"ok": true}')
    op = service.execution(arn).operations["cb"]
    assert (op.status.value, op.callback_details.result) == ("SUCCEEDED", '{"ok": true}')
    assert op.end_timestamp is not None
    assert service.run(arn, handler).value == "SUCCEEDED"
    assert service.execution(arn).result == '{"ok": true}'
    assert event_types(service, arn) == [
        "ExecutionStarted",
        "CallbackStarted",
        "InvocationCompleted",
        "CallbackSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    assert details(service, arn, "CallbackSucceeded") == {
        "Result": {"Truncated": False, "Payload": '{"ok": true}'}
    }
    event = next(e for e in service.history_dicts(arn) if e["EventType"] == "CallbackSucceeded")
    assert (event["Id"], event["Name"], event["SubType"]) == ("cb", "approval", "Callback")


@pytest.mark.parametrize(("body", "stored"), [("text é", "text é"), (None, None), (b"", "")])
def test_success_bodies_as_str_none_or_empty(body, stored):
    service = LocalService()
    arn, _, _ = started(service)
    service.send_callback_success(callback_id(service, arn), body)
    assert service.execution(arn).operations["cb"].callback_details.result == stored


def test_failure_stores_the_error_and_fails_the_waiting_handler():
    service = LocalService()
    arn, handler, _ = started(service)
    error = ErrorObject(error_message="not approved", error_type="RejectedError", error_data="7")
    service.send_callback_failure(callback_id(service, arn), error)
    op = service.execution(arn).operations["cb"]
    assert (op.status.value, op.callback_details.error) == ("FAILED", error)
    assert service.run(arn, handler).value == "FAILED"
    assert details(service, arn, "CallbackFailed") == {
        "Error": {
            "Payload": {
                "ErrorMessage": "not approved",
                "ErrorType": "RejectedError",
                "ErrorData": "7",
            },
            "Truncated": False,
        }
    }


def test_an_answer_during_the_invocation_is_seen_at_once_and_reinvokes_without_waiting():
    service = LocalService()
    arn = service.start_execution("fn", None)
    inner = waiting_handler(service, start(timeout_seconds=3600))
    calls = []

    def handler(event, context):
        calls.append(event)
        output = inner(event, context)
        if len(calls) == 1:  # the outside answers before the invocation has ended
            service.send_callback_success(callback_id(service, arn), "1")
        return output

    before = service.clock.now()
    assert service.run(arn, handler).value == "SUCCEEDED"
    assert (service.clock.now() - before).total_seconds() < 60
    assert len(calls) == 2


# --- timeouts and heartbeats -------------------------------------------------------------------


def test_the_timeout_fires_on_the_virtual_clock():
    service = LocalService()
    wall = time.monotonic()
    arn, _, status = started(service, start(timeout_seconds=86_400))
    assert status.value == "FAILED"
    assert time.monotonic() - wall < 5
    op = service.execution(arn).operations["cb"]
    assert op.status.value == "TIMED_OUT"
    assert op.callback_details.error == ErrorObject(
        error_message="Callback timed out", error_type="Callback.Timeout"
    )
    assert (op.end_timestamp - op.start_timestamp).total_seconds() >= 86_400
    assert details(service, arn, "CallbackTimedOut") == {
        "Error": {
            "Payload": {"ErrorMessage": "Callback timed out", "ErrorType": "Callback.Timeout"},
            "Truncated": False,
        }
    }
    assert event_types(service, arn)[1:5] == [
        "CallbackStarted",
        "InvocationCompleted",
        "CallbackTimedOut",
        "InvocationCompleted",
    ]


def test_the_heartbeat_timeout_fires_without_heartbeats():
    service = LocalService()
    arn, _, _ = started(service, start(heartbeat_timeout_seconds=5))
    op = service.execution(arn).operations["cb"]
    assert op.status.value == "TIMED_OUT"
    assert op.callback_details.error == ErrorObject(
        error_message="Callback timed out on heartbeat", error_type="Callback.Heartbeat"
    )
    assert round((op.end_timestamp - op.start_timestamp).total_seconds()) == 5


def test_heartbeats_keep_the_callback_alive_until_the_success():
    service = LocalService()
    script = [
        CallbackAction("approval", "heartbeat", delay_seconds=8),
        CallbackAction("approval", "heartbeat", delay_seconds=8),
        CallbackAction("approval", "success", result='"done"', delay_seconds=8),
    ]
    arn, _, status = started(service, start(heartbeat_timeout_seconds=10), script=script)
    assert status.value == "SUCCEEDED"
    op = service.execution(arn).operations["cb"]
    assert round((op.end_timestamp - op.start_timestamp).total_seconds()) == 24
    assert service.execution(arn).invocations == 2  # heartbeats wake nobody


def test_heartbeats_do_not_extend_the_overall_timeout():
    service = LocalService()
    script = [CallbackAction("*", "heartbeat", delay_seconds=8) for _ in range(5)]
    arn, _, _ = started(
        service, start(timeout_seconds=20, heartbeat_timeout_seconds=10), script=script
    )
    op = service.execution(arn).operations["cb"]
    assert op.callback_details.error.error_type == "Callback.Timeout"
    assert round((op.end_timestamp - op.start_timestamp).total_seconds()) == 20


def test_a_manual_heartbeat_restarts_the_heartbeat_timer():
    service = LocalService()
    arn = service.start_execution("fn", None)
    event = service.invocation_event(arn)
    service.checkpoint(arn, event["CheckpointToken"], [start(heartbeat_timeout_seconds=10)])
    ex = service.execution(arn)
    first = ex.next_due()
    service.clock.advance_to(first.replace(microsecond=0))
    service.send_callback_heartbeat(callback_id(service, arn))
    assert max(item[0] for item in ex.agenda) > first


# --- scripted outside actions ------------------------------------------------------------------


def test_actions_are_matched_by_name_and_used_once():
    service = LocalService()
    script = [
        CallbackAction("b", "success", result='"B"', delay_seconds=4),
        CallbackAction("a", "success", result='"A"', delay_seconds=1),
    ]
    arn, _, status = started(service, start("a", "cb"), start("b", "cb2"), script=script)
    assert status.value == "SUCCEEDED"
    ops = service.execution(arn).operations
    assert (ops["cb"].callback_details.result, ops["cb2"].callback_details.result) == (
        '"A"',
        '"B"',
    )
    # A's answer came first and woke the handler once more while B was still open
    assert event_types(service, arn)[1:] == [
        "CallbackStarted",
        "CallbackStarted",
        "InvocationCompleted",
        "CallbackSucceeded",
        "InvocationCompleted",
        "CallbackSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]


def test_wildcard_and_pattern_actions_and_unmatched_callbacks_stay_open():
    service = LocalService()
    script = [
        CallbackAction(re.compile("order-.*"), "failure", error=ErrorObject(error_message="x")),
        CallbackAction("*", "success"),
    ]
    arn, _, status = started(
        service,
        start("order-1", "cb"),
        start(None, "cb2"),
        start("left open", "cb3"),
        script=script,
    )
    ops = service.execution(arn).operations
    assert ops["cb"].status.value == "FAILED"
    assert ops["cb2"].status.value == "SUCCEEDED"
    assert ops["cb3"].status.value == "STARTED"
    assert status.value == "RUNNING"


def test_an_action_after_the_callback_timed_out_is_dropped():
    service = LocalService()
    script = [CallbackAction("*", "success", delay_seconds=30)]
    arn, _, _ = started(service, start(timeout_seconds=10), script=script)
    assert service.execution(arn).operations["cb"].status.value == "TIMED_OUT"


def test_callback_actions_validate_their_fields():
    with pytest.raises(ValueError, match="kind"):
        CallbackAction("*", "succeed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delay_seconds"):
        CallbackAction("*", "success", delay_seconds=-1)


# --- bad input ---------------------------------------------------------------------------------


def test_a_result_over_256_kib_is_rejected_and_one_at_the_limit_accepted():
    service = LocalService()
    arn, _, _ = started(service)
    cid = callback_id(service, arn)
    for too_big in (b"x" * (MAX_RESULT_BYTES + 1), "é" * (MAX_RESULT_BYTES // 2 + 1)):
        with pytest.raises(ServiceError) as info:
            service.send_callback_success(cid, too_big)
        assert (info.value.code, info.value.status) == ("InvalidParameterValueException", 400)
        assert "262144 bytes" in info.value.message
    assert service.execution(arn).operations["cb"].status.value == "STARTED"
    service.send_callback_success(cid, b"x" * MAX_RESULT_BYTES)
    assert service.execution(arn).operations["cb"].status.value == "SUCCEEDED"


def test_a_result_that_is_not_utf8_is_rejected():
    service = LocalService()
    arn, _, _ = started(service)
    with pytest.raises(ServiceError, match="UTF-8"):
        service.send_callback_success(callback_id(service, arn), b"\xff\xfe")


SENDERS = {
    "success": lambda s, cid: s.send_callback_success(cid, "1"),
    "failure": lambda s, cid: s.send_callback_failure(cid, ErrorObject(error_message="no")),
    "heartbeat": lambda s, cid: s.send_callback_heartbeat(cid),
}


@pytest.mark.parametrize("kind", SENDERS)
def test_an_unknown_callback_id_is_not_found(kind):
    service = LocalService()
    started(service)
    with pytest.raises(ServiceError) as info:
        SENDERS[kind](service, "AAAAbm90IGEgY2FsbGJhY2s=")
    assert (info.value.code, info.value.status) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize("kind", SENDERS)
@pytest.mark.parametrize("bad", ["", "has spaces", "a" * 1025, "tail==="])
def test_a_malformed_callback_id_is_invalid(kind, bad):
    with pytest.raises(ServiceError) as info:
        SENDERS[kind](LocalService(), bad)
    assert (info.value.code, info.value.status) == ("InvalidParameterValueException", 400)


@pytest.mark.parametrize("kind", SENDERS)
@pytest.mark.parametrize("ending", ["succeeded", "failed", "timed out", "execution ended"])
def test_a_closed_callback_answers_callback_timeout_exception_and_never_completes_twice(
    kind, ending
):
    service = LocalService()
    options = {"timeout_seconds": 5} if ending == "timed out" else {}
    arn, _, _ = started(service, start(**options))
    cid = callback_id(service, arn)
    if ending == "succeeded":
        service.send_callback_success(cid, "1")
    elif ending == "failed":
        service.send_callback_failure(cid)
    elif ending == "execution ended":
        service.stop_execution(arn, ErrorObject(error_message="stopped"))
    before = service.execution(arn).operations["cb"]
    events = len(service.history(arn))
    with pytest.raises(ServiceError) as info:
        SENDERS[kind](service, cid)
    assert (info.value.code, info.value.status) == ("CallbackTimeoutException", 400)
    assert service.execution(arn).operations["cb"] == before
    assert len(service.history(arn)) == events


@pytest.mark.parametrize(
    "options",
    [
        {"timeout_seconds": -1},
        {"heartbeat_timeout_seconds": -5},
        {"timeout_seconds": 10, "heartbeat_timeout_seconds": -1},
    ],
)
def test_negative_callback_timeouts_are_rejected_at_start(options):
    service = LocalService()
    arn = service.start_execution("fn", None)
    event = service.invocation_event(arn)
    with pytest.raises(ServiceError) as info:
        service.checkpoint(arn, event["CheckpointToken"], [start(**options)])
    assert info.value.code == "InvalidParameterValueException"
    assert info.value.message == "Invalid CallbackOptions for the given action."
    assert "cb" not in service.execution(arn).operations


def test_absurdly_long_timeouts_are_accepted_and_never_fire():
    service = LocalService()
    arn, _, status = started(
        service, start(timeout_seconds=10**15, heartbeat_timeout_seconds=10**12)
    )
    assert status.value == "RUNNING"
    assert service.execution(arn).operations["cb"].status.value == "STARTED"


def test_a_heartbeat_timeout_longer_than_the_timeout_is_accepted_the_timeout_fires_first():
    service = LocalService()
    arn, _, _ = started(service, start(timeout_seconds=10, heartbeat_timeout_seconds=60))
    op = service.execution(arn).operations["cb"]
    assert op.callback_details.error.error_type == "Callback.Timeout"
    assert round((op.end_timestamp - op.start_timestamp).total_seconds()) == 10


# --- the runner's helpers (with the SDK's WaitForCallback) -------------------------------------


def test_runner_helpers_answer_callbacks_by_name_and_resume():
    from orchestra import WaitForCallback
    from orchestra.testing import LocalRunner

    def hand_over(callback_id: str) -> None:
        pass

    def workflow():
        try:
            return (yield WaitForCallback(hand_over, name="approval"))
        except Exception as exc:
            return f"failed: {exc}"

    runner = LocalRunner(workflow)
    run = runner.run()
    (pending,) = run.pending_callbacks()
    assert run.status == "RUNNING" and pending.callback_id == run.callback_id(pending.name)
    runner.heartbeat_callback(run, pending.name)
    runner.fail_callback(run, pending.callback_id, ErrorObject(error_message="no"))
    with pytest.raises(ServiceError, match="CallbackTimeoutException"):
        runner.succeed_callback(run, pending.name, "late")
    done = runner.resume(run)
    assert done.status == "SUCCEEDED" and "no" in done.result
    assert done.pending_callbacks() == []
