"""The shell: batching and flush policy, token chaining, service errors, crashes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from orchestra import Step, Wait, lambda_handler
from orchestra.errors import CheckpointError
from orchestra.interpreter import machine as machine_module
from orchestra.service.api import ServiceError
from orchestra.service.local.engine import LocalService
from orchestra.testing import LocalRunner
from orchestra.wire.models import (
    CheckpointResponse,
    OperationAction,
    OperationUpdate,
)
from tests.conftest import RecordingService
from tests.helpers import Branches, run_on


def inc(x: int) -> int:
    return x + 1


def sequential(n):
    total = 0
    for _ in range(n):
        total = yield Step(inc, total)
    return total


def test_sequential_workflow_pays_one_checkpoint_call_per_step(recording: RecordingService):
    ex = run_on(sequential, recording, recording.inner, 20)
    assert ex.result == "20"
    assert len(recording.calls) == 20
    assert all(
        [u.action for u in call] == [OperationAction.START, OperationAction.SUCCEED]
        for call in recording.calls
    )


def test_no_idle_linger_a_quick_step_costs_milliseconds(recording: RecordingService):
    started = time.perf_counter()
    run_on(sequential, recording, recording.inner, 30)
    # 30 steps with a 50 ms linger would take 1.5 s; without linger it is far below that.
    assert time.perf_counter() - started < 1.0


def test_slow_step_start_is_flushed_on_its_own_before_the_step_ends(
    recording: RecordingService,
):
    def slow() -> int:
        time.sleep(0.3)
        return 1

    def workflow():
        return (yield Step(slow))

    run_on(workflow, recording, recording.inner)
    assert [[u.action for u in call] for call in recording.calls] == [
        [OperationAction.START],
        [OperationAction.SUCCEED],
    ]


def noop(i: int) -> int:
    return i


def item(i: int) -> Any:
    def body() -> Any:
        return (yield Step(noop, i, name=f"item-{i}"))

    return body


def test_a_call_never_carries_more_than_250_updates(recording: RecordingService, branches_op: None):
    """300 concurrent steps queue 300 STARTs before the first SUCCEED asks for a flush."""

    def workflow():
        values = yield Branches(tuple(item(i) for i in range(300)))
        return sum(values)

    handler = lambda_handler(workflow, service=recording, async_bound=60)
    arn = recording.inner.start_execution("f", "null")
    recording.inner.run(arn, handler)
    ex = recording.inner.execution(arn)
    assert ex.result == str(sum(range(300)))
    sizes = [len(call) for call in recording.calls]
    assert max(sizes) == 250  # the cap was reached, and never passed
    assert sum(sizes) == 600  # every START and SUCCEED was sent exactly once


class FlakyService(RecordingService):
    """Fails the n-th checkpoint call with a given service error."""

    def __init__(self, fail_on: int, error: ServiceError) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.error = error

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        if len(self.calls) + 1 == self.fail_on:
            self.calls.append(list(updates))
            raise self.error
        return super().checkpoint(arn, token, updates)


def start(service: LocalService, value: object = 1) -> tuple[str, dict]:
    arn = service.start_execution("fn", str(value))
    ex = service.execution(arn)
    ex.token = "dGVzdA=="
    event = {
        "DurableExecutionArn": arn,
        "CheckpointToken": ex.token,
        "InitialExecutionState": {"Operations": [], "NextMarker": ""},
    }
    from orchestra.wire.converter import to_wire

    event["InitialExecutionState"]["Operations"] = to_wire(ex.visible_operations())
    return arn, event


@pytest.mark.parametrize(
    "error",
    [
        ServiceError("ThrottlingException", "Rate exceeded", status=429),
        ServiceError("ServiceException", "internal", status=500),
        ServiceError("InvalidParameterValueException", "Invalid Checkpoint Token", status=400),
        ServiceError("InvalidParameterValueException", "invalid checkpoint token", status=400),
        ServiceError("ConnectionError", "reset", status=None),
    ],
)
def test_retryable_service_errors_fail_the_invocation_for_lambda_to_retry(error):
    service = FlakyService(1, error)
    _, event = start(service.inner, 3)
    handler = lambda_handler(sequential, service=service)
    with pytest.raises(CheckpointError) as info:
        handler(event, None)
    assert info.value.retryable


@pytest.mark.parametrize(
    "error",
    [
        ServiceError("InvalidParameterValueException", "Inconsistent operation name.", status=400),
        ServiceError("KMSDisabledException", "kms", status=502),
        ServiceError("RequestEntityTooLargeException", "too big", status=413),
    ],
)
def test_terminal_service_errors_return_failed(error):
    service = FlakyService(1, error)
    _, event = start(service.inner, 3)
    output = lambda_handler(sequential, service=service)(event, None)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "CheckpointError"
    assert error.code in output["Error"]["ErrorMessage"]


def test_checkpoint_token_is_chained_and_a_stale_one_is_rejected():
    service = RecordingService()
    arn, event = start(service.inner, 2)
    service.inner.execution(arn).token = event["CheckpointToken"]
    output = lambda_handler(sequential, service=service)(event, None)
    assert output == {"Status": "SUCCEEDED", "Result": "2"}
    with pytest.raises(ServiceError, match="Invalid checkpoint token"):
        service.inner.checkpoint(arn, event["CheckpointToken"], [])


def test_state_paging_loads_every_operation(recording: RecordingService):
    service = LocalService(page_size=3)

    def workflow():
        total = 0
        for _ in range(10):
            total = yield Step(inc, total)
            yield Wait(1)
        return total

    run = LocalRunner(workflow, service=service).run()
    assert run.status == "SUCCEEDED" and run.result == 10
    assert run.invocations == 11


def test_a_crash_injected_after_a_checkpoint_loses_no_checkpointed_work():
    calls: list[int] = []

    def count(x: int) -> int:
        calls.append(x)
        return x

    def workflow():
        a = yield Step(count, 1)
        b = yield Step(count, 2)
        return a + b

    run = LocalRunner(workflow).run(crash_at=[1])
    assert run.status == "SUCCEEDED" and run.result == 3
    assert calls == [1, 2]  # step 1 was durable before the crash: never re-run
    kinds = [e["EventType"] for e in run.history_dicts()]
    assert kinds[:4] == ["ExecutionStarted", "StepStarted", "StepSucceeded", "InvocationCompleted"]
    assert (
        run.history_dicts()[3]["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"]
        == "Runtime.ExitError"
    )


def test_large_result_is_checkpointed_on_the_execution_operation(recording: RecordingService):
    def big() -> str:
        return "x"

    def workflow():
        yield Step(big)
        return "y" * (6 * 1024 * 1024 - 30)  # over the 6 MiB - 50 response limit

    ex = run_on(workflow, recording, recording.inner)
    last = recording.calls[-1][-1]
    assert last.type.value == "EXECUTION" and last.id.startswith("execution-result-")
    assert ex.status.value == "SUCCEEDED"
    assert ex.result is not None and len(ex.result) == 6 * 1024 * 1024 - 28


def test_a_timer_due_while_a_step_runs_is_polled_with_an_empty_checkpoint(
    recording: RecordingService, branches_op: None, monkeypatch: pytest.MonkeyPatch
):
    """Time is an input: the runtime wakes the machine when a parked timer falls due."""
    monkeypatch.setattr(machine_module, "POLL_INTERVAL_MS", 200)

    def slow() -> str:
        time.sleep(1.6)
        return "slow done"

    def napper():
        yield Wait(1, name="nap")
        return "rested"

    def worker():
        return (yield Step(slow, name="slow"))

    def workflow():
        return (yield Branches((napper, worker)))

    handler = lambda_handler(workflow, service=recording)
    arn = recording.inner.start_execution("f", "null")
    recording.inner.run(arn, handler)
    polls = [call for call in recording.calls if not call]
    assert polls, recording.calls  # at least one empty call while the step ran
    assert recording.inner.execution(arn).result == '["rested","slow done"]'
