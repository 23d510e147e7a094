"""`orchestra serve`'s REST API, driven by a stock boto3 `lambda` client over loopback.

Every route, and every error as the modelled botocore exception class.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from helpers import boto3_lambda_client

from orchestra.server import Server
from orchestra.server import app as app_module
from orchestra.service.api import ServiceError
from orchestra.service.local import LocalService

UNKNOWN_ARN = (
    "arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST/durable-execution/n/0123abcd"
)


make_client = boto3_lambda_client


@pytest.fixture
def service():
    return LocalService()


@pytest.fixture
def server(service):
    with Server(service) as srv:
        yield srv


@pytest.fixture
def client(server):
    return make_client(server.url)


def raw(url: str, method: str, path: str, body: bytes | None = None, headers=None):
    """One raw HTTP request; returns (status, headers, parsed JSON body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, dict(answer.getheaders()), json.loads(data) if data else None
    finally:
        conn.close()


def opened(service: LocalService, function: str = "fn", payload: str | None = '"in"'):
    """An execution with an invocation open: (arn, token, execution id)."""
    arn = service.start_execution(function, payload)
    event = service.invocation_event(arn)
    return arn, event["CheckpointToken"], arn.rsplit("/", 1)[1]


def step(op_id: str, action: str, **more):
    return {"Id": op_id, "Type": "STEP", "SubType": "Step", "Name": op_id, "Action": action, **more}


# --- the server ---------------------------------------------------------------------------


def test_binds_loopback_by_default(service):
    with Server(service) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        port = urlsplit(srv.url).port
        assert srv._http is not None
        assert srv._http.server_address[0] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_health(server):
    status, headers, body = raw(server.url, "GET", "/health")
    assert (status, body) == (200, {"status": "healthy"})
    assert headers["Content-Type"] == "application/json"


def test_unknown_route_and_method(server):
    status, headers, _ = raw(server.url, "GET", "/2015-03-31/functions/x/invocations")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
    status, headers, _body = raw(server.url, "GET", "/start-durable-execution")
    assert status == 405


# --- checkpoints and state ----------------------------------------------------------------


def test_checkpoint_and_state(service, client):
    arn, token, exec_id = opened(service)
    answer = client.checkpoint_durable_execution(
        DurableExecutionArn=arn,
        CheckpointToken=token,
        Updates=[step("s1", "START"), step("s1", "SUCCEED", Payload="1")],
    )
    assert answer["CheckpointToken"] and answer["CheckpointToken"] != token
    (op,) = answer["NewExecutionState"]["Operations"]
    assert (op["Id"], op["Status"], op["StepDetails"]["Result"]) == ("s1", "SUCCEEDED", "1")
    assert isinstance(op["StartTimestamp"], datetime)
    assert abs(op["StartTimestamp"] - datetime.now(UTC)) < timedelta(minutes=5)

    token = answer["CheckpointToken"]
    page = client.get_durable_execution_state(
        DurableExecutionArn=arn, CheckpointToken=token, MaxItems=1
    )
    assert [o["Id"] for o in page["Operations"]] == [exec_id]
    assert page["Operations"][0]["ExecutionDetails"]["InputPayload"] == '"in"'
    rest = client.get_durable_execution_state(
        DurableExecutionArn=arn, CheckpointToken=token, Marker=page["NextMarker"], MaxItems=1
    )
    assert [o["Id"] for o in rest["Operations"]] == ["s1"]
    assert "NextMarker" not in rest


def test_empty_checkpoint_answers_an_empty_state(service, client):
    arn, token, _ = opened(service)
    answer = client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token)
    assert answer["NewExecutionState"]["Operations"] == []
    assert answer["CheckpointToken"]


def test_client_token_replay_gets_the_same_answer(service, client):
    arn, token, _ = opened(service)
    kwargs = dict(
        DurableExecutionArn=arn,
        CheckpointToken=token,
        Updates=[step("s1", "START")],
        ClientToken="retry-1",
    )
    first = client.checkpoint_durable_execution(**kwargs)
    again = client.checkpoint_durable_execution(**kwargs)
    assert again["CheckpointToken"] == first["CheckpointToken"]
    assert len(service.history(arn)) == 2  # ExecutionStarted, one StepStarted


def test_execution_ending_checkpoint_has_no_token(service, client):
    arn, token, exec_id = opened(service)
    answer = client.checkpoint_durable_execution(
        DurableExecutionArn=arn,
        CheckpointToken=token,
        Updates=[{"Id": exec_id, "Type": "EXECUTION", "Action": "SUCCEED", "Payload": "5"}],
    )
    assert "CheckpointToken" not in answer


# --- executions and history ---------------------------------------------------------------


def test_get_execution(service, client):
    arn, _token, _ = opened(service, "shop", '{"n": 1}')
    got = client.get_durable_execution(DurableExecutionArn=arn)
    assert got["DurableExecutionArn"] == arn
    assert got["Status"] == "RUNNING"
    assert got["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:shop:$LATEST"
    assert got["InputPayload"] == '{"n": 1}'
    assert isinstance(got["StartTimestamp"], datetime)
    assert "EndTimestamp" not in got
    lean = client.get_durable_execution(DurableExecutionArn=arn, IncludeExecutionData=False)
    assert "InputPayload" not in lean


def test_history_pages_forward_and_backward(service, client):
    arn, token, _ = opened(service)
    for n in range(3):
        token = client.checkpoint_durable_execution(
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=[step(f"s{n}", "START"), step(f"s{n}", "SUCCEED", Payload=str(n))],
        )["CheckpointToken"]
    everything = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    assert [e["EventId"] for e in everything] == list(range(1, 8))
    assert everything[0]["EventType"] == "ExecutionStarted"
    assert isinstance(everything[0]["EventTimestamp"], datetime)

    ids, marker = [], None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=3, **kwargs)
        ids += [e["EventId"] for e in page["Events"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert ids == list(range(1, 8))

    backwards = client.get_durable_execution_history(
        DurableExecutionArn=arn, ReverseOrder=True, MaxItems=2
    )
    assert [e["EventId"] for e in backwards["Events"]] == [7, 6]
    more = client.get_durable_execution_history(
        DurableExecutionArn=arn, ReverseOrder=True, MaxItems=2, Marker=backwards["NextMarker"]
    )
    assert [e["EventId"] for e in more["Events"]] == [5, 4]

    lean = client.get_durable_execution_history(DurableExecutionArn=arn, IncludeExecutionData=False)
    succeeded = next(e for e in lean["Events"] if e["EventType"] == "StepSucceeded")
    assert succeeded["StepSucceededDetails"]["Result"] == {"Truncated": True}


def test_list_executions_by_function(service, client):
    arns = [service.start_execution("lister", None, name=f"run-{n}") for n in range(3)]
    service.start_execution("other", None)
    client.stop_durable_execution(DurableExecutionArn=arns[0])
    listed = client.list_durable_executions_by_function(FunctionName="lister")
    rows = listed["DurableExecutions"]
    assert [r["DurableExecutionArn"] for r in rows] == arns[::-1]  # newest first
    assert rows[-1]["Status"] == "STOPPED" and isinstance(rows[-1]["EndTimestamp"], datetime)
    oldest_first = client.list_durable_executions_by_function(
        FunctionName="lister", ReverseOrder=True
    )["DurableExecutions"]
    assert [r["DurableExecutionArn"] for r in oldest_first] == arns
    running = client.list_durable_executions_by_function(
        FunctionName="lister", Statuses=["RUNNING"]
    )["DurableExecutions"]
    assert {r["DurableExecutionArn"] for r in running} == set(arns[1:])
    named = client.list_durable_executions_by_function(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:lister",
        DurableExecutionName="run-1",
    )["DurableExecutions"]
    assert [r["DurableExecutionName"] for r in named] == ["run-1"]
    later = client.list_durable_executions_by_function(
        FunctionName="lister", StartedAfter=datetime.now(UTC) + timedelta(days=1)
    )["DurableExecutions"]
    assert later == []

    seen, marker = [], None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = client.list_durable_executions_by_function(
            FunctionName="lister", MaxItems=2, **kwargs
        )
        seen += [r["DurableExecutionArn"] for r in page["DurableExecutions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == arns[::-1]


def test_stop_keeps_the_users_error(service, client):
    arn, token, _ = opened(service)
    answer = client.stop_durable_execution(
        DurableExecutionArn=arn,
        Error={"ErrorType": "Cancelled", "ErrorMessage": "the customer cancelled"},
    )
    assert isinstance(answer["StopTimestamp"], datetime)
    got = client.get_durable_execution(DurableExecutionArn=arn)
    assert got["Status"] == "STOPPED"
    assert got["Error"] == {"ErrorType": "Cancelled", "ErrorMessage": "the customer cancelled"}
    assert service.history(arn)[-1].event_type == "ExecutionStopped"
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token)


def test_stop_without_error_and_in_the_official_emulators_shape(service, client, server):
    arn = service.start_execution("fn", None)
    client.stop_durable_execution(DurableExecutionArn=arn)
    assert service.execution(arn).status.value == "STOPPED"
    other = service.start_execution("fn", None)
    path = f"/2025-12-01/durable-executions/{quote(other)}/stop"
    body = json.dumps({"Error": {"ErrorType": "Wrapped", "ErrorMessage": "m"}}).encode()
    status, _, answer = raw(server.url, "POST", path, body)
    assert status == 200 and "StopTimestamp" in answer
    assert service.execution(other).error.error_type == "Wrapped"


def quote(text: str) -> str:
    from urllib.parse import quote as q

    return q(text, safe="")


# --- callbacks ----------------------------------------------------------------------------


def started_callback(service, client, name="approval", **options):
    arn, token, _ = opened(service)
    answer = client.checkpoint_durable_execution(
        DurableExecutionArn=arn,
        CheckpointToken=token,
        Updates=[
            {
                "Id": "cb",
                "Type": "CALLBACK",
                "SubType": "Callback",
                "Name": name,
                "Action": "START",
                "CallbackOptions": options,
            }
        ],
    )
    (op,) = answer["NewExecutionState"]["Operations"]
    return arn, op["CallbackDetails"]["CallbackId"]


def test_callback_success_failure_heartbeat(service, client):
    arn, callback_id = started_callback(service, client, HeartbeatTimeoutSeconds=60)
    client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'{"ok": true}')
    op = service.execution(arn).operations["cb"]
    assert (op.status.value, op.callback_details.result) == ("SUCCEEDED", '{"ok": true}')

    arn, callback_id = started_callback(service, client)
    client.send_durable_execution_callback_failure(
        CallbackId=callback_id, Error={"ErrorType": "Rejected", "ErrorMessage": "no"}
    )
    op = service.execution(arn).operations["cb"]
    assert op.status.value == "FAILED"
    assert (op.callback_details.error.error_type, op.callback_details.error.error_message) == (
        "Rejected",
        "no",
    )


# --- errors, each as its botocore exception class -----------------------------------------


def test_unknown_arn_is_resource_not_found(client):
    for call in (
        lambda: client.get_durable_execution(DurableExecutionArn=UNKNOWN_ARN),
        lambda: client.get_durable_execution_history(DurableExecutionArn=UNKNOWN_ARN),
        lambda: client.stop_durable_execution(DurableExecutionArn=UNKNOWN_ARN),
        lambda: client.checkpoint_durable_execution(
            DurableExecutionArn=UNKNOWN_ARN, CheckpointToken="dG9rZW4="
        ),
        lambda: client.get_durable_execution_state(
            DurableExecutionArn=UNKNOWN_ARN, CheckpointToken="dG9rZW4="
        ),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
            call()
        assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert "no durable execution" in info.value.response["Error"]["Message"]
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unknown_function_is_resource_not_found(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="Function not found"):
        client.list_durable_executions_by_function(FunctionName="ghost")


def test_unknown_callback_id_is_resource_not_found(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="Callback not found"):
        client.send_durable_execution_callback_success(CallbackId="bm9uZQ==", Result=b"1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.send_durable_execution_callback_heartbeat(CallbackId="bm9uZQ==")


def test_answered_callback_is_callback_timeout(service, client):
    _, callback_id = started_callback(service, client)
    client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"1")
    with pytest.raises(client.exceptions.CallbackTimeoutException) as info:
        client.send_durable_execution_callback_failure(CallbackId=callback_id, Error={})
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_stale_token_is_invalid_parameter(service, client):
    arn, token, _ = opened(service)
    client.checkpoint_durable_execution(
        DurableExecutionArn=arn, CheckpointToken=token, Updates=[step("s1", "START")]
    )
    with pytest.raises(
        client.exceptions.InvalidParameterValueException, match="Invalid checkpoint token"
    ):
        client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token)
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.get_durable_execution_state(DurableExecutionArn=arn, CheckpointToken=token)


def test_foreign_token_is_invalid_parameter(service, client):
    arn, _, _ = opened(service)
    _, other_token, _ = opened(service)
    with pytest.raises(
        client.exceptions.InvalidParameterValueException, match="Invalid checkpoint token"
    ):
        client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=other_token)


def test_rejected_update_is_invalid_parameter(service, client):
    arn, token, _ = opened(service)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as info:
        client.checkpoint_durable_execution(
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=[{"Id": "w", "Type": "WAIT", "Action": "SUCCEED"}],
        )
    assert info.value.response["Error"]["Message"]


def replace_body(client, operation: str, mutate):
    """Have botocore send `mutate(body)` instead of the body it serialised."""

    def hook(request, **_):
        request.body = mutate(request.body)
        request.headers["Content-Length"] = str(len(request.body))

    client.meta.events.register(f"before-send.lambda.{operation}", hook)


def test_malformed_json_body_is_invalid_parameter(service, client):
    arn, token, _ = opened(service)
    replace_body(client, "CheckpointDurableExecution", lambda body: b'{"CheckpointToken": ')
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="Malformed JSON"):
        client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token)


def test_missing_required_field_is_invalid_parameter(service, client):
    arn, token, _ = opened(service)

    def drop_token(body):
        data = json.loads(body)
        del data["CheckpointToken"]
        return json.dumps(data).encode()

    replace_body(client, "CheckpointDurableExecution", drop_token)
    with pytest.raises(
        client.exceptions.InvalidParameterValueException, match="CheckpointToken is required"
    ):
        client.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token)


def test_update_missing_a_field_names_it(service, server):
    arn, token, _ = opened(service)
    body = json.dumps({"CheckpointToken": token, "Updates": [{"Id": "a", "Type": "STEP"}]})
    status, headers, answer = raw(
        server.url,
        "POST",
        f"/2025-12-01/durable-executions/{quote(arn)}/checkpoint",
        body.encode(),
    )
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")
    assert answer == {
        "Type": "InvalidParameterValueException",
        "message": "Updates[0].Action is required.",
    }


def test_update_with_a_bad_value_names_the_field(service, server):
    arn, token, _ = opened(service)
    body = json.dumps(
        {"CheckpointToken": token, "Updates": [{"Id": "a", "Type": "STEP", "Action": "JUMP"}]}
    )
    status, _, answer = raw(
        server.url,
        "POST",
        f"/2025-12-01/durable-executions/{quote(arn)}/checkpoint",
        body.encode(),
    )
    assert status == 400
    assert "Updates[0]" in answer["message"] and "action" in answer["message"].lower()
    assert "JUMP" not in answer["message"]  # values stay out of messages (they may be payloads)


def test_missing_token_on_state_is_invalid_parameter(service, server):
    arn, _, _ = opened(service)
    status, _headers, answer = raw(
        server.url, "GET", f"/2025-12-01/durable-executions/{quote(arn)}/state"
    )
    assert (status, answer["message"]) == (400, "CheckpointToken is required.")


def test_bad_query_values_are_invalid_parameter(service, client):
    arn, token, _ = opened(service)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="Invalid marker"):
        client.get_durable_execution_history(DurableExecutionArn=arn, Marker="zzz")
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="MaxItems"):
        client.get_durable_execution_history(DurableExecutionArn=arn, MaxItems=5000)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="Invalid marker"):
        client.get_durable_execution_state(
            DurableExecutionArn=arn, CheckpointToken=token, Marker="x"
        )


def test_a_listing_time_beyond_the_calendar_is_invalid_parameter(server):
    import urllib.error
    import urllib.request

    url = f"{server.url}/2025-12-01/functions/lister/durable-executions?StartedAfter=1e300"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 400
    assert info.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert b"StartedAfter" in info.value.read()


def test_oversized_callback_result_is_invalid_parameter(service, client):
    _, callback_id = started_callback(service, client)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="262144 bytes"):
        client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b"x" * (256 * 1024 + 1)
        )
    client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"x" * 256 * 1024)


def test_oversized_payload_in_a_checkpoint_is_invalid_parameter(service, client):
    arn, token, _ = opened(service)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="Payload size"):
        client.checkpoint_durable_execution(
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=[step("s", "START"), step("s", "SUCCEED", Payload="x" * (6_291_456 + 1))],
        )


def test_oversized_request_body_is_invalid_parameter(service, client, monkeypatch):
    monkeypatch.setattr(app_module, "MAX_REQUEST_BYTES", 1000)
    arn, token, _ = opened(service)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="at most 1000"):
        client.checkpoint_durable_execution(
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=[step("s", "START", Payload="x" * 2000)],
        )


class FlakyService(LocalService):
    """Answers GetDurableExecution with a chosen failure."""

    failure: BaseException | None = None

    def execution(self, arn):
        if self.failure is not None and arn == UNKNOWN_ARN:
            raise self.failure
        return super().execution(arn)


def test_throttling_is_too_many_requests():
    service = FlakyService()
    service.failure = ServiceError("TooManyRequestsException", "slow down", status=429)
    with Server(service) as srv:
        client = make_client(srv.url)
        with pytest.raises(client.exceptions.TooManyRequestsException, match="slow down") as info:
            client.get_durable_execution(DurableExecutionArn=UNKNOWN_ARN)
        assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"


def test_too_many_requests_in_flight_is_too_many_requests(service):
    api = app_module.DurableApi(service, max_in_flight=0)
    from werkzeug.test import Client

    answer = Client(api).get("/health")
    assert answer.status_code == 429
    assert answer.headers["x-amzn-ErrorType"] == "TooManyRequestsException"


def test_unexpected_error_is_service_exception_without_a_traceback(caplog):
    service = FlakyService()
    service.failure = RuntimeError("secret internals at line 42")
    with Server(service) as srv, caplog.at_level(logging.ERROR, logger="orchestra.server"):
        client = make_client(srv.url)
        with pytest.raises(client.exceptions.ServiceException) as info:
            client.get_durable_execution(DurableExecutionArn=UNKNOWN_ARN)
    message = info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "secret" not in message and "Traceback" not in message
    assert "RequestId" in message
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_logs_never_show_tokens_callback_ids_or_payloads(service, client, caplog):
    with caplog.at_level(logging.DEBUG):
        arn, token, _ = opened(service)
        answer = client.checkpoint_durable_execution(
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=[
                {"Id": "cb", "Type": "CALLBACK", "Action": "START"},
                step("s", "START"),
                step("s", "SUCCEED", Payload='"top-secret"'),
            ],
        )
        callback_id = next(
            o["CallbackDetails"]["CallbackId"]
            for o in answer["NewExecutionState"]["Operations"]
            if o["Type"] == "CALLBACK"
        )
        client.get_durable_execution_state(
            DurableExecutionArn=arn, CheckpointToken=answer["CheckpointToken"]
        )
        client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"s3cr3t"')
    server_lines = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("orchestra.server", "werkzeug"))
    )
    assert server_lines  # the routes are logged...
    for secret in (token, answer["CheckpointToken"], callback_id, "top-secret", "s3cr3t"):
        assert secret not in server_lines  # ...but nothing secret


# --- starting executions ------------------------------------------------------------------


def test_start_unknown_function_is_resource_not_found(server):
    status, headers, body = raw(
        server.url, "POST", "/start-durable-execution", json.dumps({"FunctionName": "x"}).encode()
    )
    assert (status, headers["x-amzn-ErrorType"]) == (404, "ResourceNotFoundException")
    assert body["message"] == "Function not found: x"


def test_start_bad_bodies(server):
    for body, message in (
        (b"[1]", "The request body must be a JSON object."),
        (b"{", "Malformed JSON request body at line 1 column 2."),
        (b"{}", "FunctionName is required."),
        (json.dumps({"FunctionName": 7}).encode(), "FunctionName must be a string."),
    ):
        status, headers, answer = raw(server.url, "POST", "/start-durable-execution", body)
        assert (status, answer["message"]) == (400, message)
        assert headers["x-amzn-ErrorType"] == "InvalidParameterValueException"


def test_connections_are_kept_alive_and_unread_bodies_drained(server):
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        # A body the route never reads (an unknown path), then requests on the same connection.
        conn.request("POST", "/nowhere", body=b"x" * 100_000)
        first = conn.getresponse()
        first.read()
        assert first.status == 404 and first.getheader("Connection") is None
        conn.request("POST", "/start-durable-execution", body=b"{}")
        second = conn.getresponse()
        assert json.loads(second.read())["message"] == "FunctionName is required."
        conn.request("GET", "/health")
        third = conn.getresponse()
        assert json.loads(third.read()) == {"status": "healthy"}
        assert conn.sock is not None  # the one connection carried all three
    finally:
        conn.close()
