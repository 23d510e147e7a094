"""Error objects: bounded to the service's limit, with stack traces and the cause chain."""

from __future__ import annotations

import json

import pytest

from orchestra import (
    Child,
    ChildContextError,
    Duration,
    RetryPolicy,
    Step,
    StepError,
    ValidationError,
    Wait,
)
from orchestra.errors import ERROR_OBJECT_LIMIT, OperationError, error_object, operation_error_from
from orchestra.testing import LocalRunner
from orchestra.wire.converter import to_wire
from orchestra.wire.models import ErrorObject


def wire_sizes(err: ErrorObject) -> tuple[int, int]:
    """Bytes of the error's JSON, compact and as the emulator measures it (ASCII, spaced)."""
    wire = to_wire(err)
    compact = json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()
    return len(compact), len(json.dumps(wire).encode())


def raised(exc: BaseException) -> BaseException:
    """``exc`` after it was raised and caught, so it carries a traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def step_error_from(exc: BaseException) -> OperationError:
    """The StepError a workflow sees when a step raised ``exc``."""
    return operation_error_from(StepError, error_object(raised(exc)), name="s")


# --- §4.1 bounded error objects ---------------------------------------------------------------


def test_a_40_kb_message_fits_the_service_limit_and_keeps_its_start_and_a_marker():
    message = "".join(f"line {i}: something went wrong\n" for i in range(1500))
    assert len(message) > 40_000
    err = error_object(raised(ValueError(message)))
    assert max(wire_sizes(err)) < ERROR_OBJECT_LIMIT
    assert err.error_message is not None
    assert err.error_message.startswith(message[:5000])
    assert "… [truncated " in err.error_message and err.error_message.endswith(" bytes]")
    dropped = int(err.error_message.rsplit("[truncated ", 1)[1].split()[0])
    kept = err.error_message.split("… [truncated ")[0]
    assert len(kept.encode()) + dropped == len(message.encode())


def test_multi_byte_text_is_cut_between_characters_and_still_fits():
    message = "é€😀" * 20_000
    err = error_object(StepError(message, data="漢" * 40_000, error_type="X"))
    assert max(wire_sizes(err)) < ERROR_OBJECT_LIMIT
    assert err.error_message is not None and err.error_data is not None
    kept = err.error_message.split("… [truncated ")[0]
    assert kept and message.startswith(kept)
    assert err.error_data.split("… [truncated ")[0].strip("漢") == ""
    json.dumps(to_wire(err), ensure_ascii=False).encode()  # valid UTF-8 throughout


def test_every_field_at_once_still_fits():
    class_name = "E" * 5000
    big = type(class_name, (Exception,), {})
    error = StepError(
        "m" * 100_000,
        data="d" * 100_000,
        stack_trace=["  File 'x.py', line 1, in f" + "t" * 3000] * 5000,
    )
    for err in (error_object(error), error_object(raised(big("x" * 100_000)))):
        assert max(wire_sizes(err)) < ERROR_OBJECT_LIMIT
        assert err.error_type is not None and len(err.error_type) <= 256


def test_a_lone_surrogate_does_not_break_the_error_object():
    err = error_object(ValueError("bad \udc80 byte"))
    json.dumps(to_wire(err), ensure_ascii=False).encode()
    assert to_wire(err).get("StackTrace") is None


def test_a_step_failing_with_a_40_kb_message_is_retried_and_caught_as_usual():
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        raise RuntimeError("x" * 40_000)

    def workflow():
        try:
            yield Step(flaky, retry=RetryPolicy.fixed(Duration(1), max_attempts=2))
        except StepError as err:
            return [err.error_type, err.message[:3], len(err.message) < 32_768]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["RuntimeError", "xxx", True]
    assert len(attempts) == 2


# --- §4.2 error data must be a string ---------------------------------------------------------


@pytest.mark.parametrize("cls", [OperationError, StepError, ChildContextError])
@pytest.mark.parametrize("data", [{"code": 7}, ["a"], 3, b"bytes"])
def test_error_data_that_is_not_a_string_is_rejected_with_how_to_fix_it(cls, data):
    with pytest.raises(ValidationError) as info:
        cls("boom", data=data)
    text = str(info.value)
    assert f"{cls.__name__} data must be a str" in text
    assert type(data).__name__ in text and "json.dumps" in text


def test_error_data_as_a_string_is_kept():
    assert StepError("boom", data=json.dumps({"code": 7})).data == '{"code": 7}'


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stack_trace": "one string"}, "stack_trace must be a list of str"),
        ({"stack_trace": [1, 2]}, "stack_trace must be a list of str"),
        ({"error_type": ValueError}, "error_type must be a str"),
    ],
)
def test_other_error_fields_are_checked_too(kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment):
        StepError("boom", **kwargs)


# --- §4.3 stack traces ------------------------------------------------------------------------


def failing_helper():
    raise ValueError("boom")


def test_an_exception_with_a_traceback_gets_its_stack_trace():
    try:
        failing_helper()
    except ValueError as exc:
        err = error_object(exc)
    assert err.stack_trace is not None  # a list on the wire (a tuple in the model)
    assert all(isinstance(line, str) and "\n" not in line for line in err.stack_trace)
    assert err.stack_trace[0] == "Traceback (most recent call last):"
    assert any("failing_helper" in line for line in err.stack_trace)
    assert err.stack_trace[-1] == "ValueError: boom"
    assert to_wire(err)["StackTrace"] == list(err.stack_trace)


def test_an_exception_never_raised_has_no_stack_trace():
    assert error_object(ValueError("boom")).stack_trace is None


def test_a_deep_stack_trace_is_bounded_keeping_its_start_and_end():
    def ping(n: int) -> None:  # alternating frames: Python does not fold them
        if n == 0:
            raise KeyError("bottom")
        pong(n - 1)

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(300)
    except KeyError as exc:
        err = error_object(exc)
    assert err.stack_trace is not None
    assert len(err.stack_trace) <= 200
    assert err.stack_trace[0] == "Traceback (most recent call last):"
    assert err.stack_trace[-1] == "KeyError: 'bottom'"
    assert any(line.startswith("… [") and "lines truncated]" in line for line in err.stack_trace)
    assert max(wire_sizes(err)) < ERROR_OBJECT_LIMIT


def test_an_operation_error_keeps_the_stack_trace_it_carries():
    err = error_object(StepError("boom", stack_trace=["at a", "at b"]))
    assert list(err.stack_trace or ()) == ["at a", "at b"]
    back = operation_error_from(StepError, err)
    assert back.stack_trace == ["at a", "at b"]


def test_a_step_failure_is_checkpointed_with_its_stack_trace():
    def broken() -> str:
        return failing_helper()

    def workflow():
        try:
            yield Step(broken, retry=RetryPolicy.none(), name="broken")
        except StepError as err:
            return err.stack_trace

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    checkpointed = run.operation("broken").step_details.error
    assert list(checkpointed.stack_trace) == run.result
    assert any("failing_helper" in line for line in run.result)
    assert run.result[-1] == "ValueError: boom"


# --- §4.4 the cause chain ---------------------------------------------------------------------


def test_is_caused_by_honours_subclasses():
    err = StepError("nope", error_type="KeyError")
    assert err.is_caused_by(LookupError)
    assert err.is_caused_by(Exception)
    assert err.is_caused_by(KeyError) and err.is_caused_by("KeyError")
    assert not err.is_caused_by(ValueError)
    assert not StepError("x", error_type="Exception").is_caused_by(ValueError)


def test_is_caused_by_knows_user_defined_subclasses():
    class PaymentError(Exception):
        pass

    class CardDeclined(PaymentError):
        pass

    assert step_error_from(CardDeclined("no")).is_caused_by(PaymentError)


def test_a_step_error_escaping_a_child_keeps_the_original_type_reachable():
    step_err = step_error_from(ValueError("card declined"))
    obj = error_object(step_err)
    assert obj.error_type == "StepError"  # what the reference writes for the context
    assert obj.error_message == "card declined"
    child_err = operation_error_from(ChildContextError, obj, name="pay")
    assert child_err.error_type == "StepError"
    assert child_err.is_caused_by(ValueError)
    assert child_err.is_caused_by(StepError)
    assert not child_err.is_caused_by(KeyError)
    cause = child_err.__cause__
    assert isinstance(cause, StepError) and cause.error_type == "ValueError"
    # the step's own trace survives, without the link lines
    assert child_err.stack_trace is not None
    assert child_err.stack_trace[-1] == "ValueError: card declined"


def test_the_chain_survives_nested_children_and_raise_from():
    def from_key_error() -> BaseException:
        try:
            {}["card"]
        except KeyError as exc:
            try:
                raise ValueError("card declined") from exc
            except ValueError as outer:
                return outer
        raise AssertionError

    inner = operation_error_from(StepError, error_object(from_key_error()))
    assert inner.is_caused_by(KeyError) and inner.is_caused_by(ValueError)
    child = operation_error_from(ChildContextError, error_object(inner))
    outer = operation_error_from(ChildContextError, error_object(child))
    for err in (child, outer):
        assert err.is_caused_by(KeyError) and err.is_caused_by(ValueError)
        assert err.is_caused_by(StepError) and err.is_caused_by(ChildContextError)
    # encoding again what was rebuilt gives the same object: a replay sees the same chain
    assert error_object(operation_error_from(ChildContextError, error_object(outer))) == (
        error_object(outer)
    )


def test_link_messages_round_trip_exactly():
    message = "two\nlines: with \\ backslash\r and Caused by: text"
    step_err = operation_error_from(
        StepError, error_object(StepError(message, error_type="Odd: Type"))
    )
    child = operation_error_from(ChildContextError, error_object(step_err))
    cause = child.__cause__
    assert isinstance(cause, StepError)
    assert cause.error_type == "Odd: Type" and cause.message == message


def test_own_trace_lines_that_look_like_links_are_not_taken_for_links():
    err = error_object(raised(ValueError("Caused by: KeyError: fake")))
    back = operation_error_from(StepError, err)
    assert not back.is_caused_by(KeyError)
    assert back.__cause__ is None


def test_a_child_failing_because_of_a_step_is_caused_by_the_steps_error_on_first_run_and_replay():
    seen: list[tuple[str, bool, bool]] = []

    def pay() -> str:
        raise ValueError("card declined")

    def payment():
        return (yield Step(pay, retry=RetryPolicy.none()))

    def workflow():
        try:
            yield Child(payment, name="payment")
        except ChildContextError as err:
            seen.append((err.error_type, err.is_caused_by(ValueError), err.is_caused_by(KeyError)))
        yield Wait(Duration.seconds(5))  # a second invocation replays the failed child
        return "done"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert len(seen) >= 2
    assert set(seen) == {("StepError", True, False)}
    assert run.operation("payment").context_details.error.error_type == "StepError"
