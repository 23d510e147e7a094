"""Retry policies: presets, builders, jitter and error filters."""

from __future__ import annotations

import re

import pytest

from orchestra import Duration, Jitter, RetryPolicy


@pytest.mark.parametrize(
    ("policy", "attempts", "initial", "maximum", "rate", "jitter"),
    [
        (RetryPolicy.default(), 6, 5, 60, 2.0, Jitter.FULL),
        (RetryPolicy.none(), 1, 5, 300, 2.0, Jitter.FULL),
        (RetryPolicy.transient(), 3, 5, 300, 2.0, Jitter.HALF),
        (RetryPolicy.resource_availability(), 5, 5, 300, 2.0, Jitter.FULL),
        (RetryPolicy.critical(), 10, 1, 60, 1.5, Jitter.NONE),
        (RetryPolicy.fixed(), 5, 5, 5, 1.0, Jitter.NONE),
    ],
)
def test_presets_match_the_reference_numbers(policy, attempts, initial, maximum, rate, jitter):
    assert policy.max_attempts == attempts
    assert policy.initial_delay == Duration(initial)
    assert policy.max_delay == Duration(maximum)
    assert policy.backoff_rate == rate
    assert policy.jitter is jitter


def test_exponential_delays_grow_and_are_capped():
    policy = RetryPolicy.exponential(
        max_attempts=10,
        initial_delay=Duration(2),
        backoff_rate=3,
        max_delay=Duration(50),
        jitter=Jitter.NONE,
    )
    assert [policy.delay_for(n, 0.0) for n in range(1, 6)] == [2, 6, 18, 50, 50]


def test_linear_delays_grow_by_the_increment():
    policy = RetryPolicy.linear(initial_delay=Duration(1), increment=Duration(2))
    assert [policy.delay_for(n, 0.0) for n in range(1, 5)] == [1, 3, 5, 7]


def test_full_jitter_stays_between_one_second_and_the_base():
    policy = RetryPolicy.default()
    delays = {policy.delay_for(1, r / 100) for r in range(100)}
    assert min(delays) == 1 and max(delays) == 5


def test_half_jitter_keeps_at_least_half_the_base():
    policy = RetryPolicy.transient()
    assert policy.delay_for(2, 0.0) == 5 and policy.delay_for(2, 0.99) == 10


class TransientError(Exception):
    pass


def test_retryable_filters_by_type_or_message_pattern():
    by_type = RetryPolicy.fixed(retryable_error_types=[TransientError])
    assert by_type.is_retryable(TransientError()) and not by_type.is_retryable(ValueError())
    by_message = RetryPolicy.fixed(retryable_errors=["timeout", re.compile(r"^5\d\d")])
    assert by_message.is_retryable(RuntimeError("read timeout"))
    assert by_message.is_retryable(RuntimeError("503 unavailable"))
    assert not by_message.is_retryable(RuntimeError("404"))


def test_exhaustion_stops_retrying():
    policy = RetryPolicy.fixed(max_attempts=3)
    assert policy.decide(ValueError(), attempts_made=2, random=0.5).should_retry
    assert not policy.decide(ValueError(), attempts_made=3, random=0.5).should_retry


def test_max_attempts_must_be_positive():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
