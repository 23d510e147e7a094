"""Wait for a condition: poll with a check function until a strategy says stop.

``WaitForCondition(check, initial_state, strategy)`` runs ``check(state)`` as a step (on a
worker thread), asks ``strategy(new_state, attempt)`` whether to poll again, and if so
checkpoints the new state and waits (no compute billed) for the strategy's delay before
the next check. The state is carried between polls in the checkpoint, so it survives
invocations. The ``yield`` gives the final state.

A check that raises, a strategy that raises, and a strategy that runs out of attempts all
fail the operation with :class:`~orchestra.errors.WaitForConditionError` (the check is not
retried; running out of attempts never counts as success).

Example:
    >>> strategy = WaitStrategy.exponential(lambda job: job["status"] != "DONE",
    ...                                     max_attempts=5, jitter=Jitter.NONE)
    >>> strategy({"status": "RUNNING"}, 1)
    WaitDecision(stop=False, delay_seconds=5)
    >>> strategy({"status": "DONE"}, 2)
    WaitDecision(stop=True, delay_seconds=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, final

import attrs

from orchestra.config import (
    Duration,
    Jitter,
    as_duration,
    check_service_duration,
)
from orchestra.errors import ValidationError, WaitForConditionError, describe_value
from orchestra.ops import (
    Op,
    check_name,
    check_serde,
    default_name,
    is_generator_function,
    op_label,
)
from orchestra.serde import Serde
from orchestra.wire.models import OperationType, SubType

__all__ = ["WaitDecision", "WaitForCondition", "WaitStrategy", "WaitStrategyFn"]

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)

FIVE_SECONDS = Duration(5)
FIVE_MINUTES = Duration(300)


@final
@attrs.frozen
class WaitDecision:
    """Stop polling, or poll again after ``delay_seconds`` (at least 1 s).

    Example:
        >>> WaitDecision.again(Duration.seconds(10))
        WaitDecision(stop=False, delay_seconds=10)
        >>> WaitDecision.again(0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: ...
    """

    stop: bool
    delay_seconds: int = 0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.stop, bool):
            raise ValidationError(f"WaitDecision: stop must be a bool, got {self.stop!r}")
        delay = self.delay_seconds
        if isinstance(delay, bool) or not isinstance(delay, int):
            raise ValidationError(
                f"WaitDecision: delay_seconds must be a whole number of seconds, got {delay!r}"
            )
        if not self.stop:
            check_service_duration(Duration(max(delay, 0)), "WaitDecision delay")

    @classmethod
    def done(cls) -> WaitDecision:
        """Stop polling: the condition is met."""
        return cls(stop=True)

    @classmethod
    def again(cls, delay: Duration | int | float) -> WaitDecision:
        """Poll again after ``delay`` (1 s to 366 days)."""
        seconds = check_service_duration(
            as_duration(delay, "WaitDecision delay"), "WaitDecision delay"
        )
        return cls(stop=False, delay_seconds=seconds)


class WaitStrategyFn(Protocol[S_contra]):
    """A custom strategy: ``(state, attempt) -> WaitDecision`` (attempt counts from 1)."""

    def __call__(self, state: S_contra, attempt: int, /) -> WaitDecision:
        """Decide whether to poll again."""
        ...


@final
@attrs.frozen
class WaitStrategy(Generic[S]):
    """Poll while ``should_continue(state)``, with growing delays, at most ``max_attempts``.

    The delay before poll ``n + 1`` is ``min(initial * backoff_rate ** (n - 1), max)``,
    jittered and rounded up to a whole second (at least 1). After ``max_attempts`` checks
    whose state still says continue, the operation fails with
    :class:`~orchestra.errors.WaitForConditionError`.

    The jitter needs a random number; the interpreter passes one in (``random``) so that
    the strategy stays a pure function, and the decision is checkpointed anyway.
    """

    should_continue: Callable[[S], bool]
    max_attempts: int = 60
    initial_delay: Duration = FIVE_SECONDS
    max_delay: Duration = FIVE_MINUTES
    backoff_rate: float = 1.5
    jitter: Jitter = Jitter.FULL

    def __attrs_post_init__(self) -> None:
        if not callable(self.should_continue):
            raise ValidationError(
                "WaitStrategy: should_continue must be a function of the state, got "
                f"{describe_value(self.should_continue)}"
            )
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValidationError(
                "WaitStrategy: max_attempts must be an int, got "
                f"{describe_value(self.max_attempts)}"
            )
        if self.max_attempts < 1:
            raise ValidationError(
                f"WaitStrategy: max_attempts must be >= 1, got {self.max_attempts}"
            )
        for what, value in (("initial_delay", self.initial_delay), ("max_delay", self.max_delay)):
            if not isinstance(value, Duration):
                raise ValidationError(
                    f"WaitStrategy: {what} must be a Duration, got {describe_value(value)}"
                )
            check_service_duration(value, f"WaitStrategy {what}")
        if self.max_delay < self.initial_delay:
            raise ValidationError(
                f"WaitStrategy: max_delay ({self.max_delay.total_seconds} s) is shorter than "
                f"initial_delay ({self.initial_delay.total_seconds} s)"
            )
        rate = self.backoff_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
            raise ValidationError(f"WaitStrategy: backoff_rate must be a number, got {rate!r}")
        if rate < 1:
            raise ValidationError(f"WaitStrategy: backoff_rate must be >= 1, got {rate}")
        if not isinstance(self.jitter, Jitter):
            raise ValidationError(
                f"WaitStrategy: jitter must be a Jitter, got {describe_value(self.jitter)}"
            )

    @classmethod
    def exponential(
        cls,
        should_continue: Callable[[S], bool],
        *,
        max_attempts: int = 60,
        initial_delay: Duration | int = FIVE_SECONDS,
        max_delay: Duration | int = FIVE_MINUTES,
        backoff_rate: float = 1.5,
        jitter: Jitter = Jitter.FULL,
    ) -> WaitStrategy[S]:
        """Delays grow by ``backoff_rate`` from ``initial_delay`` up to ``max_delay``."""
        return cls(
            should_continue,
            max_attempts,
            as_duration(initial_delay, "WaitStrategy initial_delay"),
            as_duration(max_delay, "WaitStrategy max_delay"),
            backoff_rate,
            jitter,
        )

    @classmethod
    def fixed(
        cls,
        should_continue: Callable[[S], bool],
        interval: Duration | int = FIVE_SECONDS,
        *,
        max_attempts: int = 60,
    ) -> WaitStrategy[S]:
        """The same ``interval`` before every poll, no jitter.

        Example:
            >>> WaitStrategy.fixed(lambda n: n < 3, 2)(1, 1)
            WaitDecision(stop=False, delay_seconds=2)
        """
        delay = as_duration(interval, "WaitStrategy interval")
        return cls(should_continue, max_attempts, delay, delay, 1.0, Jitter.NONE)

    def __call__(self, state: S, attempt: int, random: float = 0.5) -> WaitDecision:
        """Decide after check number ``attempt`` returned ``state``."""
        if not self.should_continue(state):
            return WaitDecision.done()
        if attempt >= self.max_attempts:
            raise WaitForConditionError(
                f"wait_for_condition exhausted {self.max_attempts} attempts before the "
                "condition was met"
            )
        base = min(
            self.initial_delay.total_seconds * self.backoff_rate ** (attempt - 1),
            float(self.max_delay.total_seconds),
        )
        return WaitDecision(
            stop=False, delay_seconds=max(1, math.ceil(self.jitter.apply(base, random)))
        )


@final
@attrs.frozen(init=False, repr=False)
class WaitForCondition(Op[S]):
    """Poll ``check`` until ``strategy`` says stop; the ``yield`` gives the final state.

    Args:
        check: ``check(state) -> new_state``, a plain function run as a step.
        initial_state: the state the first check receives.
        strategy: a :class:`WaitStrategy`, or any ``(state, attempt) -> WaitDecision``.
        name: the operation name (default: the check's name).
        serde: encodes the state in checkpoints (default: JSON).
    """

    check: Callable[[S], S]
    initial_state: S
    strategy: WaitStrategy[S] | WaitStrategyFn[S]
    name: str | None
    serde: Serde[S] | None

    op_type = OperationType.STEP
    sub_type = SubType.WAIT_FOR_CONDITION.value

    def __init__(
        self,
        check: Callable[[S], S],
        initial_state: S,
        strategy: WaitStrategy[S] | WaitStrategyFn[S],
        *,
        name: str | None = None,
        serde: Serde[S] | None = None,
    ) -> None:
        given = check_name(name, "WaitForCondition") or default_name(check, "WaitForCondition")
        what = op_label("WaitForCondition", given)
        if not callable(check) or is_generator_function(check):
            raise ValidationError(
                f"{what}: check must be a plain function of the state, got {describe_value(check)}"
            )
        if not callable(strategy):
            raise ValidationError(
                f"{what}: strategy must be a WaitStrategy or a function (state, attempt) -> "
                f"WaitDecision, got {describe_value(strategy)}"
            )
        check_serde(serde, what)
        self.__attrs_init__(check, initial_state, strategy, given, serde)

    @property
    def op_name(self) -> str | None:
        """The operation's name."""
        return self.name

    def decide(self, state: S, attempt: int, random: float) -> WaitDecision:
        """Ask the strategy; refuse anything that is not a :class:`WaitDecision`."""
        if isinstance(self.strategy, WaitStrategy):
            decision = self.strategy(state, attempt, random)
        else:
            decision = self.strategy(state, attempt)
        if not isinstance(decision, WaitDecision):
            raise ValidationError(
                f"{op_label('WaitForCondition', self.name)}: the strategy returned "
                f"{describe_value(decision)}; it must return WaitDecision.done() or "
                "WaitDecision.again(delay)"
            )
        return decision

    def __repr__(self) -> str:
        return f"WaitForCondition({self.name or self.check!r})"
