"""The *world* a run meets: step failures, crash points, jitter, completion order.

A :class:`World` is data, independent of the workflow's code, so hypothesis can generate
and shrink it (see :mod:`orchestra.testing.strategies`). :class:`WorldExecutor` runs steps
the way the world says: the first ``failures[name]`` attempts of a step raise an injected
exception (:class:`InjectedFailure` unless the world names another type) instead of running
it, and each step may be held back a little so that concurrent steps finish in a different
order.

Example:
    >>> from orchestra import Step, RetryPolicy, Duration
    >>> from orchestra.testing import LocalRunner
    >>> def ping() -> str:
    ...     return "pong"
    >>> def workflow():
    ...     return (yield Step(ping, retry=RetryPolicy.fixed(Duration(1), max_attempts=3)))
    >>> world = World(failures={"ping": 2}, crashes=(CrashPoint(2),))
    >>> run = LocalRunner(workflow, world=world).run()
    >>> run.status, run.operation("ping").step_details.attempt
    ('SUCCEEDED', 3)
    >>> world = World(failures={"ping": (3, TimeoutError)})
    >>> error = LocalRunner(workflow, world=world).run().operation("ping").step_details.error
    >>> error.error_type, error.error_message
    ('TimeoutError', "injected failure of 'ping', attempt 3")
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from orchestra.errors import ValidationError
from orchestra.interpreter.commands import RunStep
from orchestra.runtime.executor import Report, StepExecutor

__all__ = [
    "CrashPoint",
    "Execution",
    "FailureSpec",
    "InjectedFailure",
    "World",
    "WorldExecutor",
]


class InjectedFailure(Exception):
    """A step attempt failed because the world said so (the function did not run)."""


@attrs.frozen
class CrashPoint:
    """The invocation dies at checkpoint call ``checkpoint`` (1-based, per execution).

    With ``after`` the call is applied and its answer lost; otherwise it never reaches
    the service.
    """

    checkpoint: int
    after: bool = True


#: A step's injected failures: a count, or a count and the exception type to raise.
FailureSpec = int | tuple[int, type[Exception]]


def _exception_type(kind: object, what: str) -> type[Exception]:
    """Check that ``kind`` is an Exception subclass that can be built from a message."""
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        raise ValidationError(f"{what} must be a subclass of Exception, got {kind!r}")
    try:
        kind("injected failure")
    except Exception as exc:
        raise ValidationError(
            f"{what} {kind.__name__} cannot be built from a message: "
            f"{kind.__name__}('injected failure') raised {exc!r}"
        ) from exc
    return kind


def _count(count: object, name: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValidationError(
            f"the failures of step {name!r} must be a count >= 0, or (count, exception type); "
            f"got {count!r}"
        )
    return count


@attrs.frozen(init=False)
class World:
    """What happens around a workflow, independently of its code.

    Args:
        failures: step name -> how many leading attempts fail, either a count or a pair
            ``(count, exception type)`` that names the type those attempts raise.
        crashes: where invocations die.
        seed: seeds retry jitter and the completion-order delays.
        max_delay_ms: each step is held back up to this many milliseconds (0: none), which
            changes the completion order of concurrent steps.
        exception: the type the injected failures raise unless ``failures`` or
            ``exceptions`` names another for the step (default :class:`InjectedFailure`).
            It must be an ``Exception`` subclass that can be built from a message.
        exceptions: step name -> the type that step's injected failures raise.

    Attributes:
        failures: step name -> how many leading attempts fail (a count).
        exceptions: step name -> the exception type, for the steps that do not raise
            ``exception``.

    Raises:
        ValidationError: a count is negative or not an int, or an exception type is not an
            ``Exception`` subclass that can be built from a message.

    Example:
        >>> world = World(failures={"charge": 2, "ship": (1, KeyError)}, exception=TimeoutError)
        >>> world.failures
        {'charge': 2, 'ship': 1}
        >>> world.exception_for("charge").__name__, world.exception_for("ship").__name__
        ('TimeoutError', 'KeyError')
        >>> World(failures={"charge": (1, ValueError)}) == World(
        ...     failures={"charge": 1}, exceptions={"charge": ValueError})
        True
        >>> World(exception=KeyboardInterrupt)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: World exception must be a subclass of Exception, ...
    """

    failures: Mapping[str, int]
    crashes: tuple[CrashPoint, ...]
    seed: int
    max_delay_ms: int
    exception: type[Exception]
    exceptions: Mapping[str, type[Exception]]

    def __init__(
        self,
        failures: Mapping[str, FailureSpec] | None = None,
        crashes: Iterable[CrashPoint] = (),
        seed: int = 0,
        max_delay_ms: int = 0,
        exception: type[Exception] = InjectedFailure,
        exceptions: Mapping[str, type[Exception]] | None = None,
    ) -> None:
        counts: dict[str, int] = {}
        kinds: dict[str, type[Exception]] = {
            name: _exception_type(kind, f"World exceptions[{name!r}]")
            for name, kind in (exceptions or {}).items()
        }
        for name, spec in (failures or {}).items():
            if isinstance(spec, tuple):
                if len(spec) != 2:
                    raise ValidationError(
                        f"the failures of step {name!r} must be a count or (count, exception "
                        f"type); got {spec!r}"
                    )
                count, kind = spec
                kinds[name] = _exception_type(kind, f"World failures[{name!r}] exception")
            else:
                count = spec
            counts[name] = _count(count, name)
        self.__attrs_init__(
            counts,
            tuple(crashes),
            seed,
            max_delay_ms,
            _exception_type(exception, "World exception"),
            kinds,
        )

    def exception_for(self, name: str | None) -> type[Exception]:
        """The exception type the injected failures of step ``name`` raise."""
        return self.exceptions.get(name or "", self.exception)

    def rng(self) -> random.Random:
        """A random source for retry jitter, seeded by the world."""
        return random.Random(self.seed)


@attrs.frozen
class Execution:
    """One step attempt that the world let run (or failed on purpose)."""

    op_id: str
    name: str | None
    attempt: int
    at_most_once: bool
    injected: bool


class WorldExecutor(StepExecutor):
    """A step executor that follows a :class:`World` and records every attempt."""

    def __init__(self, world: World, max_workers: int = 32) -> None:
        super().__init__(max_workers)
        self.world = world
        self.executions: list[Execution] = []
        self._lock = threading.Lock()
        self._delays = random.Random(world.seed ^ 0x5EED)

    def submit(self, command: RunStep, execution_arn: str, report: Report) -> None:
        """Run ``command`` as the world says."""
        injected = command.attempt <= self.world.failures.get(command.name or "", 0)
        with self._lock:
            self.executions.append(
                Execution(
                    command.op_id, command.name, command.attempt, command.at_most_once, injected
                )
            )
            delay = (
                self._delays.uniform(0, self.world.max_delay_ms) / 1000
                if self.world.max_delay_ms
                else 0.0
            )
        if injected:
            message = f"injected failure of {command.name!r}, attempt {command.attempt}"
            kind = self.world.exception_for(command.name)
            command = attrs.evolve(command, fn=_raiser(kind, message), args=(), kwargs={})
        if delay:
            command = attrs.evolve(command, fn=_delayed(command.fn, delay))
        super().submit(command, execution_arn, report)


def _raiser(kind: type[Exception], message: str) -> Any:
    def fail() -> None:
        raise kind(message)

    return fail


def _delayed(fn: Any, delay: float) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return fn(*args, **kwargs)

    return run
