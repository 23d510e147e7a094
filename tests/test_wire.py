"""Wire shapes: every update orchestra can emit passes botocore's own validator."""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.validate import ParamValidator

from orchestra import Child, Duration, RetryPolicy, Step, StepSemantics, Wait
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import (
    Event,
    InvocationInput,
    Operation,
    OperationStatus,
    OperationType,
)
from tests.conftest import RecordingService
from tests.helpers import run_on

MODEL = botocore.session.get_session().get_service_model("lambda")


def validate(operation: str, params: dict) -> None:
    report = ParamValidator().validate(params, MODEL.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def fails() -> None:
    raise ValueError("no")


def ok() -> str:
    return "fine"


def sub():
    yield Step(ok)
    raise KeyError("child")


def big_sub():
    return "z" * 300_000
    yield  # pragma: no cover


def every_update_kind():
    yield Step(ok, name="quick")
    yield Step(ok, semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    try:
        yield Step(fails, retry=RetryPolicy.fixed(Duration(1), max_attempts=2))
    except Exception:
        pass
    yield Wait(Duration.seconds(1), name="pause")
    try:
        yield Child(sub, name="failing child")
    except Exception:
        pass
    yield Child(big_sub, name="big child")
    return "y" * (6 * 1024 * 1024 - 30)


def test_every_update_the_code_emits_is_valid_for_botocore():
    recording = RecordingService()
    ex = run_on(every_update_kind, recording, recording.inner)
    assert ex.status.value == "SUCCEEDED"
    kinds = {(u.type.value, u.action.value) for u in recording.updates}
    assert kinds == {
        ("STEP", "START"),
        ("STEP", "SUCCEED"),
        ("STEP", "RETRY"),
        ("STEP", "FAIL"),
        ("WAIT", "START"),
        ("CONTEXT", "START"),
        ("CONTEXT", "SUCCEED"),
        ("CONTEXT", "FAIL"),
        ("EXECUTION", "SUCCEED"),
    }
    for call in recording.calls:
        validate(
            "CheckpointDurableExecution",
            {
                "DurableExecutionArn": ex.arn,
                "CheckpointToken": "dG9rZW4=",
                "Updates": to_wire(call),
            },
        )


def test_a_bad_update_shape_is_caught_by_the_validator():
    with pytest.raises(AssertionError, match="Updates"):
        validate(
            "CheckpointDurableExecution",
            {
                "DurableExecutionArn": "arn",
                "CheckpointToken": "t",
                "Updates": [{"Id": "x", "Type": "STEP", "Action": "START", "Bogus": 1}],
            },
        )


def test_invocation_event_round_trips_with_epoch_milliseconds_and_unknown_keys():
    event = {
        "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/abc",
        "CheckpointToken": "AAAA==",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "abc",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1767225600000,
                    "ExecutionDetails": {"InputPayload": '{"a":1}'},
                    "SomethingNew": True,
                }
            ],
            "NextMarker": "",
        },
        "UpdatedOperationIds": [],
    }
    parsed = from_wire(event, InvocationInput)
    op = parsed.initial_execution_state.operations[0]
    assert op.start_timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_wire(op)["StartTimestamp"] == 1767225600000
    assert "SomethingNew" not in to_wire(op)


def test_boto3_datetimes_are_accepted():
    op = from_wire(
        {
            "Id": "x",
            "Type": "WAIT",
            "Status": "STARTED",
            "StartTimestamp": datetime(2026, 1, 1, tzinfo=UTC),
        },
        Operation,
    )
    assert op == Operation(
        id="x",
        type=OperationType.WAIT,
        status=OperationStatus.STARTED,
        start_timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_history_events_use_the_event_type_details_key():
    recording = RecordingService()
    ex = run_on(every_update_kind, recording, recording.inner)
    events = to_wire(ex.events)
    wait_started = next(e for e in events if e["EventType"] == "WaitStarted")
    assert wait_started["WaitStartedDetails"]["Duration"] == 1
    assert wait_started["Name"] == "pause" and wait_started["SubType"] == "Wait"
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
    assert from_wire(wait_started, Event).details.duration == 1


# --- unknown enum values from the service are tolerated -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [({"Status": "PAUSED"}, "status"), ({"Type": "TIMER"}, "type")],
)
def test_an_unknown_enum_value_parses_as_an_unknown_member_that_round_trips(raw, field):
    data = {"Id": "x", "Type": "WAIT", "Status": "STARTED", **raw}
    op = from_wire(data, Operation)
    member = getattr(op, field)
    assert isinstance(member, OperationStatus if field == "status" else OperationType)
    assert not member.is_known and member.name == "UNKNOWN"
    assert member.value == next(iter(raw.values()))
    assert not op.is_terminal
    assert to_wire(op)[next(iter(raw))] == member.value  # written back unchanged
    assert from_wire(data, Operation) == op  # the same unknown member each time


def test_unknown_members_match_no_known_member():
    paused = OperationStatus.unknown("PAUSED")
    assert paused is OperationStatus.unknown("PAUSED")
    assert all(paused is not s and paused != s for s in OperationStatus)
    assert OperationStatus.unknown("STARTED") is OperationStatus.STARTED
    assert OperationStatus.STARTED.is_known


def test_an_unknown_execution_status_is_tolerated():
    from orchestra.wire.models import ExecutionStatus

    assert not from_wire("PAUSED", ExecutionStatus).is_known


def test_a_non_string_enum_value_still_fails():
    with pytest.raises(Exception, match="Operation"):
        from_wire({"Id": "x", "Type": 5, "Status": "STARTED"}, Operation)


def test_an_unknown_action_is_not_tolerated():
    from orchestra.wire.models import OperationAction

    with pytest.raises(ValueError):
        from_wire("EXPLODE", OperationAction)


def test_the_request_id_is_not_on_the_wire():
    from orchestra.wire.models import CheckpointResponse, ExecutionState

    response = CheckpointResponse(checkpoint_token="t", request_id="r-1")
    assert "RequestId" not in to_wire(response)
    parsed = from_wire({"CheckpointToken": "t", "RequestId": "r-2"}, CheckpointResponse)
    assert parsed.request_id is None
    assert ExecutionState(request_id="a") == ExecutionState(request_id="b")
