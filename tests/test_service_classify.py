"""How service errors are classified: retryable or terminal, which call, what is kept."""

from __future__ import annotations

import pytest

from orchestra.errors import CheckpointError, GetStateError
from orchestra.service.api import MALFORMED, Call, ServiceError, classify

RETRYABLE = [
    ServiceError("ThrottlingException", "Rate exceeded", status=429),
    ServiceError("TooManyRequestsException", "Rate exceeded", status=429),
    ServiceError("ServiceException", "internal", status=500),
    ServiceError("ServiceUnavailableException", "later", status=503),
    ServiceError("EndpointConnectionError", "could not connect", status=None),
    ServiceError("ReadTimeoutError", "read timed out", status=None),
    ServiceError("InvalidParameterValueException", "Invalid Checkpoint Token", status=400),
    ServiceError("InvalidParameterValueException", "invalid checkpoint token", status=400),
    ServiceError("InvalidParameterValueException", "INVALID CHECKPOINT TOKEN: stale", status=400),
    ServiceError(MALFORMED, "malformed answer: no Operations", status=200, retryable=True),
]

TERMINAL = [
    ServiceError("InvalidParameterValueException", "Inconsistent operation name.", status=400),
    ServiceError("KMSDisabledException", "kms", status=502),
    ServiceError("KMSAccessDeniedException", "kms", status=400),
    ServiceError("RequestEntityTooLargeException", "too big", status=413),
    ServiceError("PayloadTooLargeException", "too big", status=400),
    ServiceError("SomethingTooLarge", "too big", status=413),
    ServiceError("ResourceNotFoundException", "gone", status=404),
    ServiceError(
        "ParamValidationError", "Invalid type for parameter", status=None, retryable=False
    ),
]


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: f"{e.code}-{e.status}")
@pytest.mark.parametrize("call", list(Call))
def test_retryable(error, call):
    assert classify(error, call).retryable is True


@pytest.mark.parametrize("error", TERMINAL, ids=lambda e: f"{e.code}-{e.status}")
@pytest.mark.parametrize("call", list(Call))
def test_terminal(error, call):
    assert classify(error, call).retryable is False


def test_the_failed_call_decides_the_error_type():
    error = ServiceError("ServiceException", "internal", status=500)
    assert type(classify(error)) is CheckpointError
    assert type(classify(error, Call.CHECKPOINT)) is CheckpointError
    assert type(classify(error, Call.GET_STATE)) is GetStateError


def test_code_status_and_request_id_are_kept_and_the_service_error_is_the_cause():
    error = ServiceError("TooManyRequestsException", "Rate exceeded", status=429, request_id="r-5")
    classified = classify(error, Call.GET_STATE)
    assert (classified.code, classified.status, classified.request_id) == (
        "TooManyRequestsException",
        429,
        "r-5",
    )
    assert classified.__cause__ is error
    message = str(classified)
    for part in ("GetDurableExecutionState", "TooManyRequestsException", "HTTP 429", "r-5"):
        assert part in message


def test_no_answer_says_so():
    classified = classify(ServiceError("ConnectTimeoutError", "timed out", status=None))
    assert "no answer" in str(classified) and classified.status is None
