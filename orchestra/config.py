"""Configuration values: durations, retry policies and step semantics.

All are immutable. A :class:`RetryPolicy` decides retries as a pure function of the error,
the number of attempts made and a random number supplied by the caller, so the interpreter
stays deterministic and testable.

Example:
    >>> policy = RetryPolicy.exponential(max_attempts=3, initial_delay=Duration.seconds(2),
    ...                                  jitter=Jitter.NONE)
    >>> policy.decide(ValueError("boom"), attempts_made=1, random=0.5)
    RetryDecision(should_retry=True, delay_seconds=2)
    >>> policy.decide(ValueError("boom"), attempts_made=3, random=0.5)
    RetryDecision(should_retry=False, delay_seconds=0)
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from typing import final

import attrs

from orchestra.errors import ValidationError

__all__ = [
    "MAX_DURATION_SECONDS",
    "Duration",
    "Jitter",
    "RetryDecision",
    "RetryPolicy",
    "StepSemantics",
]

#: The service's upper bound for a wait or retry delay: 366 days.
MAX_DURATION_SECONDS = 366 * 24 * 3600


@final
@attrs.frozen(order=True)
class Duration:
    """A whole number of seconds, never negative.

    Example:
        >>> Duration.minutes(2).total_seconds
        120
        >>> Duration.hours(1) + Duration.seconds(5)
        Duration(total_seconds=3605)
    """

    total_seconds: int = attrs.field()

    @total_seconds.validator
    def _check(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"Duration must be a whole number of seconds, got {value!r}")
        if value < 0:
            raise ValidationError(f"Duration cannot be negative, got {value} s")

    @classmethod
    def seconds(cls, n: float) -> Duration:
        """A duration of ``n`` seconds (fractions are truncated)."""
        return cls(int(n))

    @classmethod
    def minutes(cls, n: float) -> Duration:
        """A duration of ``n`` minutes."""
        return cls(int(n * 60))

    @classmethod
    def hours(cls, n: float) -> Duration:
        """A duration of ``n`` hours."""
        return cls(int(n * 3600))

    @classmethod
    def days(cls, n: float) -> Duration:
        """A duration of ``n`` days."""
        return cls(int(n * 86400))

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.total_seconds + other.total_seconds)


def as_duration(value: Duration | int | float, what: str) -> Duration:
    """Accept a Duration or a number of seconds, with an error naming ``what``."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a Duration or seconds, got {value!r}")
    if value < 0:
        raise ValidationError(f"{what} cannot be negative, got {value} s")
    if value != int(value):
        raise ValidationError(f"{what} must be a whole number of seconds, got {value} s")
    return Duration(int(value))


def check_service_duration(duration: Duration, what: str) -> int:
    """Check that ``duration`` is within the service's 1 s to 366 days; return seconds."""
    seconds = duration.total_seconds
    if seconds < 1:
        raise ValidationError(f"{what} must be at least 1 second, got {seconds} s")
    if seconds > MAX_DURATION_SECONDS:
        raise ValidationError(
            f"{what} must be at most 366 days ({MAX_DURATION_SECONDS} s), got {seconds} s"
        )
    return seconds


class Jitter(enum.Enum):
    """How a retry delay is randomised."""

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"

    def apply(self, delay: float, random: float) -> float:
        """Apply the jitter to ``delay`` given a uniform ``random`` in [0, 1)."""
        if self is Jitter.FULL:
            return delay * random
        if self is Jitter.HALF:
            return delay / 2 + (delay / 2) * random
        return delay


class StepSemantics(enum.Enum):
    """How often a step body may run per retry attempt.

    ``AT_LEAST_ONCE_PER_RETRY`` (the default) re-runs an attempt that a crash interrupted.
    ``AT_MOST_ONCE_PER_RETRY`` checkpoints START before running, and counts an interrupted
    attempt as failed with :class:`~orchestra.errors.StepInterruptedError`; the retry policy
    then decides.
    """

    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"
    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"


@final
@attrs.frozen
class RetryDecision:
    """Whether to retry, and after how many seconds."""

    should_retry: bool
    delay_seconds: int


def _patterns(
    values: Sequence[str | re.Pattern[str]] | None,
) -> tuple[str | re.Pattern[str], ...] | None:
    return None if values is None else tuple(values)


def _types(values: Sequence[type[BaseException]] | None) -> tuple[type[BaseException], ...] | None:
    return None if values is None else tuple(values)


@final
@attrs.frozen
class RetryPolicy:
    """When and how long to wait before re-running a failed step.

    The delay for attempt ``n`` (1-based attempts made) is
    ``min(initial * backoff ** (n - 1) + increment * (n - 1), max)``, jittered and rounded
    up to a whole second (at least 1). An error is retried if its type is one of
    ``retryable_error_types`` or its message matches one of ``retryable_errors`` (substring
    or compiled regex); with neither list given, every error is retryable.

    Example:
        >>> RetryPolicy.none().decide(RuntimeError(), attempts_made=1, random=0.0).should_retry
        False
        >>> only = RetryPolicy.fixed(Duration.seconds(1), retryable_error_types=[KeyError])
        >>> only.decide(ValueError(), attempts_made=1, random=0.0).should_retry
        False
    """

    max_attempts: int = attrs.field(default=3)
    initial_delay: Duration = Duration(5)
    max_delay: Duration = Duration(300)
    backoff_rate: float = 2.0
    increment: Duration = Duration(0)
    jitter: Jitter = Jitter.FULL
    retryable_errors: tuple[str | re.Pattern[str], ...] | None = attrs.field(
        default=None, converter=_patterns
    )
    retryable_error_types: tuple[type[BaseException], ...] | None = attrs.field(
        default=None, converter=_types
    )

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValidationError(f"RetryPolicy.max_attempts must be >= 1, got {value}")

    # --- presets ---------------------------------------------------------------------------

    @classmethod
    def default(cls) -> RetryPolicy:
        """6 attempts, 5 s doubling to at most 60 s, full jitter (a step's default)."""
        return cls(max_attempts=6, initial_delay=Duration(5), max_delay=Duration(60))

    @classmethod
    def none(cls) -> RetryPolicy:
        """Never retry: the first failure is final."""
        return cls(max_attempts=1)

    @classmethod
    def transient(cls) -> RetryPolicy:
        """3 attempts, 5 s doubling, half jitter."""
        return cls(max_attempts=3, jitter=Jitter.HALF)

    @classmethod
    def resource_availability(cls) -> RetryPolicy:
        """5 attempts, 5 s doubling to at most 300 s, full jitter."""
        return cls(max_attempts=5)

    @classmethod
    def critical(cls) -> RetryPolicy:
        """10 attempts, 1 s growing by 1.5x to at most 60 s, no jitter."""
        return cls(
            max_attempts=10,
            initial_delay=Duration(1),
            max_delay=Duration(60),
            backoff_rate=1.5,
            jitter=Jitter.NONE,
        )

    # --- builders --------------------------------------------------------------------------

    @classmethod
    def exponential(
        cls,
        *,
        max_attempts: int = 3,
        initial_delay: Duration = Duration(5),
        max_delay: Duration = Duration(300),
        backoff_rate: float = 2.0,
        jitter: Jitter = Jitter.FULL,
        retryable_errors: Sequence[str | re.Pattern[str]] | None = None,
        retryable_error_types: Sequence[type[BaseException]] | None = None,
    ) -> RetryPolicy:
        """Delays grow by ``backoff_rate`` from ``initial_delay`` up to ``max_delay``."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            backoff_rate=backoff_rate,
            jitter=jitter,
            retryable_errors=retryable_errors,
            retryable_error_types=retryable_error_types,
        )

    @classmethod
    def linear(
        cls,
        *,
        max_attempts: int = 6,
        initial_delay: Duration = Duration(1),
        increment: Duration = Duration(1),
        max_delay: Duration = Duration(300),
        jitter: Jitter = Jitter.NONE,
        retryable_errors: Sequence[str | re.Pattern[str]] | None = None,
        retryable_error_types: Sequence[type[BaseException]] | None = None,
    ) -> RetryPolicy:
        """Delays grow by ``increment`` from ``initial_delay`` up to ``max_delay``."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            backoff_rate=1.0,
            increment=increment,
            jitter=jitter,
            retryable_errors=retryable_errors,
            retryable_error_types=retryable_error_types,
        )

    @classmethod
    def fixed(
        cls,
        interval: Duration = Duration(5),
        *,
        max_attempts: int = 5,
        retryable_errors: Sequence[str | re.Pattern[str]] | None = None,
        retryable_error_types: Sequence[type[BaseException]] | None = None,
    ) -> RetryPolicy:
        """The same ``interval`` before every retry, no jitter."""
        return cls(
            max_attempts=max_attempts,
            initial_delay=interval,
            max_delay=interval,
            backoff_rate=1.0,
            jitter=Jitter.NONE,
            retryable_errors=retryable_errors,
            retryable_error_types=retryable_error_types,
        )

    # --- behaviour -------------------------------------------------------------------------

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` passes the policy's type and message filters."""
        if self.retryable_errors is None and self.retryable_error_types is None:
            return True
        if self.retryable_error_types and isinstance(error, self.retryable_error_types):
            return True
        message = str(error)
        for pattern in self.retryable_errors or ():
            if isinstance(pattern, str):
                if pattern in message:
                    return True
            elif pattern.search(message):
                return True
        return False

    def delay_for(self, attempts_made: int, random: float) -> int:
        """The delay in whole seconds before the attempt after ``attempts_made``."""
        n = attempts_made - 1
        base = (
            self.initial_delay.total_seconds * self.backoff_rate**n
            + self.increment.total_seconds * n
        )
        base = min(base, float(self.max_delay.total_seconds))
        return max(1, math.ceil(self.jitter.apply(base, random)))

    def decide(self, error: BaseException, *, attempts_made: int, random: float) -> RetryDecision:
        """Decide whether to retry after ``attempts_made`` failed attempts."""
        if attempts_made >= self.max_attempts or not self.is_retryable(error):
            return RetryDecision(should_retry=False, delay_seconds=0)
        return RetryDecision(should_retry=True, delay_seconds=self.delay_for(attempts_made, random))
