"""The *world* a run meets: step failures, crash points, jitter, completion order.

A :class:`World` is data, independent of the workflow's code, so hypothesis can generate
and shrink it (see :mod:`orchestra.testing.strategies`). :class:`WorldExecutor` runs steps
the way the world says: the first ``failures[name]`` attempts of a step raise
:class:`InjectedFailure` instead of running it, and each step may be held back a little so
that concurrent steps finish in a different order.

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
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from orchestra.interpreter.commands import RunStep
from orchestra.runtime.executor import Report, StepExecutor

__all__ = ["CrashPoint", "Execution", "InjectedFailure", "World", "WorldExecutor"]


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


def _freeze(value: Mapping[str, int]) -> Mapping[str, int]:
    return dict(value)


@attrs.frozen
class World:
    """What happens around a workflow, independently of its code.

    Attributes:
        failures: step name -> how many leading attempts fail with InjectedFailure.
        crashes: where invocations die.
        seed: seeds retry jitter and the completion-order delays.
        max_delay_ms: each step is held back up to this many milliseconds (0: none), which
            changes the completion order of concurrent steps.
    """

    failures: Mapping[str, int] = attrs.field(factory=dict, converter=_freeze)
    crashes: tuple[CrashPoint, ...] = ()
    seed: int = 0
    max_delay_ms: int = 0

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
            command = attrs.evolve(command, fn=_raiser(message), args=(), kwargs={})
        if delay:
            command = attrs.evolve(command, fn=_delayed(command.fn, delay))
        super().submit(command, execution_arn, report)


def _raiser(message: str) -> Any:
    def fail() -> None:
        raise InjectedFailure(message)

    return fail


def _delayed(fn: Any, delay: float) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return fn(*args, **kwargs)

    return run
