"""Runs step functions on a thread pool and reports their outcomes to the invocation.

Each step runs with its :class:`StepContext` available through :func:`step_context`, and
with log fields (operation id, name, attempt) that the replay-aware logger adds.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from orchestra._context import RunningStep, running_step
from orchestra.interpreter.commands import RunStep

__all__ = ["StepExecutor"]

#: Receives ``(op_id, value, error)``; ``error`` is a BaseException for a crash.
Report = Callable[[str, Any, BaseException | None], None]


class StepExecutor:
    """A thread pool for step functions."""

    def __init__(self, max_workers: int = 32) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="orchestra-step"
        )

    def submit(
        self,
        command: RunStep,
        execution_arn: str,
        report: Report,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Run ``command`` in the pool; call ``report`` with its outcome.

        Args:
            command: the step to run.
            execution_arn: the execution it belongs to.
            report: receives ``(op_id, value, error)``.
            now: the service's clock, for :class:`StepContext` (default: real UTC time).
        """
        self._pool.submit(self._run, command, execution_arn, report, now)

    @property
    def runs_inline(self) -> bool:
        """Whether :meth:`run_here` may run a step on the caller's thread.

        A subclass that overrides :meth:`submit` (to inject failures, delay or record
        attempts) has every step go through it, so it does not.
        """
        return type(self).submit is StepExecutor.submit

    def run_here(
        self,
        command: RunStep,
        execution_arn: str,
        report: Report,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Run ``command`` on the calling thread, exactly as the pool would; then report.

        The invocation uses it for a step that is the only work it has: the pool's two
        thread hand-offs would buy nothing.
        """
        self._run(command, execution_arn, report, now)

    @staticmethod
    def _run(
        command: RunStep,
        execution_arn: str,
        report: Report,
        now: Callable[[], datetime] | None,
    ) -> None:
        token = running_step.set(
            RunningStep(
                command.op_id,
                command.name,
                command.parent_id,
                command.attempt,
                execution_arn,
                now,
            )
        )
        try:
            value = command.fn(*command.args, **command.kwargs)
        except BaseException as exc:  # a crash (SystemExit) is reported too
            report(command.op_id, None, exc)
        else:
            report(command.op_id, value, None)
        finally:
            running_step.reset(token)
