"""Configuration values: durations, retry policies and step semantics.

All are immutable. A :class:`RetryPolicy` decides retries as a pure function of the error,
the number of attempts made and a random number supplied by the caller, so the interpreter
stays deterministic and testable.

Every value is checked when it is built, with a :class:`~orchestra.errors.ValidationError`
naming the field and the value received. Wherever a :class:`Duration` is expected, a
number of whole, non-negative seconds is accepted too (``RetryPolicy(initial_delay=2)``);
a fraction, a negative number or anything else is refused.

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
from typing import Any, final

import attrs

from orchestra.errors import ValidationError, describe_value

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
            raise ValidationError(
                f"Duration must be a whole number of seconds, got {describe_value(value)}"
            )
        if value < 0:
            raise ValidationError(f"Duration cannot be negative, got {value} s")

    @classmethod
    def seconds(cls, n: float) -> Duration:
        """A duration of ``n`` seconds (fractions are truncated)."""
        return cls(_whole(n, 1, "seconds"))

    @classmethod
    def minutes(cls, n: float) -> Duration:
        """A duration of ``n`` minutes."""
        return cls(_whole(n, 60, "minutes"))

    @classmethod
    def hours(cls, n: float) -> Duration:
        """A duration of ``n`` hours."""
        return cls(_whole(n, 3600, "hours"))

    @classmethod
    def days(cls, n: float) -> Duration:
        """A duration of ``n`` days.

        Example:
            >>> Duration.days("1")
            Traceback (most recent call last):
            ...
            orchestra.errors.ValidationError: Duration.days needs a number, got str '1'
        """
        return cls(_whole(n, 86400, "days"))

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.total_seconds + other.total_seconds)


def _whole(n: float, unit: int, what: str) -> int:
    """``n`` units as whole seconds (truncated), refusing what is not a finite number."""
    if isinstance(n, bool) or not isinstance(n, int | float):
        raise ValidationError(f"Duration.{what} needs a number, got {describe_value(n)}")
    if not math.isfinite(n):
        raise ValidationError(f"Duration.{what} needs a finite number, got {n}")
    return int(n * unit)


def as_duration(value: Duration | int | float, what: str) -> Duration:
    """Accept a Duration or a whole number of seconds, with an error naming ``what``.

    Example:
        >>> as_duration(90, "Wait duration")
        Duration(total_seconds=90)
        >>> as_duration("5", "RetryPolicy.initial_delay")
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: RetryPolicy.initial_delay must be a Duration or seconds, got str '5'
    """  # noqa: E501
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a Duration or seconds, got {describe_value(value)}")
    if not math.isfinite(value):
        raise ValidationError(f"{what} must be a whole number of seconds, got {value}")
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


_Patterns = str | re.Pattern[str] | Sequence[str | re.Pattern[str]] | None
_Types = type[BaseException] | Sequence[type[BaseException]] | None


def _patterns(values: _Patterns) -> tuple[str | re.Pattern[str], ...] | None:
    """``retryable_errors`` as a tuple; a str or a Pattern alone is one pattern."""
    if values is None:
        return None
    if isinstance(values, str | re.Pattern):
        return (values,)
    if not isinstance(values, Sequence | set | frozenset):
        raise ValidationError(
            "RetryPolicy.retryable_errors must be a str, a compiled re.Pattern or a list of "
            f"them, got {describe_value(values)}"
        )
    for value in values:
        if not isinstance(value, str | re.Pattern):
            raise ValidationError(
                "RetryPolicy.retryable_errors items must be str (a substring of the message) "
                f"or compiled re.Pattern, got {describe_value(value)}"
            )
    return tuple(values)


def _types(values: _Types) -> tuple[type[BaseException], ...] | None:
    """``retryable_error_types`` as a tuple; a class alone is one type."""
    if values is None:
        return None
    if isinstance(values, type):
        values = (values,)
    if not isinstance(values, Sequence | set | frozenset) or isinstance(values, str):
        raise ValidationError(
            "RetryPolicy.retryable_error_types must be an exception class or a list of them, "
            f"got {describe_value(values)}"
        )
    for value in values:
        if not (isinstance(value, type) and issubclass(value, BaseException)):
            hint = " (pass the class, not its name)" if isinstance(value, str) else ""
            raise ValidationError(
                "RetryPolicy.retryable_error_types items must be exception classes, "
                f"got {describe_value(value)}{hint}"
            )
    return tuple(values)


def _retry_delay(value: Duration | int | float, what: str) -> Duration:
    duration = as_duration(value, what)
    check_service_duration(duration, what)
    return duration


def _initial_delay(value: Duration | int | float) -> Duration:
    return _retry_delay(value, "RetryPolicy.initial_delay")


def _max_delay(value: Duration | int | float) -> Duration:
    return _retry_delay(value, "RetryPolicy.max_delay")


def _increment(value: Duration | int | float) -> Duration:
    duration = as_duration(value, "RetryPolicy.increment")
    if duration.total_seconds > MAX_DURATION_SECONDS:
        raise ValidationError(
            f"RetryPolicy.increment must be at most 366 days ({MAX_DURATION_SECONDS} s), "
            f"got {duration.total_seconds} s"
        )
    return duration


def _backoff_rate(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"RetryPolicy.backoff_rate must be a number, got {describe_value(value)}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(f"RetryPolicy.backoff_rate must be finite and > 0, got {value}")
    return float(value)


#: The one default policy (see :meth:`RetryPolicy.default`).
_DEFAULT_POLICY: dict[type, Any] = {}


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
    initial_delay: Duration = attrs.field(default=Duration(5), converter=_initial_delay)
    max_delay: Duration = attrs.field(default=Duration(300), converter=_max_delay)
    backoff_rate: float = attrs.field(default=2.0, converter=_backoff_rate)
    increment: Duration = attrs.field(default=Duration(0), converter=_increment)
    jitter: Jitter = attrs.field(default=Jitter.FULL)
    retryable_errors: tuple[str | re.Pattern[str], ...] | None = attrs.field(
        default=None, converter=_patterns
    )
    retryable_error_types: tuple[type[BaseException], ...] | None = attrs.field(
        default=None, converter=_types
    )

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                f"RetryPolicy.max_attempts must be an int >= 1, got {describe_value(value)}"
            )
        if value < 1:
            raise ValidationError(f"RetryPolicy.max_attempts must be >= 1, got {value}")

    @jitter.validator
    def _check_jitter(self, _: attrs.Attribute[Jitter], value: Any) -> None:
        if not isinstance(value, Jitter):
            raise ValidationError(
                f"RetryPolicy.jitter must be a Jitter (Jitter.FULL, Jitter.HALF or "
                f"Jitter.NONE), got {describe_value(value)}"
            )

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.initial_delay:
            raise ValidationError(
                f"RetryPolicy.max_delay ({self.max_delay.total_seconds} s) must be >= "
                f"initial_delay ({self.initial_delay.total_seconds} s)"
            )

    # --- presets ---------------------------------------------------------------------------

    @classmethod
    def default(cls) -> RetryPolicy:
        """6 attempts, 5 s doubling to at most 60 s, full jitter (a step's default).

        The policy is immutable, so every call returns the same instance (a step made
        without ``retry`` costs no policy construction).
        """
        default = _DEFAULT_POLICY.get(cls)
        if default is None:
            default = cls(max_attempts=6, initial_delay=Duration(5), max_delay=Duration(60))
            _DEFAULT_POLICY[cls] = default
        return default

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
        initial_delay: Duration | int = Duration(5),
        max_delay: Duration | int = Duration(300),
        backoff_rate: float = 2.0,
        jitter: Jitter = Jitter.FULL,
        retryable_errors: _Patterns = None,
        retryable_error_types: _Types = None,
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
        initial_delay: Duration | int = Duration(1),
        increment: Duration | int = Duration(1),
        max_delay: Duration | int = Duration(300),
        jitter: Jitter = Jitter.NONE,
        retryable_errors: _Patterns = None,
        retryable_error_types: _Types = None,
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
        interval: Duration | int = Duration(5),
        *,
        max_attempts: int = 5,
        retryable_errors: _Patterns = None,
        retryable_error_types: _Types = None,
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
