"""The completion policy of Map and Parallel (protocol.md §4.9)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.completion import Completion, CompletionReason
from orchestra.errors import ValidationError
from orchestra.results import BatchItem

ALL = CompletionReason.ALL_COMPLETED
MIN = CompletionReason.MIN_SUCCESSFUL_REACHED
TOL = CompletionReason.FAILURE_TOLERANCE_EXCEEDED


def items(pattern: str) -> list[BatchItem[Any]]:
    """``"ssf."``: succeeded, succeeded, failed, started (index order)."""
    out: list[BatchItem[Any]] = []
    for i, c in enumerate(pattern):
        if c == "s":
            out.append(BatchItem.success(i, i))
        elif c == "f":
            out.append(BatchItem.failure(i, ValueError(f"bad {i}")))
        else:
            out.append(BatchItem.started(i))
    return out


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, -100])
def test_min_successful_must_be_at_least_one(value: int) -> None:
    with pytest.raises(ValidationError, match=rf"min_successful must be at least 1, got {value}"):
        Completion(min_successful=value)


@pytest.mark.parametrize("value", [-1, -5])
def test_tolerated_failures_cannot_be_negative(value: int) -> None:
    with pytest.raises(
        ValidationError, match=rf"tolerated_failures must be at least 0, got {value}"
    ):
        Completion(tolerated_failures=value)


@pytest.mark.parametrize("value", [-0.1, 100.5, 101, -1, math.nan, math.inf, -math.inf])
def test_percentage_must_be_between_0_and_100(value: float) -> None:
    with pytest.raises(ValidationError, match="tolerated_failure_percentage must be between"):
        Completion(tolerated_failure_percentage=value)


@pytest.mark.parametrize(
    "field", ["min_successful", "tolerated_failures", "tolerated_failure_percentage"]
)
@pytest.mark.parametrize("value", [True, False, "1", 1.0 + 0j, [1]])
def test_counts_refuse_bools_and_other_types(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=rf"Completion\.{field} must be"):
        Completion(**{field: value})  # type: ignore[arg-type]


def test_integral_floats_are_not_counts() -> None:
    with pytest.raises(ValidationError, match="min_successful must be an int or None, got float"):
        Completion(min_successful=1.0)  # type: ignore[arg-type]


def test_predicate_must_be_callable() -> None:
    with pytest.raises(ValidationError, match="should_complete must be callable or None, got int"):
        Completion(should_complete=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, 50, 12.5, 100, 100.0])
def test_percentage_bounds_are_inclusive(value: float) -> None:
    assert Completion(tolerated_failure_percentage=value).tolerated_failure_percentage == value


def test_completion_is_a_frozen_value() -> None:
    assert Completion(min_successful=2) == Completion(min_successful=2)
    assert hash(Completion.all_successful()) == hash(Completion.all_successful())
    with pytest.raises(AttributeError):
        Completion().min_successful = 3  # type: ignore[misc]


# --- helpers ----------------------------------------------------------------------------------


def test_helpers() -> None:
    assert Completion.all_successful() == Completion(
        tolerated_failures=0, tolerated_failure_percentage=0
    )
    assert Completion.all_completed() == Completion(tolerated_failure_percentage=100)
    assert Completion.first_successful() == Completion(min_successful=1)
    assert not Completion().has_criteria
    assert Completion(should_complete=lambda _: False).has_criteria


# --- check_total ------------------------------------------------------------------------------


def test_min_successful_above_total_is_refused_naming_the_operation() -> None:
    with pytest.raises(
        ValidationError,
        match=r"^Map 'charge': completion min_successful=4 exceeds the number of items \(3\)$",
    ):
        Completion(min_successful=4).check_total(3, "Map 'charge'")


@pytest.mark.parametrize("completion", [Completion(), Completion.all_completed()])
def test_check_total_accepts_anything_without_min_successful(completion: Completion) -> None:
    completion.check_total(0, "Parallel 'p'")


def test_check_total_accepts_min_successful_equal_to_total() -> None:
    Completion(min_successful=3).check_total(3, "Map 'm'")
    with pytest.raises(ValidationError, match="Parallel 'p'"):
        Completion(min_successful=1).check_total(0, "Parallel 'p'")


# --- tolerance --------------------------------------------------------------------------------


def test_no_criteria_is_fail_fast() -> None:
    assert not Completion().tolerance_exceeded(10, 0)
    assert Completion().tolerance_exceeded(10, 1)


def test_all_successful_is_fail_fast_too() -> None:
    assert not Completion.all_successful().tolerance_exceeded(10, 0)
    assert Completion.all_successful().tolerance_exceeded(10, 1)


def test_tolerated_failures_is_a_strict_bound() -> None:
    policy = Completion(tolerated_failures=2)
    assert not policy.tolerance_exceeded(5, 2)
    assert policy.tolerance_exceeded(5, 3)


def test_percentage_exceeded_only_when_strictly_greater() -> None:
    policy = Completion(tolerated_failure_percentage=25)
    assert not policy.tolerance_exceeded(4, 1)  # exactly 25 %
    assert policy.tolerance_exceeded(4, 2)
    assert not Completion(tolerated_failure_percentage=0).tolerance_exceeded(4, 0)
    assert Completion(tolerated_failure_percentage=0).tolerance_exceeded(4, 1)
    assert not Completion(tolerated_failure_percentage=100).tolerance_exceeded(4, 4)


def test_percentage_on_no_items_is_never_exceeded() -> None:
    assert not Completion(tolerated_failure_percentage=0).tolerance_exceeded(0, 0)


def test_either_tolerance_exceeded_is_enough() -> None:
    policy = Completion(tolerated_failures=10, tolerated_failure_percentage=10)
    assert policy.tolerance_exceeded(10, 2)  # 20 % > 10 %, though 2 <= 10
    policy = Completion(tolerated_failures=1, tolerated_failure_percentage=90)
    assert policy.tolerance_exceeded(10, 2)  # 2 > 1, though 20 % <= 90 %


def test_min_successful_alone_never_exceeds_tolerance() -> None:
    policy = Completion(min_successful=3)
    assert not policy.tolerance_exceeded(5, 5)
    assert policy.decide(5, items("fffff")) is ALL


def test_predicate_alone_adds_no_tolerance() -> None:
    policy = Completion(should_complete=lambda _: False)
    assert not policy.tolerance_exceeded(3, 3)
    assert policy.decide(3, items("ff")) is None
    assert policy.decide(3, items("fff")) is ALL


# --- decide -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion",
    [
        Completion(),
        Completion.all_successful(),
        Completion.all_completed(),
        Completion.first_successful(),
        Completion(min_successful=1, should_complete=lambda _: True),
    ],
)
def test_zero_items_complete_at_once(completion: Completion) -> None:
    assert completion.decide(0, []) is ALL


@pytest.mark.parametrize(
    ("completion", "total", "pattern", "expected"),
    [
        # fail fast (the Map default)
        (Completion(), 3, "", None),
        (Completion(), 3, "ss", None),
        (Completion(), 3, "sss", ALL),
        (Completion(), 3, "f", TOL),
        (Completion(), 3, "ssf", TOL),  # tolerance is checked before "all completed"
        # Parallel's default
        (Completion.all_successful(), 2, "s", None),
        (Completion.all_successful(), 2, "sf", TOL),
        (Completion.all_successful(), 2, "ss", ALL),
        # all_completed: every branch runs
        (Completion.all_completed(), 3, "ff", None),
        (Completion.all_completed(), 3, "fff", ALL),
        # first_successful
        (Completion.first_successful(), 3, "f", None),
        (Completion.first_successful(), 3, "ff", None),
        (Completion.first_successful(), 3, "ffs", ALL),  # all done: ALL beats MIN
        (Completion.first_successful(), 3, "fs", MIN),
        (Completion.first_successful(), 1, "s", ALL),
        # min_successful with tolerances
        (Completion(min_successful=2, tolerated_failures=1), 4, "sf", None),
        (Completion(min_successful=2, tolerated_failures=1), 4, "sfs", MIN),
        (Completion(min_successful=2, tolerated_failures=1), 4, "sff", TOL),
        (Completion(min_successful=2, tolerated_failures=1), 4, "ffss", TOL),
        # percentage
        (Completion(tolerated_failure_percentage=50), 4, "ff", None),
        (Completion(tolerated_failure_percentage=50), 4, "ffs", None),
        (Completion(tolerated_failure_percentage=50), 4, "ffss", ALL),
        (Completion(tolerated_failure_percentage=50), 4, "fff", TOL),
        # tolerated count
        (Completion(tolerated_failures=1), 3, "fs", None),
        (Completion(tolerated_failures=1), 3, "fss", ALL),
        (Completion(tolerated_failures=0), 3, "f", TOL),
    ],
)
def test_decide(
    completion: Completion, total: int, pattern: str, expected: CompletionReason | None
) -> None:
    assert completion.decide(total, items(pattern)) is expected


def test_started_items_are_not_counted() -> None:
    assert Completion().decide(2, items("s.")) is None
    assert Completion().decide(2, items("..")) is None


def test_predicate_completes_with_min_successful_reached() -> None:
    seen: list[list[int]] = []

    def found_two(so_far: Sequence[BatchItem[Any]]) -> bool:
        seen.append([item.index for item in so_far])
        return sum(1 for item in so_far if item.value is not None) >= 2

    policy = Completion(tolerated_failure_percentage=100, should_complete=found_two)
    assert policy.decide(5, items("s")) is None
    assert policy.decide(5, items("sf")) is None
    assert policy.decide(5, items("sfs")) is MIN
    assert seen == [[0], [0, 1], [0, 1, 2]]


def test_predicate_reason_is_all_completed_when_everything_ended() -> None:
    policy = Completion(tolerated_failure_percentage=100, should_complete=lambda _: True)
    assert policy.decide(2, items("sf")) is ALL
    assert policy.decide(2, items("s")) is MIN


def test_predicate_is_not_asked_once_tolerance_is_exceeded() -> None:
    def never(_: Sequence[BatchItem[Any]]) -> bool:
        raise AssertionError("not asked")

    policy = Completion(tolerated_failures=0, should_complete=never)
    assert policy.decide(3, items("f")) is TOL


def test_predicate_with_min_successful() -> None:
    policy = Completion(min_successful=3, should_complete=lambda so_far: len(so_far) >= 2)
    assert policy.decide(5, items("s")) is None
    assert policy.decide(5, items("ss")) is MIN


# --- properties -------------------------------------------------------------------------------

completions = st.builds(
    Completion,
    min_successful=st.none() | st.integers(1, 8),
    tolerated_failures=st.none() | st.integers(0, 8),
    tolerated_failure_percentage=st.none()
    | st.integers(0, 100)
    | st.floats(0, 100, allow_nan=False),
)


@given(completions, st.text("sf", max_size=8), st.integers(0, 4))
def test_decide_follows_the_rules(completion: Completion, pattern: str, extra: int) -> None:
    total = len(pattern) + extra
    got = completion.decide(total, items(pattern))
    s, f = pattern.count("s"), pattern.count("f")
    if total == 0:
        assert got is ALL
        return
    if completion.tolerance_exceeded(total, f):
        assert got is TOL
    elif s + f >= total:
        assert got is ALL
    elif completion.min_successful is not None and s >= completion.min_successful:
        assert got is MIN
    else:
        assert got is None
    no_tolerance = (
        completion.tolerated_failures is None and completion.tolerated_failure_percentage is None
    )
    if no_tolerance and completion.min_successful is not None:
        assert got is not TOL  # min_successful alone adds no tolerance


@given(completions, st.integers(0, 20), st.integers(0, 20))
def test_tolerance_is_monotonic_in_failures(completion: Completion, total: int, f: int) -> None:
    if completion.tolerance_exceeded(total, f):
        assert completion.tolerance_exceeded(total, f + 1)
