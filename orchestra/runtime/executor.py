"""Runs step functions on a thread pool and reports their outcomes to the invocation.

Each step runs with its :class:`StepContext` available through :func:`step_context`, and
with log fields (operation id, name, attempt) that the replay-aware logger adds.
"""

from __future__ import annotations

import _thread
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from orchestra._steps import running_step
from orchestra.interpreter.commands import RunStep

__all__ = ["StepExecutor"]

#: Receives ``(op_id, value, error)``; ``error`` is a BaseException for a crash.
Report = Callable[[str, Any, BaseException | None], None]


log = logging.getLogger("orchestra.runtime")

Job = tuple[Callable[..., None], tuple[Any, ...]]


class _Workers:
    """A small thread pool: one queue of jobs, threads started on demand up to a limit.

    It does what :class:`concurrent.futures.ThreadPoolExecutor` does for the executor,
    without a ``Future`` per job (nobody reads one: outcomes are reported by the job), so a
    Map's thousands of short steps cost less each. A thread is started for a job only
    when no started thread is idle, as the standard pool does. The threads are daemons: a
    step still running when the process exits (an invocation that was abandoned) does not
    hold the exit up.

    Example:
        >>> done = threading.Event()
        >>> _Workers(2, "doc").submit(done.set, ())
        >>> done.wait(5)
        True
    """

    def __init__(self, max_workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        # one token per thread waiting for a job; taking one is claiming that thread (a
        # deque's append and pop are atomic: no lock, no Python-level semaphore per job)
        self._idle: deque[None] = deque()
        self._lock = threading.Lock()
        self._max = max_workers
        self._name = name
        self._started = 0

    @property
    def threads(self) -> int:
        """How many threads were started."""
        return self._started

    def submit(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Run ``fn(*args)`` on a pool thread."""
        self._jobs.put((fn, args))
        try:
            self._idle.pop()
        except IndexError:
            pass
        else:
            return  # an idle thread takes it
        with self._lock:
            if self._started < self._max:
                self._started += 1
                # (not threading.Thread.start, which waits until the thread runs: a burst of
                # a Map's first jobs would pay that hand-off for each of its threads)
                _thread.start_new_thread(self._work, (f"{self._name}_{self._started - 1}",))

    def _work(self, name: str) -> None:
        threading.current_thread().name = name  # (a daemon: it does not hold the exit up)
        jobs = self._jobs
        idle = self._idle
        while True:
            fn, args = jobs.get()
            try:
                fn(*args)
            except BaseException:  # a job reports its own outcome; this is a bug in one
                log.exception("a step job raised; the pool thread goes on")
            del fn, args
            idle.append(None)


class StepExecutor:
    """A thread pool for step functions."""

    def __init__(self, max_workers: int = 32) -> None:
        self._pool = _Workers(max_workers, "orchestra-step")

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
        self._pool.submit(self._run, (command, execution_arn, report, now))

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
            (
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
