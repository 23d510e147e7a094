"""Core II §3 and §6 at the invocation level: bounded waits, malformed answers, abandoned
steps, the response envelope and the runtime's logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

import attrs
import pytest

from orchestra import CheckpointError, Step, Wait, lambda_handler
from orchestra.errors import GetStateError
from orchestra.runtime.executor import StepExecutor
from orchestra.runtime.invocation import InvocationTimeoutError
from orchestra.service.local.engine import LocalService
from orchestra.testing import LocalRunner
from orchestra.wire.models import (
    CheckpointResponse,
    ExecutionState,
    OperationAction,
    OperationStatus,
    OperationUpdate,
)


class FaultyService:
    """The emulator behind a hook that may rewrite any answer or raise instead."""

    def __init__(self, inner: LocalService) -> None:
        self.inner = inner
        self.calls: list[list[OperationUpdate]] = []
        self.on_checkpoint: Callable[[int, CheckpointResponse], CheckpointResponse] = lambda n, r: r
        self.on_get_state: Callable[[], None] = lambda: None

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls.append(list(updates))
        response = self.inner.checkpoint(arn, token, updates)
        return self.on_checkpoint(len(self.calls), response)

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        self.on_get_state()
        return self.inner.get_state(arn, token, marker, max_items)


@attrs.frozen
class LambdaContext:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


ran: list[str] = []


def record(name: str) -> str:
    ran.append(name)
    return name


def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def two_steps() -> Generator[Any, Any, list[str]]:
    a = yield Step(record, "first", name="first")
    b = yield Step(record, "second", name="second")
    return [a, b]


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def test_an_answer_without_a_token_is_not_the_end_and_nothing_runs_on_it():
    """A malformed 200 (no CheckpointToken) must not acknowledge the batch."""
    service = FaultyService(LocalService())
    service.on_checkpoint = lambda n, r: attrs.evolve(r, checkpoint_token=None)
    handler = lambda_handler(two_steps, service=service, async_bound=0)
    arn = service.inner.start_execution("f", "{}")
    with pytest.raises(CheckpointError) as info:
        handler(service.inner.invocation_event(arn), None)
    assert info.value.retryable
    assert ran == ["first"]  # the second step never ran on an unacknowledged value


def test_a_failed_state_read_is_a_retryable_get_state_error_not_failed():
    inner = LocalService(page_size=1)
    service = FaultyService(inner)

    def fail() -> None:
        from orchestra.service.api import ServiceError

        raise ServiceError("ServiceException", "boom", status=500)

    service.on_get_state = fail
    handler = lambda_handler(two_steps, service=service)
    runner_arn = inner.start_execution("f", "{}")
    inner.run(runner_arn, lambda_handler(two_steps, service=inner))  # a history > 1 page
    ex = inner.execution(runner_arn)
    assert len(ex.operations) > 1
    # a new invocation of a finished execution still reads its state page by page
    event = inner.invocation_event(runner_arn)
    with pytest.raises(GetStateError) as info:
        handler(event, None)
    assert info.value.retryable
    assert info.value.status == 500


def test_the_invocation_stops_waiting_before_the_lambda_deadline():
    def workflow() -> Generator[Any, Any, str]:
        return (yield Step(sleepy, 3.0, name="slow"))

    service = LocalService()
    handler = lambda_handler(workflow, service=service)
    arn = service.start_execution("f", "{}")
    started = time.monotonic()
    with pytest.raises(InvocationTimeoutError) as info:
        handler(service.invocation_event(arn), LambdaContext(remaining_ms=600))
    elapsed = time.monotonic() - started
    assert info.value.retryable
    assert elapsed < 1.5
    # nothing but the step's START reached the service
    op = service.execution(arn).operations
    assert [o.status for o in op.values() if o.name == "slow"] == [OperationStatus.STARTED]


def test_results_of_steps_abandoned_by_an_ended_invocation_are_dropped():
    release = threading.Event()
    calls: list[int] = []

    def held() -> int:
        calls.append(1)
        release.wait(5)
        return len(calls)

    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(held, name="held"))

    service = LocalService()
    executor = StepExecutor(4)  # shared, as in a warm container
    handler = lambda_handler(workflow, service=service, executor=executor)
    arn = service.start_execution("f", "{}")
    with pytest.raises(InvocationTimeoutError):
        handler(service.invocation_event(arn), LambdaContext(remaining_ms=300))
    # the next invocation on the same container runs the step again; the first attempt's
    # late result must not be delivered to it
    release.set()
    answer = handler(service.invocation_event(arn), LambdaContext(remaining_ms=10_000))
    assert answer["Status"] == "SUCCEEDED"
    assert answer["Result"] == "2"  # the second run's own value


def test_a_result_over_the_response_limit_is_stored_on_the_execution(monkeypatch):
    from orchestra.runtime import invocation

    monkeypatch.setattr(invocation, "RESPONSE_SIZE_LIMIT", 50)
    inner = LocalService()
    service = FaultyService(inner)
    answers: list[dict[str, Any]] = []

    def workflow() -> Generator[Any, Any, str]:
        yield Wait(1)
        return "y" * 80

    handler = lambda_handler(workflow, service=service)

    def recording(event: Any, context: Any) -> Any:
        answers.append(handler(event, context))
        return answers[-1]

    arn = inner.start_execution("f", "{}")
    inner.run(arn, recording)
    succeeds = [u for call in service.calls for u in call if u.type.value == "EXECUTION"]
    assert len(succeeds) == 1 and succeeds[0].action is OperationAction.SUCCEED
    assert succeeds[0].id.startswith("execution-result-")
    assert answers[-1] == {"Status": "SUCCEEDED", "Result": ""}
    assert inner.execution(arn).result == '"' + "y" * 80 + '"'


def test_an_error_over_the_response_limit_is_checkpointed_and_the_answer_omits_it(monkeypatch):
    from orchestra.runtime import invocation

    monkeypatch.setattr(invocation, "RESPONSE_SIZE_LIMIT", 60)
    sent: list[OperationUpdate] = []
    inner = LocalService()
    service = FaultyService(inner)

    def spy(n: int, r: CheckpointResponse) -> CheckpointResponse:
        sent.extend(service.calls[-1])
        return r

    service.on_checkpoint = spy

    def workflow() -> Generator[Any, Any, None]:
        yield Wait(1)
        raise ValueError("e" * 200)

    handler = lambda_handler(workflow, service=service)
    arn = inner.start_execution("f", "{}")
    inner.run(arn, handler)
    fails = [u for u in sent if u.action is OperationAction.FAIL and u.type.value == "EXECUTION"]
    assert len(fails) == 1 and fails[0].id.startswith("execution-result-")
    assert inner.execution(arn).status.value == "FAILED"


def test_absent_input_reaches_the_workflow_as_an_empty_dict():
    seen: list[Any] = []

    def workflow(event: Any) -> Generator[Any, Any, None]:
        seen.append(event)
        yield Wait(1)

    LocalRunner(workflow).run(raw_input="")
    LocalRunner(workflow).run(raw_input="   ")
    assert seen[0] == {} and seen[-1] == {}


SECRET = "s3cr3t-payload-value"


def secret_step() -> str:
    return SECRET


def test_the_runtime_logs_start_end_and_counts_without_payloads(caplog):
    def workflow(event: Any) -> Generator[Any, Any, str]:
        value = yield Step(secret_step, name="secret")
        yield Wait(1)
        return value

    with caplog.at_level(logging.DEBUG, logger="orchestra"):
        run = LocalRunner(workflow).run({"password": SECRET})
    assert run.status == "SUCCEEDED"
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("orchestra")]
    assert any("invocation started" in m for m in messages)
    ends = [m for m in messages if "invocation ended" in m]
    assert len(ends) == 2
    assert "0 operations replayed, 2 new" in ends[0]
    assert "2 operations replayed, 0 new" in ends[1]
    for r in caplog.records:
        assert SECRET not in r.getMessage()
        assert SECRET not in str(r.__dict__)


def test_a_retryable_service_failure_is_logged_at_error_with_its_traceback(caplog):
    service = FaultyService(LocalService())

    def throttled(n: int, r: CheckpointResponse) -> CheckpointResponse:
        from orchestra.service.api import ServiceError

        raise ServiceError("ThrottlingException", "slow down", status=429)

    service.on_checkpoint = throttled
    handler = lambda_handler(two_steps, service=service)
    arn = service.inner.start_execution("f", "{}")
    with caplog.at_level(logging.ERROR, logger="orchestra"), pytest.raises(CheckpointError):
        handler(service.inner.invocation_event(arn), None)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and any(r.exc_info for r in errors)
