"""The writer cannot hang or lie: every failure reaches on_error, nothing unconfirmed is acked."""

from __future__ import annotations

import threading
import time

import pytest

from orchestra.errors import CheckpointError, GetStateError, InvocationError
from orchestra.runtime import writer as writer_module
from orchestra.service.api import MALFORMED, ServiceError
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    OperationAction,
    OperationType,
    OperationUpdate,
)
from tests.test_writer import WAIT, Collector, ScriptedService, op, update


def run_one(service: ScriptedService, n: int = 1) -> tuple[Collector, BaseException, bool]:
    """Submit ``n`` updates, flush, and return the collector, the error and close()'s answer."""
    got = Collector()
    writer = got.writer(service, async_bound=60)
    for i in range(n):
        writer.submit(update(i), ack=i)
    writer.flush()
    error = got.error()
    return got, error, writer.close(WAIT)


# --- 1. every exception reaches on_error; nothing blocks without a bound ----------------------


@pytest.mark.parametrize(
    "raised",
    [RuntimeError("bug in a backend"), KeyError("x"), TypeError("bad answer")],
)
def test_any_exception_from_the_service_reaches_on_error(raised):
    got, error, closed = run_one(ScriptedService([raised]))
    assert error is raised
    assert closed and got.acks == []


def test_a_process_crash_on_the_writer_thread_reaches_on_error_unwrapped():
    crash = SystemExit(1)
    got, error, closed = run_one(ScriptedService([crash]))
    assert error is crash and closed and got.acks == []


def test_an_update_the_converter_cannot_write_reaches_on_error():
    got = Collector()
    writer = got.writer(ScriptedService())
    writer.submit(update(1, payload=object()), ack=1)  # type: ignore[arg-type]
    writer.flush()
    error = got.error()
    assert isinstance(error, TypeError)
    assert writer.close(WAIT) and got.acks == []


def test_an_exception_from_on_ack_reaches_on_error():
    got = Collector()
    boom = RuntimeError("on_ack failed")

    def on_ack(acks, operations):
        raise boom

    writer = writer_module.CheckpointWriter(
        ScriptedService(), "arn", "t0", on_ack=on_ack, on_error=got.on_error
    )
    writer.submit(update(1), ack=1)
    writer.flush()
    assert got.error() is boom
    assert writer.close(WAIT)


def test_an_exception_from_on_error_is_logged_and_the_thread_still_ends(caplog):
    def on_error(error):
        raise RuntimeError("on_error failed")

    writer = writer_module.CheckpointWriter(
        ScriptedService([ServiceError("ServiceException", "x", status=500)]),
        "arn",
        "t0",
        on_ack=lambda a, o: None,
        on_error=on_error,
    )
    writer.submit(update(1), ack=1)
    writer.flush()
    assert writer.close(WAIT)
    assert any("on_error raised" in r.getMessage() for r in caplog.records)


def test_submissions_after_a_failure_are_dropped_not_sent():
    service = ScriptedService([ServiceError("ServiceException", "x", status=500)])
    got = Collector()
    writer = got.writer(service)
    writer.submit(update(1), ack=1)
    writer.flush()
    got.error()
    writer.submit(update(2), ack=2)
    writer.flush()
    assert writer.close(WAIT)
    assert service.calls == [[update(1)]]


def blocked_service() -> tuple[ScriptedService, threading.Event, threading.Event]:
    entered, release = threading.Event(), threading.Event()

    def answer():
        entered.set()
        release.wait(30)
        return CheckpointResponse(checkpoint_token="t1")

    return ScriptedService([answer]), entered, release


def test_close_with_a_timeout_returns_false_while_a_call_hangs_and_calls_back_nothing():
    service, entered, release = blocked_service()
    got = Collector()
    writer = got.writer(service)
    writer.submit(update(1), ack=1)
    writer.flush()
    assert entered.wait(WAIT)
    result: list[bool] = []
    closer = threading.Thread(target=lambda: result.append(writer.close(0.2)), daemon=True)
    started = time.monotonic()
    closer.start()
    closer.join(WAIT)
    assert result == [False]
    assert time.monotonic() - started < 2
    release.set()
    time.sleep(0.2)
    assert got.events.empty()  # nothing is called back after close gave up


def test_abort_is_bounded_while_a_call_hangs(monkeypatch):
    monkeypatch.setattr(writer_module, "ABORT_JOIN_SECONDS", 0.2)
    service, entered, release = blocked_service()
    got = Collector()
    writer = got.writer(service)
    writer.submit(update(1), ack=1)
    writer.flush()
    assert entered.wait(WAIT)
    aborter = threading.Thread(target=writer.abort, daemon=True)
    started = time.monotonic()
    aborter.start()
    aborter.join(WAIT)
    assert not aborter.is_alive() and time.monotonic() - started < 2
    release.set()
    time.sleep(0.2)
    assert got.events.empty()


def test_the_writer_thread_ends_when_its_producer_vanishes_without_closing_it():
    made: list[writer_module.CheckpointWriter] = []
    service = ScriptedService()

    def producer():
        got = Collector()
        w = got.writer(service, async_bound=60)
        w.submit(update(1), ack=1)  # never flushed, never closed
        made.append(w)

    thread = threading.Thread(target=producer)
    thread.start()
    thread.join()
    writer_thread = made[0]._thread
    writer_thread.join(WAIT)
    assert not writer_thread.is_alive()
    assert service.calls == []


# --- 2. an answer without a token is not the end of the execution -------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_an_answer_without_a_token_is_a_retryable_malformed_answer_and_nothing_is_acked(token):
    answer = CheckpointResponse(
        new_execution_state=ExecutionState(operations=[op("x")]),
        checkpoint_token=token,
        request_id="req-7",
    )
    got, error, closed = run_one(ScriptedService([answer]), n=3)
    assert isinstance(error, CheckpointError)
    assert error.retryable and error.code == MALFORMED and error.request_id == "req-7"
    assert "malformed" in str(error) and "no token" in str(error)
    assert got.acks == [] and got.operations == []
    assert closed


def test_an_empty_call_answered_without_a_token_is_malformed():
    got = Collector()
    writer = got.writer(ScriptedService([CheckpointResponse()]))
    writer.submit(None, ack=1)
    writer.flush()
    error = got.error()
    assert isinstance(error, CheckpointError) and error.retryable
    assert writer.close(WAIT) and got.acks == []


def test_an_execution_update_that_is_not_last_cannot_end_the_execution_by_a_missing_token():
    # the writer cuts after the EXECUTION update, so the second call's missing token is
    # judged on its own updates
    finished = OperationUpdate(
        id="exec", type=OperationType.EXECUTION, action=OperationAction.SUCCEED
    )
    service = ScriptedService([CheckpointResponse(checkpoint_token="t1"), CheckpointResponse()])
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit(finished, ack=1)
    writer.submit(update(2), ack=2)
    writer.flush()
    error = got.error()
    assert isinstance(error, CheckpointError) and error.retryable
    assert got.acks == [1]
    assert writer.close(WAIT)


# --- 3. state pages ------------------------------------------------------------------------------


def paged_answer() -> CheckpointResponse:
    return CheckpointResponse(
        new_execution_state=ExecutionState(operations=[op("a")], next_marker="m1"),
        checkpoint_token="t1",
    )


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (
            ServiceError(MALFORMED, "malformed answer: no Operations", status=200, retryable=True),
            True,
        ),
        (ServiceError("ThrottlingException", "slow down", status=429), True),
        (ServiceError("ResourceNotFoundException", "gone", status=404), False),
    ],
)
def test_a_failed_page_read_is_a_get_state_error_and_the_batch_is_not_acked(failure, retryable):
    service = ScriptedService([paged_answer()], pages={"m1": failure})
    got, error, closed = run_one(service)
    assert isinstance(error, GetStateError) and error.retryable is retryable
    assert error.__cause__ is failure
    assert got.acks == [] and closed


def test_a_repeated_marker_is_a_malformed_answer_not_an_endless_loop():
    service = ScriptedService(
        [paged_answer()], pages={"m1": ExecutionState(operations=[op("b")], next_marker="m1")}
    )
    got, error, closed = run_one(service)
    assert isinstance(error, GetStateError) and error.retryable
    assert len(service.state_calls) == 1
    assert got.acks == [] and closed


# --- 8. stale token after a partial batch, throttling, 5xx ----------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        ServiceError(
            "InvalidParameterValueException", "Invalid Checkpoint Token", status=400, request_id="r"
        ),
        ServiceError("InvalidParameterValueException", "invalid checkpoint token", status=400),
        ServiceError("TooManyRequestsException", "Rate exceeded", status=429, request_id="r"),
        ServiceError("ServiceException", "internal", status=500, request_id="r"),
        ServiceError("ReadTimeoutError", "read timed out", status=None),
    ],
)
def test_a_failure_after_a_partial_batch_acks_only_what_was_answered(failure):
    service = ScriptedService([CheckpointResponse(checkpoint_token="t1"), failure])
    got, error, closed = run_one(service, n=300)  # two calls: 250, then 50
    assert service.sizes == [250, 50]
    assert got.acks == list(range(250))  # the first call's items only
    assert isinstance(error, CheckpointError) and error.retryable
    assert error.__cause__ is failure
    assert error.code == failure.code and error.status == failure.status
    assert error.request_id == failure.request_id
    assert closed


def test_errors_are_invocation_errors_with_their_call_named():
    service = ScriptedService([ServiceError("ServiceException", "internal", status=503)])
    _, error, _ = run_one(service)
    assert isinstance(error, InvocationError)
    assert str(error).startswith("CheckpointDurableExecution failed: ServiceException")
