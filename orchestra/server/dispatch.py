"""Runs executions in worker threads: after a start, and after a callback or stop.

Each drive is ``service.run(arn, handler)``: invoke until the execution ends or waits for
something from outside. An execution is never driven twice at once: a kick that arrives
while it is being driven marks it to be driven again right after, so no change from
outside is missed.

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
from orchestra.service.local.execution import Execution
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
        workers: how many executions are driven at the same time.
    """

    def __init__(self, service: Backend, handlers: Mapping[str, Handler], *, workers: int = 8):
        self.service = service
        self.handlers = dict(handlers)
        self._workers = workers
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._drives: dict[str, _Drive] = {}
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def functions(self) -> Collection[str]:
        """The registered function names."""
        return self.handlers.keys()

    def start(self) -> None:
        """Start the worker threads."""
        with self._cond:
            self._closed = False
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._work, name=f"orchestra-dispatch-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def kick(self, arn: str) -> None:
        """Drive ``arn`` now, or again as soon as its current drive ends."""
        with self._cond:
            if self._closed:
                return
            drive = self._drives.setdefault(arn, _Drive())
            if drive.active:
                drive.again = True
            else:
                drive.active = True
                self._queue.put(arn)
        wake = getattr(self.service.clock, "wake", None)
        if callable(wake):
            wake()

    def kick_callback(self, callback_id: str) -> None:
        """Drive the execution that owns ``callback_id`` (after an answer or a heartbeat)."""
        owner = self._callback_owner(callback_id)
        if owner is not None:
            self.kick(owner)

    def _callback_owner(self, callback_id: str) -> str | None:
        with self._cond:
            candidates = list(self._drives)
        lister = getattr(self.service, "list_executions", None)
        if lister is not None:
            try:
                candidates += [
                    row.arn
                    for row in lister(status=ExecutionStatus.RUNNING)
                    if row.function_name in self.handlers and row.arn not in candidates
                ]
            except Exception:  # a listing problem must not lose the answer just recorded
                _LOG.exception("could not list executions to find a callback's owner")
        for arn in candidates:
            try:
                root = self.service.execution(arn)
            except ServiceError:
                continue
            if self._owns(root, callback_id):
                return root.arn
        return None

    def _owns(self, root: Execution, callback_id: str) -> bool:
        stack = [root]
        while stack:
            ex = stack.pop()
            if callback_id in getattr(ex, "callbacks", {}):
                return True
            for child in getattr(ex, "child_arns", ()):
                try:
                    stack.append(self.service.execution(child))
                except ServiceError:
                    continue
        return False

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
            if not closed:
                self._run(arn)
            with self._cond:
                if drive.again and not self._closed:
                    continue
                drive.active = False
                self._cond.notify_all()
                return

    def _run(self, arn: str) -> None:
        try:
            ex = self.service.execution(arn)
            handler = self.handlers.get(ex.function_name)
            if handler is None:
                _LOG.warning("no function registered as %s; not running it", ex.function_name)
                return
            self.service.run(arn, handler)
        except ClockClosed:
            pass
        except Exception:
            _LOG.exception("driving an execution failed (function %s)", _function(arn))

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking work; wait (bounded) for the drives in progress."""
        with self._cond:
            self._closed = True
        for _ in self._threads:
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
