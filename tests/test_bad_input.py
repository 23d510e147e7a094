"""Bad input gets a clear error naming what and where; nothing checkpointed is lost."""

from __future__ import annotations

import json

import pytest

from orchestra import (
    Child,
    Duration,
    MalformedEventError,
    Step,
    ValidationError,
    Wait,
    WorkflowDefinitionError,
    lambda_handler,
)
from orchestra.service.local.engine import LocalService
from orchestra.testing import LocalRunner


def ident(x):
    return x


def ok_workflow(x):
    return (yield Step(ident, x))


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        (None, "expected a JSON object, got NoneType"),
        ("text", "expected a JSON object, got str"),
        ({"name": "x"}, "missing DurableExecutionArn, CheckpointToken"),
        ({"DurableExecutionArn": "a"}, "missing CheckpointToken"),
        (
            {
                "DurableExecutionArn": "a",
                "CheckpointToken": "t",
                "InitialExecutionState": {"Operations": [{"Id": "x", "Type": "NOPE"}]},
            },
            "malformed durable-execution event",
        ),
    ],
)
def test_malformed_invocation_events_are_rejected_with_what_is_wrong(event, fragment):
    handler = lambda_handler(ok_workflow, service=LocalService())
    with pytest.raises(MalformedEventError, match=fragment):
        handler(event, None)


def test_input_payload_that_is_not_json_fails_the_execution_clearly():
    run = LocalRunner(ok_workflow).run(raw_input="{not json")
    assert run.status == "FAILED"
    assert run.error.error_type == "MalformedEventError"
    assert "not JSON" in run.error.error_message


def test_unserialisable_step_result_fails_naming_the_step_and_type():
    class Opaque:
        pass

    def make():
        return Opaque()

    def workflow():
        yield Step(ident, 1, name="first")
        yield Step(make, name="maker")

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error.error_type == "SerializationError"
    assert "'maker'" in run.error.error_message and "Opaque" in run.error.error_message
    # the first step's checkpoint is kept
    assert run.operation("first").step_details.result == "1"


def test_step_value_over_256_kib_is_refused_with_its_size():
    def huge() -> str:
        return "x" * (256 * 1024 + 1)

    def workflow():
        yield Step(huge)

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED" and run.error.error_type == "PayloadTooLargeError"
    assert "'huge'" in run.error.error_message and "262147 bytes" in run.error.error_message


@pytest.mark.parametrize(
    ("duration", "fragment"),
    [
        (0, "at least 1 second, got 0 s"),
        (Duration.days(367), "at most 366 days"),
        (-5, "cannot be negative"),
        ("10", "must be a Duration or seconds"),
    ],
)
def test_invalid_durations_are_rejected(duration, fragment):
    with pytest.raises(ValidationError, match=fragment):
        Wait(duration)


def test_366_days_is_the_longest_wait():
    assert Wait(Duration.days(366)).seconds == 31_622_400


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("n" * 257, "257 characters long"), ("caf\u00e9", "not printable ASCII at position 3")],
)
def test_invalid_names_are_rejected(name, fragment):
    with pytest.raises(ValidationError, match=fragment):
        Step(ident, 1, name=name)
    with pytest.raises(ValidationError, match=fragment):
        Wait(5, name=name)


def test_a_workflow_that_is_not_a_generator_is_refused_up_front():
    def plain(x):
        return x

    with pytest.raises(WorkflowDefinitionError, match="generator function"):
        lambda_handler(plain)


def test_yielding_a_non_operation_names_it_and_suggests_yield_from():
    def helper():
        yield Step(ident, 1)

    def workflow():
        yield Step(ident, 0, name="fine")
        yield helper()

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED" and run.error.error_type == "WorkflowDefinitionError"
    message = run.error.error_message
    assert "after operation #1" in message and "yield from" in message
    assert run.operation("fine").status.value == "SUCCEEDED"


def test_yielding_a_plain_value_names_the_value():
    def workflow():
        yield 42

    run = LocalRunner(workflow).run()
    assert "yielded 42 (int)" in run.error.error_message


def test_changed_workflow_replayed_on_an_old_history_fails_as_non_deterministic():
    version = {"n": 1}

    def charge():
        return "charged"

    def refund():
        return "refunded"

    def workflow():
        yield Wait(60)
        yield Step(charge if version["n"] == 1 else refund)
        return "done"

    service = LocalService()
    runner = LocalRunner(workflow, service=service)
    arn = service.start_execution("fn", "null")
    # first invocation: the wait is checkpointed with version 1 ...
    service._invoke(arn, runner.handler)
    version["n"] = 2  # ... then the code changes while the execution is in flight
    # replaying the wait is fine (same op); the step is new, so no mismatch yet:
    service.run(arn, runner.handler)
    assert service.execution(arn).status.value == "SUCCEEDED"

    # now change a checkpointed position: replay the finished history with new code
    def renamed():
        yield Wait(60, name="renamed")
        return "x"

    again = LocalService()
    arn2 = again.start_execution("fn", "null")
    again.run(arn2, lambda_handler(workflow, service=again))
    ex = again.execution(arn2)
    ex.status = ex.status.RUNNING  # re-drive the same history with different code
    ex.events.clear()
    again._invoke(arn2, lambda_handler(renamed, service=again))
    assert ex.status.value == "FAILED"
    assert ex.error.error_type == "NonDeterministicExecutionError"
    assert "named renamed" in ex.error.error_message
    assert "operation #1 of the workflow" in ex.error.error_message
    # the history that was checkpointed is intact
    assert {op.type.value for op in ex.operations.values()} >= {"WAIT", "STEP"}


def test_child_given_a_non_callable_is_rejected():
    with pytest.raises(ValidationError, match="callable"):
        Child(42)  # type: ignore[arg-type]


def test_step_given_a_generator_function_points_to_child():
    def gen():
        yield Step(ident, 1)

    with pytest.raises(ValidationError, match="Use Child"):
        Step(gen)


def test_not_json_output_of_custom_serde_is_stored_verbatim():
    class Upper:
        def serialize(self, value: str) -> str:
            return value.upper()

        def deserialize(self, data: str) -> str:
            return data

    def workflow():
        return (yield Step(ident, "abc", serde=Upper()))

    run = LocalRunner(workflow).run()
    assert run.result == "ABC"
    assert json.loads(run.result_json) == "ABC"


def test_fractional_durations_are_named_as_given():
    with pytest.raises(ValidationError, match=r"whole number of seconds, got 0\.5 s"):
        Wait(0.5)
