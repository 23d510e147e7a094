"""Core II §2: an exception from user code, or from how it is called, never escapes the
handler as an invocation error; it is a typed error the workflow can catch, or a FAILED
execution with a clear message."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from orchestra import Child, ChildContextError, Step, Wait
from orchestra.interpreter.commands import Failed
from orchestra.interpreter.history import HistoryIndex
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.machine import Machine
from orchestra.testing import LocalRunner
from orchestra.wire.models import Operation, OperationStatus, OperationType, StepDetails


def no_retry_step(x: int) -> int:
    return x


def test_a_workflow_whose_signature_does_not_fit_fails_the_execution_clearly():
    def workflow(a, b):  # two arguments: cannot take the execution input
        yield Wait(1)

    run = LocalRunner(workflow).run({"x": 1})
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "WorkflowDefinitionError"
    assert "cannot be called with the execution input" in (run.error.error_message or "")
    assert run.invocations == 1  # not re-invoked as an invocation error would be


def test_wrong_arguments_to_a_childs_function_are_a_catchable_child_error():
    def sub(a: int, b: int) -> Generator[Any, Any, int]:
        yield Wait(1)
        return a + b

    def workflow() -> Generator[Any, Any, str]:
        try:
            yield Child(sub, 1, name="bad-call")  # b is missing
        except ChildContextError as err:
            return f"caught {err.error_type}"
        return "not caught"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "caught TypeError"
    assert run.operation("bad-call").status is OperationStatus.FAILED


class Unhashable:
    """A callable object that cannot be a dict key."""

    __hash__ = None  # type: ignore[assignment]
    __name__ = "unhashable"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unhashable)

    def __call__(self, x: int) -> int:
        return x + 1


def test_an_unhashable_callable_runs_as_a_step():
    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(Unhashable(), 41))

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 42


class ExplodingSerde:
    def serialize(self, value: Any) -> str:
        raise RuntimeError("serde bug")

    def deserialize(self, data: str) -> Any:
        raise RuntimeError("serde bug")


def test_a_serde_that_raises_fails_the_execution_with_a_clear_message():
    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(no_retry_step, 1, name="encoded", serde=ExplodingSerde()))

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "SerializationError"
    assert "encoded" in (run.error.error_message or "")
    assert "serde bug" in (run.error.error_message or "")


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no str for you")


def test_an_error_whose_message_cannot_be_read_still_fails_cleanly():
    def workflow() -> Generator[Any, Any, None]:
        yield Wait(1)
        raise Unprintable()

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "Unprintable"


def test_a_workflow_that_raises_before_its_first_yield_fails_cleanly():
    def workflow(event: Any) -> Generator[Any, Any, None]:
        raise KeyError(event["missing"])
        yield  # pragma: no cover

    run = LocalRunner(workflow).run({})
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "KeyError"


def test_an_exception_from_new_code_during_replay_is_reported_as_itself():
    """History: two steps. The new code raises before reaching the second one."""
    first, second = operation_id(None, 1), operation_id(None, 2)
    history = [
        Operation(
            id=first,
            type=OperationType.STEP,
            status=OperationStatus.SUCCEEDED,
            sub_type="Step",
            name="no_retry_step",
            step_details=StepDetails(result="1"),
        ),
        Operation(
            id=second,
            type=OperationType.STEP,
            status=OperationStatus.SUCCEEDED,
            sub_type="Step",
            name="no_retry_step",
            step_details=StepDetails(result="2"),
        ),
    ]

    def new_code() -> Generator[Any, Any, int]:
        value = yield Step(no_retry_step, 1)
        return {"a": value}["b"]  # a bug introduced by the new version

    m = Machine(new_code, None, HistoryIndex(history), execution_arn="arn")
    m.run()
    assert isinstance(m.outcome, Failed)
    assert m.outcome.error.error_type == "KeyError"  # not NonDeterministicExecutionError
    message = m.outcome.error.error_message or ""
    assert "test_contained_errors.py:" in message
    assert "history records more" in message


def test_no_user_mistake_ends_an_invocation_with_an_error():
    """Invocation errors are for infrastructure: each mistake ends in an answer."""

    def bad_signature(a, b, c):
        yield Wait(1)

    def sub(a: int) -> Generator[Any, Any, int]:
        yield Wait(1)
        return a

    def bad_child_call() -> Generator[Any, Any, Any]:
        return (yield Child(sub, 1, 2, 3))

    def unprintable() -> Generator[Any, Any, None]:
        yield Wait(1)
        raise Unprintable()

    def bad_serde() -> Generator[Any, Any, int]:
        return (yield Step(no_retry_step, 1, serde=ExplodingSerde()))

    for workflow in (bad_signature, bad_child_call, unprintable, bad_serde):
        run = LocalRunner(workflow).run({"x": 1})
        assert run.status == "FAILED", workflow.__name__
        errors = [
            e.details.error
            for e in run.history
            if e.event_type == "InvocationCompleted" and e.details and e.details.error
        ]
        assert errors == [], (workflow.__name__, errors)


def test_an_operation_with_a_status_this_version_does_not_know_is_refused_not_guessed():
    from orchestra.wire.models import OperationStatus as Status

    history = [
        Operation(
            id=operation_id(None, 1),
            type=OperationType.STEP,
            status=Status.unknown("PAUSED"),
            sub_type="Step",
            name="no_retry_step",
        )
    ]
    ran: list[int] = []

    def workflow() -> Generator[Any, Any, int]:
        return (yield Step(no_retry_step, 1))

    m = Machine(workflow, None, HistoryIndex(history), execution_arn="arn")
    commands = m.run()
    ran.extend(1 for c in commands if type(c).__name__ == "RunStep")
    assert ran == []  # the step is not re-run on a guess
    assert isinstance(m.outcome, Failed)
    assert "PAUSED" in (m.outcome.error.error_message or "")
    assert "does not know" in (m.outcome.error.error_message or "")
