"""Runs step functions on a thread pool and reports their outcomes to the invocation.

Each step runs with its :class:`StepContext` available through :func:`step_context`, and
with log fields (operation id, name, attempt) that the replay-aware logger adds.
"""

from __future__ import annotations

import _thread
import logging
import queue
import threading
import time
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


#: Threads a pool starts at once, on demand, before it looks at what its threads do.
EAGER_THREADS = 2
#: A job running this long holds its thread (it waits on I/O, or computes): more threads.
STALL_SECONDS = 0.002
#: The longest the pool's watcher sleeps between looks at an idle pool.
_WATCH_POLL_SECONDS = 0.5


def threads_to_add(queued: int, running_since: list[float], now: float, room: int) -> int:
    """How many threads a pool adds: as many as jobs wait, when every thread is held.

    Args:
        queued: jobs waiting for a thread.
        running_since: for each started thread, when its current job began (``0.0``: it
            has none, so it takes a waiting job soon).
        now: the current monotonic time.
        room: how many more threads the limit allows.

    Example:
        >>> threads_to_add(10, [1.0, 1.0], now=1.5, room=30)  # both held for 0.5 s
        10
        >>> threads_to_add(10, [1.0, 1.499], now=1.5, room=30)  # one is about to be free
        0
        >>> threads_to_add(10, [1.0, 0.0], now=1.5, room=30)  # one has no job
        0
    """
    if queued <= 0 or room <= 0:
        return 0
    held = now - STALL_SECONDS
    if all(0.0 < since <= held for since in running_since):
        return min(queued, room)
    return 0


class _Workers:
    """A small thread pool: one queue of jobs, threads started on demand up to a limit.

    It does what :class:`concurrent.futures.ThreadPoolExecutor` does for the executor,
    without a ``Future`` per job (nobody reads one: outcomes are reported by the job), so a
    Map's thousands of short steps cost less each. The threads are daemons: a step still
    running when the process exits (an invocation that was abandoned) does not hold the
    exit up.

    How many threads: a job taken by an idle thread starts none. Otherwise up to
    :data:`EAGER_THREADS` are started at once, as jobs come. Beyond that, a watcher thread
    adds threads (as many as jobs wait, up to the limit) once every thread has been held by
    its job for :data:`STALL_SECONDS`: steps that wait on I/O get their threads within a
    few milliseconds, while a burst of short steps is run by a few threads, without waking
    dozens of threads that would only take turns holding the GIL.

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
        #: When each thread's current job began (0.0: none), by thread number.
        self._since: list[float] = []
        self._wanted = threading.Event()  # jobs wait and the limit allows more threads
        self._watching = False

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
            if self._started >= self._max:
                return
            if self._started < EAGER_THREADS:
                self._start()
                return
            if not self._watching:
                self._watching = True
                _thread.start_new_thread(self._watch, ())
            self._wanted.set()

    def _start(self) -> None:
        """Start one more thread (the lock is held)."""
        number = self._started
        self._since.append(0.0)
        try:
            # (not threading.Thread.start, which waits until the thread runs: a burst of a
            # Map's first jobs would pay that hand-off for each thread)
            _thread.start_new_thread(self._work, (number,))
        except RuntimeError:
            self._since.pop()
            raise
        self._started += 1

    def _work(self, number: int) -> None:
        threading.current_thread().name = f"{self._name}_{number}"  # (a daemon)
        jobs = self._jobs
        idle = self._idle
        since = self._since
        clock = time.monotonic
        while True:
            fn, args = jobs.get()
            since[number] = clock()
            try:
                fn(*args)
            except BaseException:  # a job reports its own outcome; this is a bug in one
                log.exception("a step job raised; the pool thread goes on")
            since[number] = 0.0
            del fn, args
            idle.append(None)

    def _watch(self) -> None:
        """Add threads while jobs wait behind threads their jobs hold (see the class)."""
        threading.current_thread().name = f"{self._name}_watcher"
        while True:
            if not self._wanted.wait(_WATCH_POLL_SECONDS):
                continue
            time.sleep(STALL_SECONDS)
            with self._lock:
                queued = self._jobs.qsize()
                add = threads_to_add(
                    queued, self._since, time.monotonic(), self._max - self._started
                )
                try:
                    for _ in range(add):
                        self._start()
                except RuntimeError:  # the system refused a thread: the started ones go on
                    log.exception("the step pool could not start another thread")
                    self._max = self._started
                if queued == 0 or self._started >= self._max:
                    self._wanted.clear()  # (a submit sets it again, under this lock)


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
