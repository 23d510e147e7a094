"""The boto3 backend, against botocore's Stubber (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from orchestra.service.api import ServiceError, classify
from orchestra.service.lambda_api import LambdaService
from orchestra.wire.models import OperationAction, OperationType, OperationUpdate

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/abc"


@pytest.fixture
def stubbed():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with Stubber(client) as stubber:
        yield LambdaService(client), stubber


def test_checkpoint_sends_pascal_case_updates_and_reads_the_response(stubbed):
    service, stubber = stubbed
    stubber.add_response(
        "checkpoint_durable_execution",
        {
            "CheckpointToken": "bmV4dA==",
            "NewExecutionState": {
                "Operations": [
                    {
                        "Id": "w",
                        "Type": "WAIT",
                        "Status": "STARTED",
                        "StartTimestamp": datetime(2026, 1, 1, tzinfo=UTC),
                    }
                ]
            },
        },
        {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "dG9rZW4=",
            "Updates": [
                {"Id": "w", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 5}}
            ],
        },
    )
    from orchestra.wire.models import WaitOptions

    response = service.checkpoint(
        ARN,
        "dG9rZW4=",
        [
            OperationUpdate(
                id="w",
                type=OperationType.WAIT,
                action=OperationAction.START,
                wait_options=WaitOptions(5),
            )
        ],
    )
    assert response.checkpoint_token == "bmV4dA=="
    assert response.new_execution_state.operations[0].start_timestamp == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_get_state_pages(stubbed):
    service, stubber = stubbed
    stubber.add_response(
        "get_durable_execution_state",
        {"Operations": [], "NextMarker": "m2"},
        {"DurableExecutionArn": ARN, "CheckpointToken": "dA==", "Marker": "m1", "MaxItems": 1000},
    )
    assert service.get_state(ARN, "dA==", "m1", 1000).next_marker == "m2"


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [("TooManyRequestsException", 429, True), ("InvalidParameterValueException", 400, False)],
)
def test_client_errors_become_classified_service_errors(stubbed, code, status, retryable):
    service, stubber = stubbed
    stubber.add_client_error(
        "checkpoint_durable_execution", service_error_code=code, http_status_code=status
    )
    with pytest.raises(ServiceError) as info:
        service.checkpoint(ARN, "dA==", [])
    assert info.value.status == status
    assert classify(info.value).retryable is retryable


# --- error classification: what each layer keeps ---------------------------------------------


def test_a_client_error_keeps_code_status_and_request_id_and_chains_the_botocore_error(stubbed):
    from botocore.exceptions import ClientError

    from orchestra.service.api import Call

    service, stubber = stubbed
    stubber.add_client_error(
        "get_durable_execution_state",
        service_error_code="ServiceException",
        service_message="internal",
        http_status_code=503,
        response_meta={"RequestId": "req-503"},
    )
    with pytest.raises(ServiceError) as info:
        service.get_state(ARN, "dA==", "m1", 1000)
    error = info.value
    assert (error.code, error.status, error.request_id) == ("ServiceException", 503, "req-503")
    assert isinstance(error.__cause__, ClientError)
    classified = classify(error, Call.GET_STATE)
    assert type(classified).__name__ == "GetStateError" and classified.retryable
    assert classified.__cause__ is error and classified.request_id == "req-503"
    assert "req-503" in str(classified) and "HTTP 503" in str(classified)


def test_the_request_id_falls_back_to_the_response_header(stubbed):
    service, stubber = stubbed
    stubber.add_client_error(
        "checkpoint_durable_execution",
        service_error_code="TooManyRequestsException",
        http_status_code=429,
        response_meta={"HTTPHeaders": {"x-amzn-requestid": "hdr-1"}},
    )
    with pytest.raises(ServiceError) as info:
        service.checkpoint(ARN, "dA==", [])
    assert info.value.request_id == "hdr-1"


def test_a_stale_token_answer_is_retryable(stubbed):
    service, stubber = stubbed
    stubber.add_client_error(
        "checkpoint_durable_execution",
        service_error_code="InvalidParameterValueException",
        service_message="Invalid Checkpoint Token",
        http_status_code=400,
    )
    with pytest.raises(ServiceError) as info:
        service.checkpoint(ARN, "dA==", [])
    assert classify(info.value).retryable


def test_a_request_botocore_refuses_is_terminal_and_chains_the_validation_error():
    from botocore.exceptions import ParamValidationError

    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    service = LambdaService(client)  # not stubbed: botocore refuses before any request
    with pytest.raises(ServiceError) as info:
        service.get_state(ARN, "", "m1", 1000)  # CheckpointToken must not be empty
    assert isinstance(info.value.__cause__, ParamValidationError)
    assert info.value.retryable is False
    assert classify(info.value).retryable is False


class RawClient:
    """A stand-in boto3 client: answers with a given dict, or raises a given exception."""

    def __init__(self, answer):
        self.answer = answer

    def _reply(self, **kwargs):
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    checkpoint_durable_execution = _reply
    get_durable_execution_state = _reply


META = {"ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200}}


@pytest.mark.parametrize(
    "exc",
    [
        "ReadTimeoutError(endpoint_url='https://lambda')",
        "ConnectTimeoutError(endpoint_url='https://lambda')",
        "EndpointConnectionError(endpoint_url='https://lambda')",
    ],
)
def test_network_errors_and_timeouts_are_retryable_with_no_status(exc):
    import botocore.exceptions as bex  # noqa: F401  (used by eval)

    raised = eval(f"bex.{exc}")
    service = LambdaService(RawClient(raised))
    with pytest.raises(ServiceError) as info:
        service.checkpoint(ARN, "dA==", [])
    assert info.value.status is None and info.value.__cause__ is raised
    assert classify(info.value).retryable


def test_a_body_botocore_cannot_parse_is_a_retryable_malformed_answer():
    from botocore.parsers import ResponseParserError

    service = LambdaService(RawClient(ResponseParserError("not JSON")))
    with pytest.raises(ServiceError) as info:
        service.get_state(ARN, "dA==", "m1", 1000)
    assert info.value.code == "MalformedResponse" and classify(info.value).retryable


def test_a_state_page_without_operations_is_malformed_not_an_empty_last_page():
    from orchestra.service.api import Call

    service = LambdaService(RawClient({**META}))
    with pytest.raises(ServiceError) as info:
        service.get_state(ARN, "dA==", "m1", 1000)
    error = info.value
    assert error.code == "MalformedResponse" and "Operations" in error.message
    assert error.request_id == "req-1" and error.status == 200
    classified = classify(error, Call.GET_STATE)
    assert type(classified).__name__ == "GetStateError" and classified.retryable


def test_an_empty_state_page_is_fine():
    page = LambdaService(RawClient({"Operations": [], **META})).get_state(ARN, "dA==", "m", 10)
    assert page.operations == [] and page.next_marker is None and page.request_id == "req-1"


def test_a_checkpoint_answer_without_new_execution_state_is_malformed():
    service = LambdaService(RawClient({"CheckpointToken": "dA==", **META}))
    with pytest.raises(ServiceError) as info:
        service.checkpoint(ARN, "dA==", [])
    assert info.value.code == "MalformedResponse" and classify(info.value).retryable


def test_a_checkpoint_answer_without_a_token_is_passed_on_for_the_writer_to_judge():
    answer = LambdaService(RawClient({"NewExecutionState": {}, **META})).checkpoint(ARN, "dA==", [])
    assert answer.checkpoint_token is None and answer.request_id == "req-1"


def test_an_answer_that_does_not_structure_is_malformed_and_its_values_stay_out_of_the_message():
    secret = "s3cr3t-payload"
    body = {
        "Operations": [
            {"Id": "a", "Type": "STEP", "Status": "STARTED", "StepDetails": {"Attempt": secret}},
            {"Type": "WAIT"},
        ],
        **META,
    }
    with pytest.raises(ServiceError) as info:
        LambdaService(RawClient(body)).get_state(ARN, "dA==", "m", 10)
    error = info.value
    assert error.code == "MalformedResponse" and classify(error).retryable
    assert "attempt" in error.message and secret not in error.message
    assert error.__cause__ is not None


def test_unknown_enum_values_in_an_answer_are_tolerated():
    body = {
        "CheckpointToken": "dA==",
        "NewExecutionState": {
            "Operations": [{"Id": "a", "Type": "TIMER", "Status": "PAUSED"}],
        },
        **META,
    }
    answer = LambdaService(RawClient(body)).checkpoint(ARN, "dA==", [])
    operation = answer.new_execution_state.operations[0]
    assert not operation.type.is_known and operation.type.value == "TIMER"
    assert not operation.status.is_known and not operation.is_terminal


def test_a_validation_error_message_does_not_repeat_the_values_sent():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    bad = OperationUpdate(
        id="s", type=OperationType.STEP, action=OperationAction.SUCCEED, payload=123456789
    )  # type: ignore[arg-type]
    with pytest.raises(ServiceError) as info:
        LambdaService(client).checkpoint(ARN, "dA==", [bad])
    assert "Payload" in info.value.message and "123456789" not in info.value.message
