"""The emulator's chained invokes: targets, function names, child executions, bad input."""

from __future__ import annotations

import json

import pytest

from orchestra import Invoke, Wait
from orchestra.errors import InvokeError
from orchestra.service.api import ServiceError
from orchestra.service.local import DurableTarget, LocalService
from orchestra.testing import LocalRunner
from orchestra.wire.models import (
    ChainedInvokeOptions,
    OperationAction,
    OperationType,
    OperationUpdate,
)


def invoke(function_name: str, payload: str | None = None, tenant_id: str | None = None):
    return OperationUpdate(
        id="inv",
        type=OperationType.CHAINED_INVOKE,
        action=OperationAction.START,
        name="call",
        sub_type="ChainedInvoke",
        payload=payload,
        chained_invoke_options=ChainedInvokeOptions(function_name, tenant_id),
    )


def invoking_handler(service: LocalService, update: OperationUpdate, answers: list):
    """Starts ``update``, waits for its outcome and returns it as the execution's."""

    def handler(event, context):
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "inv" not in ops:
            answer = service.checkpoint(
                event["DurableExecutionArn"], event["CheckpointToken"], [update]
            )
            answers.append(answer)
            return {"Status": "PENDING"}
        op = ops["inv"]
        if op["Status"] == "STARTED":
            return {"Status": "PENDING"}
        if op["Status"] == "SUCCEEDED":
            return {"Status": "SUCCEEDED", "Result": op["ChainedInvokeDetails"].get("Result")}
        return {"Status": "FAILED", "Error": op["ChainedInvokeDetails"].get("Error", {})}

    return handler


def run_invoke(service: LocalService, update: OperationUpdate):
    arn = service.start_execution("caller", "null")
    answers: list = []
    status = service.run(arn, invoking_handler(service, update, answers))
    return arn, status, answers


def history(service: LocalService, arn: str) -> list[dict]:
    return service.history_dicts(arn)


def event(service: LocalService, arn: str, kind: str) -> dict:
    return next(e for e in history(service, arn) if e["EventType"] == kind)


# --- plain targets -----------------------------------------------------------------------------


def test_a_plain_target_gets_the_decoded_payload_and_its_result_is_encoded():
    service = LocalService()
    seen = []
    service.register_target("pricing", lambda order: seen.append(order) or {"price": 7})
    arn, status, answers = run_invoke(service, invoke("pricing", '{"sku": "a"}', "tenant-1"))
    assert status.value == "SUCCEEDED"
    assert seen == [{"sku": "a"}]
    assert json.loads(service.execution(arn).result) == {"price": 7}
    # the caller's invocation saw the invoke STARTED (it suspends); it completed afterwards
    (op,) = answers[0].new_execution_state.operations
    assert op.status.value == "STARTED"
    kinds = [e["EventType"] for e in history(service, arn)]
    assert kinds == [
        "ExecutionStarted",
        "ChainedInvokeStarted",
        "InvocationCompleted",
        "ChainedInvokeSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    started = event(service, arn, "ChainedInvokeStarted")
    assert (started["Id"], started["Name"], started["SubType"]) == ("inv", "call", "ChainedInvoke")
    assert started["ChainedInvokeStartedDetails"] == {
        "FunctionName": "pricing",
        "TenantId": "tenant-1",
        "Input": {"Truncated": False, "Payload": '{"sku": "a"}'},
        "ExecutedVersion": "$LATEST",
    }
    assert event(service, arn, "ChainedInvokeSucceeded")["ChainedInvokeSucceededDetails"] == {
        "Result": {"Truncated": False, "Payload": '{"price": 7}'}
    }


def test_a_plain_target_that_raises_fails_the_invoke_with_its_type_and_message():
    service = LocalService()

    def declines(payload):
        raise PermissionError("card declined")

    service.register_target("charge", declines)
    arn, status, _ = run_invoke(service, invoke("charge", "1"))
    assert status.value == "FAILED"
    details = service.execution(arn).operations["inv"].chained_invoke_details
    assert (details.error.error_type, details.error.error_message) == (
        "PermissionError",
        "card declined",
    )
    assert event(service, arn, "ChainedInvokeFailed")["ChainedInvokeFailedDetails"] == {
        "Error": {
            "Payload": {"ErrorMessage": "card declined", "ErrorType": "PermissionError"},
            "Truncated": False,
        }
    }


def test_a_payload_that_is_not_json_or_a_result_that_cannot_be_encoded_fails_the_invoke():
    service = LocalService()
    service.register_target("echo", lambda payload: payload)
    service.register_target("opaque", lambda payload: object())
    arn, _, _ = run_invoke(service, invoke("echo", "{not json"))
    error = service.execution(arn).operations["inv"].chained_invoke_details.error
    assert error.error_type == "InvalidRequestContentException"
    arn, _, _ = run_invoke(service, invoke("opaque", "1"))
    error = service.execution(arn).operations["inv"].chained_invoke_details.error
    assert error.error_type == "Runtime.MarshalError"


@pytest.mark.parametrize(
    ("registered", "called", "version"),
    [
        ("fn", "fn", "$LATEST"),
        ("fn", "fn:prod", "prod"),
        ("fn", "123456789012:function:fn", "$LATEST"),
        ("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn:7", "7"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn", "function:fn", "$LATEST"),
        ("fn:prod", "fn:prod", "prod"),
    ],
)
def test_targets_match_by_function_name_in_every_form(registered, called, version):
    service = LocalService()
    service.register_target(registered, lambda payload: "hit")
    arn, status, _ = run_invoke(service, invoke(called))
    assert status.value == "SUCCEEDED"
    details = event(service, arn, "ChainedInvokeStarted")["ChainedInvokeStartedDetails"]
    assert (details["FunctionName"], details["ExecutedVersion"]) == (called, version)


def test_a_qualified_target_is_preferred_to_the_unqualified_one():
    service = LocalService()
    service.register_target("fn", lambda payload: "plain")
    service.register_target("fn:live", lambda payload: "live")
    arn, _, _ = run_invoke(service, invoke("fn:live"))
    assert service.execution(arn).result == '"live"'
    arn, _, _ = run_invoke(service, invoke("fn:other"))
    assert service.execution(arn).result == '"plain"'


# --- durable targets ---------------------------------------------------------------------------


def child(payload):
    yield Wait(3600)
    if payload == "fail":
        raise ValueError("child says no")
    return {"echo": payload}


def test_a_workflow_target_runs_as_a_child_execution_with_its_own_history():
    def parent(x):
        return (yield Invoke("child", x, name="call"))

    runner = LocalRunner(parent, targets={"child": child})
    run = runner.run("hi")
    assert (run.status, run.result) == ("SUCCEEDED", {"echo": "hi"})
    started = next(e for e in run.history_dicts() if e["EventType"] == "ChainedInvokeStarted")
    child_arn = started["ChainedInvokeStartedDetails"]["DurableExecutionArn"]
    assert child_arn != run.arn and ":function:child:" in child_arn
    child_events = [e["EventType"] for e in runner.service.history_dicts(child_arn)]
    assert child_events[0] == "ExecutionStarted" and child_events[-1] == "ExecutionSucceeded"
    assert "WaitSucceeded" in child_events
    op = run.operation("call")
    # the child's hour-long wait passed on the virtual clock before the invoke completed
    assert (op.end_timestamp - op.start_timestamp).total_seconds() >= 3600
    kinds = [e["EventType"] for e in run.history_dicts()]
    assert kinds.index("ChainedInvokeSucceeded") > kinds.index("InvocationCompleted")


def test_a_failing_child_fails_the_invoke_with_its_error():
    def parent():
        try:
            yield Invoke("child", "fail", name="call")
        except InvokeError as exc:
            return f"caught {exc.error_type}"
        return "not raised"

    runner = LocalRunner(parent)
    runner.register_target("child", child)
    run = runner.run()
    assert run.result == "caught ValueError"
    error = run.operation("call").chained_invoke_details.error
    assert (error.error_type, error.error_message) == ("ValueError", "child says no")


def test_a_child_waiting_for_the_outside_keeps_the_parent_waiting_until_resumed():
    service = LocalService()
    answers: list = []
    callback = OperationUpdate(
        id="cb", type=OperationType.CALLBACK, action=OperationAction.START, name="ok?"
    )

    def child_handler(event, context):
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "cb" not in ops:
            service.checkpoint(event["DurableExecutionArn"], event["CheckpointToken"], [callback])
            return {"Status": "PENDING"}
        if ops["cb"]["Status"] == "STARTED":
            return {"Status": "PENDING"}
        return {"Status": "SUCCEEDED", "Result": ops["cb"]["CallbackDetails"]["Result"]}

    service.register_target("child", DurableTarget(child_handler))
    arn = service.start_execution("caller", "null")
    handler = invoking_handler(service, invoke("child"), answers)
    assert service.run(arn, handler).value == "RUNNING"
    child_arn = service.execution(arn).child_arns[0]
    callback_id = service.execution(child_arn).operations["cb"].callback_details.callback_id
    service.send_callback_success(callback_id, '"approved"')
    assert service.run(arn, handler).value == "SUCCEEDED"
    assert service.execution(child_arn).status.value == "SUCCEEDED"
    assert service.execution(arn).result == '"approved"'


# --- bad input ---------------------------------------------------------------------------------


def test_an_unknown_target_fails_the_operation_in_the_same_checkpoint_answer():
    service = LocalService()
    service.register_target("known", lambda payload: 1)
    for name in ("unknown", "arn:aws:lambda:eu-west-1:123456789012:function:known"):
        arn, status, answers = run_invoke(service, invoke(name))
        (op,) = answers[0].new_execution_state.operations
        assert op.status.value == "FAILED"
        assert op.chained_invoke_details.error.error_type == "ResourceNotFoundException"
        assert op.chained_invoke_details.error.error_message.startswith(
            f"Function not found: {name}."
        )
        assert status.value == "FAILED"
        kinds = [e["EventType"] for e in history(service, arn)]
        assert kinds[1:3] == ["ChainedInvokeStarted", "ChainedInvokeFailed"]


@pytest.mark.parametrize(
    "bad",
    ["", "has space", "a" * 257, "fn:bad:extra", "arn:aws:lambda:us-east-1:12:function:fn", "fn/x"],
)
def test_an_empty_or_malformed_function_name_is_rejected_at_start(bad):
    service = LocalService()
    arn = service.start_execution("caller", None)
    event_ = service.invocation_event(arn)
    with pytest.raises(ServiceError) as info:
        service.checkpoint(arn, event_["CheckpointToken"], [invoke(bad)])
    assert (info.value.code, info.value.status) == ("InvalidParameterValueException", 400)
    assert "Invalid FunctionName" in info.value.message
    assert "inv" not in service.execution(arn).operations


@pytest.mark.parametrize("bad", ["", "tab\there", "x" * 257, "semi;colon"])
def test_a_malformed_tenant_id_is_rejected_at_start(bad):
    service = LocalService()
    arn = service.start_execution("caller", None)
    event_ = service.invocation_event(arn)
    with pytest.raises(ServiceError, match="Invalid TenantId"):
        service.checkpoint(arn, event_["CheckpointToken"], [invoke("fn", tenant_id=bad)])


def test_registering_bad_targets_is_refused():
    service = LocalService()
    with pytest.raises(TypeError, match="DurableTarget"):
        service.register_target("wf", child)
    with pytest.raises(TypeError, match="callable"):
        service.register_target("x", 42)  # type: ignore[arg-type]
    with pytest.raises(ServiceError, match="Invalid FunctionName"):
        service.register_target("not a name", lambda payload: payload)
