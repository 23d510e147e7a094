"""Runs step functions on a thread pool and reports their outcomes to the invocation.

Each step runs with its :class:`StepContext` available through :func:`step_context`, and
with log fields (operation id, name, attempt) that the replay-aware logger adds.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
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
#: A pool thread (or the watcher) with nothing to do for this long ends; jobs that come
#: later start new ones. A pool no longer used thereby leaves no thread behind.
IDLE_EXIT_SECONDS = 2.0
#: The longest the pool's watcher sleeps between looks at an idle pool.
_WATCH_POLL_SECONDS = 0.5


def threads_to_add(queued: int, running_since: Iterable[float], now: float, room: int) -> int:
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

    How many threads: a job that a waiting thread will take starts none. Otherwise up to
    :data:`EAGER_THREADS` are started at once, as jobs come. Beyond that, a watcher thread
    adds threads (as many as jobs wait, up to the limit) once every thread has been held by
    its job for :data:`STALL_SECONDS`: steps that wait on I/O get their threads within a
    few milliseconds, while a burst of short steps is run by a few threads, without waking
    dozens of threads that would only take turns holding the GIL. A thread idle for
    :data:`IDLE_EXIT_SECONDS` ends, and so does the watcher.

    Waiting threads are counted exactly: a thread holds one token (in a deque: no lock per
    job) while it waits for a job, and a submission starts a thread, or has the watcher
    look, only when more jobs are queued than there are tokens; a thread that took a job
    while more wait than tokens asks the same. An idle thread ends under the pool's lock,
    leaving the count before it looks at the queue: either it sees a job submitted
    meanwhile and stays, or that submission sees it gone. No job waits for a thread that
    is not coming.

    Example:
        >>> done = threading.Event()
        >>> _Workers(2, "doc").submit(done.set, ())
        >>> done.wait(5)
        True
    """

    def __init__(self, max_workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        # one token per thread waiting in (or about to enter) the queue's get; only a
        # thread adds or takes its own (a deque's append and pop are atomic: no lock per job)
        self._idle: deque[None] = deque()
        self._lock = threading.Lock()
        self._max = max_workers
        self._name = name
        self._started = 0  # threads alive (started, and not ending)
        self._numbers = itertools.count()
        #: When each live thread's current job began (0.0: none), by thread number.
        self._since: dict[int, float] = {}
        self._wanted = threading.Event()  # jobs wait and the limit allows more threads
        self._want = False  # whether _wanted is set (set and cleared with it, under the lock)
        self._watching = False

    @property
    def threads(self) -> int:
        """How many threads are alive."""
        return self._started

    def submit(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Run ``fn(*args)`` on a pool thread."""
        jobs = self._jobs
        jobs.put((fn, args))
        if jobs.qsize() > len(self._idle):
            self._more()  # (otherwise a waiting thread takes it)

    def _more(self) -> None:
        """Jobs wait beyond the waiting threads: start one, or have the watcher look."""
        started = self._started
        if started >= self._max or (started >= EAGER_THREADS and self._want):
            return  # a thread that comes free takes it; or the watcher is on it
        with self._lock:
            if self._started >= self._max:
                return
            try:
                if self._started < EAGER_THREADS:
                    self._start()
                    return
                if not self._watching:
                    watcher = threading.Thread(
                        target=self._watch, name=f"{self._name}_watcher", daemon=True
                    )
                    watcher.start()
                    self._watching = True
            except RuntimeError:
                if not self._started:
                    raise  # no thread at all would ever run the job
                self._refused()  # the started threads run it
                return
            self._want = True
            self._wanted.set()

    def _refused(self) -> None:
        """The system refused a thread: keep to the threads there are (the lock is held)."""
        log.exception("the step pool could not start another thread")
        self._max = self._started

    def _start(self) -> None:
        """Start one more thread (the lock is held)."""
        number = next(self._numbers)
        self._since[number] = 0.0
        thread = threading.Thread(
            target=self._work, args=(number,), name=f"{self._name}_{number}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            del self._since[number]
            raise
        self._started += 1

    def _work(self, number: int) -> None:
        jobs = self._jobs
        idle = self._idle
        since = self._since
        clock = time.monotonic
        while True:
            idle.append(None)
            try:
                fn, args = jobs.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                if self._end(number):
                    return
                continue
            idle.pop()
            if jobs.qsize() > len(idle):
                self._more()  # (a submission that counted this thread just before it took
                # another job did not ask for one)
            since[number] = clock()
            try:
                fn(*args)
            except BaseException:  # a job reports its own outcome; this is a bug in one
                log.exception("a step job raised; the pool thread goes on")
            since[number] = 0.0
            del fn, args

    def _end(self, number: int) -> bool:
        """Whether the idle thread ``number`` ends: only if no job came meanwhile.

        A submission reads the tokens and the thread count after queueing its job; this
        thread takes its token and leaves the count before it looks at the queue. So
        either it sees the job and stays, or the submission sees it gone (and starts a
        thread if it was the last).
        """
        with self._lock:
            self._idle.pop()
            self._started -= 1
            if self._jobs.qsize():
                self._started += 1
                return False
            del self._since[number]
            return True

    def _watch(self) -> None:
        """Add threads while jobs wait behind threads their jobs hold (see the class)."""
        idle_since = time.monotonic()
        while True:
            if not self._wanted.wait(_WATCH_POLL_SECONDS):
                if time.monotonic() - idle_since < IDLE_EXIT_SECONDS:
                    continue
                with self._lock:
                    if not self._want:  # (a submit sets it under this lock)
                        self._watching = False
                        return
            time.sleep(STALL_SECONDS)
            with self._lock:
                queued = self._jobs.qsize()
                add = threads_to_add(
                    queued, self._since.values(), time.monotonic(), self._max - self._started
                )
                try:
                    for _ in range(add):
                        self._start()
                except RuntimeError:  # the system refused a thread: the started ones go on
                    self._refused()
                if queued == 0 or self._started >= self._max:
                    self._want = False
                    self._wanted.clear()  # (a submit sets it again, under this lock)
            idle_since = time.monotonic()


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
