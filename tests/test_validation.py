"""Validation at the line that made the mistake: descriptors and config values."""

from __future__ import annotations

import math
import re

import pytest

from orchestra import (
    Child,
    Duration,
    Jitter,
    RetryPolicy,
    Step,
    StepSemantics,
    ValidationError,
    Wait,
)
from orchestra.ops import Attempt


def charge(order_id: str) -> str:
    return order_id


def sub(n: int):
    return (yield Step(charge, str(n)))


# --- RetryPolicy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_attempts": True}, "RetryPolicy.max_attempts must be an int >= 1, got bool True"),
        ({"max_attempts": 2.5}, "RetryPolicy.max_attempts must be an int >= 1, got float 2.5"),
        ({"max_attempts": "3"}, "RetryPolicy.max_attempts must be an int >= 1, got str '3'"),
        ({"max_attempts": 0}, "RetryPolicy.max_attempts must be >= 1, got 0"),
        ({"initial_delay": "5"}, "RetryPolicy.initial_delay must be a Duration or seconds"),
        ({"initial_delay": 1.5}, "RetryPolicy.initial_delay must be a whole number of seconds"),
        ({"initial_delay": -1}, "RetryPolicy.initial_delay cannot be negative"),
        ({"initial_delay": 0}, "RetryPolicy.initial_delay must be at least 1 second, got 0 s"),
        ({"initial_delay": Duration(0)}, "RetryPolicy.initial_delay must be at least 1 second"),
        ({"max_delay": Duration.days(367)}, "RetryPolicy.max_delay must be at most 366 days"),
        ({"max_delay": math.inf}, "RetryPolicy.max_delay must be a whole number of seconds"),
        (
            {"initial_delay": 10, "max_delay": 5},
            r"max_delay \(5 s\) must be >= initial_delay \(10 s\)",
        ),
        ({"backoff_rate": 0}, "RetryPolicy.backoff_rate must be finite and > 0, got 0"),
        ({"backoff_rate": -2.0}, "RetryPolicy.backoff_rate must be finite and > 0"),
        ({"backoff_rate": math.nan}, "RetryPolicy.backoff_rate must be finite and > 0, got nan"),
        ({"backoff_rate": math.inf}, "RetryPolicy.backoff_rate must be finite and > 0, got inf"),
        ({"backoff_rate": "2"}, "RetryPolicy.backoff_rate must be a number, got str '2'"),
        ({"backoff_rate": True}, "RetryPolicy.backoff_rate must be a number, got bool True"),
        ({"increment": -1}, "RetryPolicy.increment cannot be negative"),
        ({"increment": Duration.days(400)}, "RetryPolicy.increment must be at most 366 days"),
        ({"jitter": "FULL"}, "RetryPolicy.jitter must be a Jitter .*, got str 'FULL'"),
        ({"jitter": None}, "RetryPolicy.jitter must be a Jitter"),
        ({"retryable_errors": 5}, "RetryPolicy.retryable_errors must be a str, a compiled"),
        ({"retryable_errors": ["ok", 5]}, "retryable_errors items must be str .*, got int 5"),
        ({"retryable_error_types": int}, "retryable_error_types items must be exception classes"),
        ({"retryable_error_types": [KeyError, "ValueError"]}, "not its name"),
        ({"retryable_error_types": ValueError()}, "must be an exception class or a list of them"),
        ({"retryable_error_types": "ValueError"}, "must be an exception class or a list of them"),
    ],
)
def test_retry_policy_rejects_bad_values_naming_field_and_value(kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment):
        RetryPolicy(**kwargs)


def test_retry_policy_builders_validate_too():
    with pytest.raises(ValidationError, match=r"RetryPolicy\.max_attempts"):
        RetryPolicy.fixed(max_attempts=0)
    with pytest.raises(ValidationError, match=r"RetryPolicy\.initial_delay"):
        RetryPolicy.exponential(initial_delay=Duration(0))
    with pytest.raises(ValidationError, match=r"RetryPolicy\.increment"):
        RetryPolicy.linear(increment=-1)


def test_whole_seconds_are_accepted_where_a_duration_is_expected():
    policy = RetryPolicy(initial_delay=2, max_delay=60.0, increment=3)
    assert policy.initial_delay == Duration(2)
    assert policy.max_delay == Duration(60)
    assert policy.increment == Duration(3)
    assert RetryPolicy.fixed(7).max_delay == Duration(7)
    assert RetryPolicy(backoff_rate=3).backoff_rate == 3.0


def test_a_string_passed_as_retryable_errors_is_one_pattern():
    policy = RetryPolicy(retryable_errors="timeout")
    assert policy.retryable_errors == ("timeout",)
    assert policy.is_retryable(RuntimeError("read timeout"))
    assert not policy.is_retryable(RuntimeError("out of memory"))  # shares letters only


def test_a_compiled_pattern_passed_alone_is_one_pattern():
    pattern = re.compile(r"^5\d\d")
    policy = RetryPolicy.fixed(retryable_errors=pattern)
    assert policy.retryable_errors == (pattern,)
    assert policy.is_retryable(RuntimeError("503")) and not policy.is_retryable(RuntimeError("4"))


def test_a_single_exception_class_is_accepted_as_retryable_error_types():
    policy = RetryPolicy(retryable_error_types=ConnectionError)
    assert policy.retryable_error_types == (ConnectionError,)
    assert policy.is_retryable(ConnectionResetError()) and not policy.is_retryable(ValueError())


@pytest.mark.parametrize(
    ("factory", "value", "fragment"),
    [
        (Duration.seconds, "5", "Duration.seconds needs a number, got str '5'"),
        (Duration.minutes, math.nan, "Duration.minutes needs a finite number"),
        (Duration.hours, None, "Duration.hours needs a number, got NoneType None"),
        (Duration.days, True, "Duration.days needs a number, got bool True"),
    ],
)
def test_duration_factories_refuse_what_is_not_a_number(factory, value, fragment):
    with pytest.raises(ValidationError, match=fragment):
        factory(value)


# --- descriptors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Step(charge, "1", retry=3),
            "Step 'charge': retry must be a RetryPolicy, got int 3",
        ),
        (
            lambda: Step(charge, "1", name="pay", retry="none"),
            "Step 'pay': retry must be a RetryPolicy, got str 'none'",
        ),
        (
            lambda: Step(charge, "1", semantics="AT_MOST_ONCE_PER_RETRY"),
            "Step 'charge': semantics must be a StepSemantics",
        ),
        (
            lambda: Step(charge, "1", serde=object()),
            r"Step 'charge': serde must have serialize\(value\) -> str and deserialize\(str\)",
        ),
        (
            lambda: Step(charge, kwargs=[("order_id", "1")]),
            "Step 'charge': kwargs must be a mapping",
        ),
        (lambda: Step(charge, kwargs={1: "x"}), "Step 'charge': kwargs keys must be str"),
        (lambda: Step(charge, "1", name=3), "Step: name must be a str .*, got int 3"),
        (lambda: Child(sub, 1, virtual="yes"), "Child 'sub': virtual must be a bool, got str"),
        (lambda: Child(sub, 1, name=["x"]), "Child: name must be a str .*, got list"),
        (lambda: Child(sub, 1, serde="json"), "Child 'sub': serde must have serialize"),
        (lambda: Child(sub, kwargs="n=1"), "Child 'sub': kwargs must be a mapping"),
        (lambda: Wait(5, name=3), "Wait: name must be a str .*, got int 3"),
        (lambda: Wait("5"), "Wait duration must be a Duration or seconds, got str '5'"),
        (lambda: Wait(0, name="nap"), "Wait 'nap' duration must be at least 1 second, got 0 s"),
        (lambda: Attempt(charge), "Attempt needs an operation such as Step"),
    ],
)
def test_descriptors_reject_bad_arguments_naming_descriptor_and_field(build, message):
    with pytest.raises(ValidationError, match=message):
        build()


def test_the_retry_hint_points_at_a_policy_for_a_number_of_attempts():
    with pytest.raises(ValidationError, match=r"RetryPolicy\.fixed\(max_attempts=3\)"):
        Step(charge, "1", retry=3)  # type: ignore[arg-type]


def test_good_arguments_are_still_accepted():
    class Codec:
        def serialize(self, value: str) -> str:
            return value

        def deserialize(self, data: str) -> str:
            return data

    step = Step(
        charge,
        kwargs={"order_id": "1"},
        retry=RetryPolicy.none(),
        semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        serde=Codec(),
    )
    assert step.kwargs == {"order_id": "1"} and step.name == "charge"
    assert Child(sub, 1, virtual=True, serde=Codec()).virtual
    assert Wait(Duration.seconds(5), name="nap").seconds == 5
    assert RetryPolicy(jitter=Jitter.NONE).jitter is Jitter.NONE
