"""Runs executions in worker threads: after a start, and after a callback or stop.

Each drive is ``service.run(arn, handler)``: invoke until the execution ends or waits for
something from outside. An execution is never driven twice at once: a kick that arrives
while it is being driven marks it to be driven again right after, so no change from
outside is missed. A sweeper looks every ``tick`` seconds at the executions left waiting
and drives those whose outside deadline (a callback timeout) has come, for a service that
leaves those deadlines to real time (``LocalService(skip_outside=False)``).

Example:
    >>> from orchestra import Step, lambda_handler
    >>> from orchestra.service.local import LocalService
    >>> service = LocalService()
    >>> def greet(name):
    ...     return (yield Step(str.upper, name))
    >>> dispatcher = Dispatcher(service, {"greet": lambda_handler(greet, service=service)})
    >>> dispatcher.start()
    >>> arn = service.start_execution("greet", '"ada"')
    >>> dispatcher.kick(arn)
    >>> dispatcher.wait(arn, timeout=10).value
    'SUCCEEDED'
    >>> dispatcher.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Collection, Mapping

from orchestra.server.backend import Backend, Handler
from orchestra.server.clock import ClockClosed
from orchestra.service.api import ServiceError
from orchestra.wire.models import ExecutionStatus

__all__ = ["Dispatcher"]

_LOG = logging.getLogger("orchestra.server")


class _Drive:
    """One execution's drive state: being driven, and whether to drive again after."""

    __slots__ = ("active", "again")

    def __init__(self) -> None:
        self.active = False
        self.again = False


class Dispatcher:
    """Drives executions of registered functions on a fixed set of worker threads.

    Args:
        service: the emulator.
        handlers: the Lambda handler of each registered function name.
        entries: the ``module:attr`` of each function that has one (recorded with each
            execution started, so another process can resume it).
        workers: how many executions are driven at the same time.
        tick: seconds between two looks at the waiting executions' outside deadlines.
    """

    def __init__(
        self,
        service: Backend,
        handlers: Mapping[str, Handler],
        *,
        entries: Mapping[str, str] | None = None,
        workers: int = 8,
        tick: float = 1.0,
    ) -> None:
        self.service = service
        self.handlers = dict(handlers)
        self.entries = dict(entries or {})
        self._workers = workers
        self._tick = tick
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._drives: dict[str, _Drive] = {}
        self._waiting: set[str] = set()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._stop = threading.Event()

    @property
    def functions(self) -> Collection[str]:
        """The registered function names."""
        return self.handlers.keys()

    def entry(self, function_name: str) -> str | None:
        """The ``module:attr`` of ``function_name``, if it has one."""
        return self.entries.get(function_name)

    def start(self) -> None:
        """Start the worker threads and the sweeper."""
        with self._cond:
            self._closed = False
        self._stop.clear()
        for n in range(self._workers):
            self._spawn(self._work, f"orchestra-dispatch-{n}")
        self._spawn(self._sweep, "orchestra-sweeper")

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def kick(self, arn: str) -> None:
        """Drive ``arn`` now, or again as soon as its current drive ends."""
        with self._cond:
            if self._closed:
                return
            self._waiting.discard(arn)
            drive = self._drives.setdefault(arn, _Drive())
            if drive.active:
                drive.again = True
            else:
                drive.active = True
                self._queue.put(arn)
        wake = getattr(self.service.clock, "wake", None)
        if callable(wake):
            wake()

    def kick_family(self, arn: str) -> None:
        """Drive the top execution of ``arn``'s family (after an answer to its callback).

        A chained invoke's child is driven by its parent's drive, so the walk goes up
        through ``invoked_by`` to the execution that has no parent.
        """
        try:
            top = self._top(arn)
        except Exception:  # the answer is recorded; failing to find its owner must not hide it
            _LOG.exception("could not find the execution to drive after a callback")
            return
        if top is not None:
            self.kick(top)

    def _top(self, arn: str) -> str | None:
        owner: str | None = arn
        seen: set[str] = set()
        while owner is not None and owner not in seen:
            seen.add(owner)
            try:
                parent = self.service.execution(owner).invoked_by
            except ServiceError:
                return None
            if parent is None:
                return owner
            owner = parent[0]
        return owner

    def busy(self, arn: str) -> bool:
        """Whether ``arn`` is being driven (or queued to be)."""
        with self._cond:
            drive = self._drives.get(arn)
            return drive is not None and drive.active

    def wait(self, arn: str, timeout: float) -> ExecutionStatus:
        """Wait (at most ``timeout`` seconds) until ``arn`` is not being driven; its status."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                drive = self._drives.get(arn)
                if drive is None or not drive.active:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        return self.service.execution(arn).status

    def _work(self) -> None:
        while True:
            arn = self._queue.get()
            if arn is None:
                return
            self._drive(arn)

    def _drive(self, arn: str) -> None:
        while True:
            with self._cond:
                drive = self._drives[arn]
                drive.again = False
                closed = self._closed
            status = None if closed else self._run(arn)
            with self._cond:
                if drive.again and not self._closed:
                    continue
                drive.active = False
                if status is ExecutionStatus.RUNNING:
                    self._waiting.add(arn)
                self._cond.notify_all()
                return

    def _run(self, arn: str) -> ExecutionStatus | None:
        try:
            ex = self.service.execution(arn)
            handler = self.handlers.get(ex.function_name)
            if handler is None:
                _LOG.warning("no function registered as %s; not running it", ex.function_name)
                return None
            return self.service.run(arn, handler)
        except ClockClosed:
            return None
        except Exception:
            _LOG.exception("driving an execution failed (function %s)", _function(arn))
            return None

    def _sweep(self) -> None:
        """Drive the waiting executions whose outside deadline (a callback timeout) came."""
        while not self._stop.wait(self._tick):
            with self._cond:
                waiting = list(self._waiting)
            for arn in waiting:
                try:
                    ex = self.service.execution(arn)
                except Exception:
                    with self._cond:
                        self._waiting.discard(arn)
                    continue
                if ex.status is not ExecutionStatus.RUNNING:
                    with self._cond:
                        self._waiting.discard(arn)
                    continue
                due = ex.next_due()
                if due is not None and due <= self.service.clock.now():
                    self.kick(arn)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking work; wait (bounded) for the drives in progress."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        for _ in range(self._workers):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
            if thread.is_alive():
                _LOG.warning("a drive did not finish within %.1f s; leaving it behind", timeout)
        self._threads = [t for t in self._threads if t.is_alive()]


def _function(arn: str) -> str:
    """The function name inside an execution ARN (safe to log)."""
    head = arn.split("/durable-execution/", 1)[0]
    parts = head.split(":")
    return parts[6] if len(parts) > 6 else "?"
