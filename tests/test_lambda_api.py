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
