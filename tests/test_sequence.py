"""``run_sequence`` drives a workflow through expected yields, with no emulator or interpreter."""

from __future__ import annotations

import threading

import pytest
from returns.result import Failure, Success

from orchestra import (
    Child,
    ChildContextError,
    Duration,
    OperationError,
    RetryPolicy,
    Step,
    StepError,
    Wait,
)
from orchestra.testing import run_sequence


def charge(order_id: str, amount: int = 0) -> str:
    raise AssertionError("a step never runs in a sequence test")


def refund(order_id: str) -> str:
    raise AssertionError("a step never runs in a sequence test")


def checkout(order):
    try:
        receipt = yield Step(charge, order["id"], order["amount"], name="charge")
    except StepError as error:
        if not error.is_caused_by("TimeoutError"):
            raise
        yield Wait(Duration.minutes(5), name="cool-off")
        receipt = yield Step(charge, order["id"], order["amount"], name="charge again")
    return receipt


def fulfil(order_id):
    receipt = yield from Step(charge, order_id)
    outcome = yield Step(refund, order_id).attempt()
    note = yield Child(notify, order_id, name="notify")
    return receipt, outcome, note


def notify(order_id):
    yield Wait(60)
    return f"notified {order_id}"


ORDER = {"id": "o-1", "amount": 30}


# --- driving -----------------------------------------------------------------------------------


def test_matching_descriptors_get_their_results_and_the_return_value_comes_back():
    result = run_sequence(checkout, ORDER, [(Step(charge, "o-1", 30, name="charge"), "r-1")])
    assert result == "r-1"


def test_an_operation_error_is_thrown_in_at_the_yield():
    timeout = StepError("slow", error_type="TimeoutError")
    result = run_sequence(
        checkout,
        ORDER,
        [
            (Step(charge, "o-1", 30, name="charge"), timeout),
            (Wait(300, name="cool-off"), None),
            (Step(charge, "o-1", 30, name="charge again"), "r-2"),
        ],
    )
    assert result == "r-2"


def test_what_the_workflow_raises_after_the_last_entry_is_raised():
    declined = StepError("declined", error_type="ValueError")
    with pytest.raises(StepError, match="declined") as info:
        run_sequence(checkout, ORDER, [(Step(charge, "o-1", 30, name="charge"), declined)])
    assert info.value is declined


def test_types_and_predicates_match_too():
    result = run_sequence(
        checkout,
        ORDER,
        [
            (Step, StepError("slow", error_type="TimeoutError")),
            (Wait, None),
            (lambda op: op.name == "charge again" and op.args == ("o-1", 30), "r-3"),
        ],
    )
    assert result == "r-3"


def test_attempts_receive_success_or_failure_and_children_are_not_entered():
    attempt = Step(refund, "o-1").attempt()
    result = run_sequence(
        fulfil,
        "o-1",
        [(Step(charge, "o-1"), "r"), (attempt, "refunded"), (Child(notify, "o-1"), "sent")],
    )
    assert result == ("r", Success("refunded"), "sent")

    error = StepError("no refund")
    result = run_sequence(
        fulfil, "o-1", [(Step(charge, "o-1"), "r"), (attempt, error), (Child, "sent")]
    )
    assert result == ("r", Failure(error), "sent")

    given = Failure(ChildContextError("given as is"))
    result = run_sequence(fulfil, "o-1", [(Step, "r"), (attempt, given), (Child, "sent")])
    assert result[1] is given


def test_a_sub_workflow_is_tested_with_its_own_sequence():
    assert run_sequence(notify, "o-1", [(Wait(60), None)]) == "notified o-1"


def test_a_workflow_without_parameters_is_called_without_input():
    def no_input():
        yield Wait(1)
        return "done"

    assert run_sequence(no_input, None, [(Wait(1), None)]) == "done"


def test_retry_policies_are_not_compared():
    def workflow():
        return (yield Step(refund, "o-1", retry=RetryPolicy.none()))

    assert run_sequence(workflow, None, [(Step(refund, "o-1"), "ok")]) == "ok"


def test_no_threads_are_started():
    before = threading.active_count()
    run_sequence(checkout, ORDER, [(Step, "r")])
    assert threading.active_count() == before


def test_the_generator_is_closed_on_a_mismatch():
    closed = []

    def workflow():
        try:
            yield Wait(1)
            yield Wait(2)
        finally:
            closed.append(True)

    with pytest.raises(AssertionError):
        run_sequence(workflow, None, [(Wait(1), None), (Wait(3), None)])
    assert closed == [True]


# --- mismatches --------------------------------------------------------------------------------


def test_a_mismatch_names_the_position_what_was_expected_what_came_and_the_difference():
    with pytest.raises(AssertionError) as info:
        run_sequence(
            checkout,
            ORDER,
            [
                (Step, StepError("slow", error_type="TimeoutError")),
                (Wait(600, name="cool-off"), None),
            ],
        )
    message = str(info.value)
    assert "yield #2 does not match" in message
    assert "expected: Wait(600, name='cool-off')" in message
    assert "got:      Wait(300, name='cool-off')" in message
    assert "seconds 600 != 300" in message


@pytest.mark.parametrize(
    ("expected", "difference"),
    [
        (Step(refund, "o-1", 30, name="charge"), "function refund != charge"),
        (Step(charge, "o-2", 30, name="charge"), "args ('o-2', 30) != ('o-1', 30)"),
        (Step(charge, "o-1", 30, name="pay"), "name 'pay' != 'charge'"),
        (Step(charge, "o-1", kwargs={"amount": 30}, name="charge"), "kwargs"),
        (Wait(5), "type Wait != Step"),
        (Step(charge, "o-1", 30, name="charge").attempt(), "type Attempt != Step"),
        (Wait, "not a Wait"),
        (lambda op: op.name == "pay", "<lambda> returned false"),
    ],
)
def test_each_kind_of_mismatch_fails(expected, difference):
    with pytest.raises(AssertionError, match="yield #1 does not match") as info:
        run_sequence(checkout, ORDER, [(expected, "r")])
    assert difference in str(info.value)


def test_a_mismatch_inside_an_attempt_is_reported():
    entries = [(Step, "r"), (Step(charge, "o-1").attempt(), "x")]
    with pytest.raises(AssertionError, match="attempt of function charge != refund"):
        run_sequence(fulfil, "o-1", entries)


def test_an_extra_yield_fails():
    with pytest.raises(
        AssertionError,
        match=r"yield #2 is Wait\(300, name=.cool-off.\), but only 1 yield was expected",
    ):
        run_sequence(checkout, ORDER, [(Step, StepError("slow", error_type="TimeoutError"))])


def test_leftover_expectations_fail_when_the_workflow_returns():
    with pytest.raises(AssertionError, match=r"returned 'r' after 1 yield, but 1 more was") as info:
        run_sequence(checkout, ORDER, [(Step, "r"), (Wait(60), None)])
    assert "#2 Wait(60)" in str(info.value)


def test_leftover_expectations_fail_when_the_workflow_raises():
    declined = StepError("declined", error_type="ValueError")
    with pytest.raises(AssertionError, match="raised StepError") as info:
        run_sequence(checkout, ORDER, [(Step, declined), (Wait, None), (Step, "r")])
    assert "2 more were expected: #2 any Wait, #3 any Step" in str(info.value)
    assert info.value.__cause__ is declined


def test_a_plain_exception_as_a_result_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"StepError\('boom', error_type='ValueError'\)"):
        run_sequence(checkout, ORDER, [(Step, ValueError("boom"))])
    assert issubclass(StepError, OperationError)


def test_bad_entries_and_non_generators_are_refused():
    with pytest.raises(TypeError, match="entry #1 must be a"):
        run_sequence(checkout, ORDER, [Step])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="matcher 42"):
        run_sequence(checkout, ORDER, [(42, "r")])
    with pytest.raises(TypeError, match="not a generator function"):
        run_sequence(charge, "o-1", [])


def test_a_yield_when_none_was_expected_fails():
    with pytest.raises(AssertionError, match=r"yield #1 is Step.*but no yields were expected"):
        run_sequence(checkout, ORDER, [])
