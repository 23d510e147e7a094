"""The checkpoint writer: one thread that owns the token and makes every checkpoint call.

Calls are strictly serial (each consumes the token the previous one returned). Updates are
batched up to 250 per call and 750 KiB per call. There is **no idle linger**: the writer
sends as soon as the interpreter says that no fiber can make progress without a reply
(:meth:`CheckpointWriter.flush`). Updates that nobody waits for (an at-least-once step's
START) ride along with the next flush, and are sent on their own only once they are older
than ``async_bound`` seconds, so a quick step's START and SUCCEED share one call.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from orchestra.interpreter.commands import Checkpoint
from orchestra.service.api import DurableService, ServiceError, classify
from orchestra.wire.converter import to_wire
from orchestra.wire.models import Operation

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_UPDATES", "CheckpointWriter"]

MAX_BATCH_UPDATES = 250
MAX_BATCH_BYTES = 750 * 1024
STATE_PAGE_SIZE = 1000

#: Called on the writer thread with the acknowledged sync ids and the merged operations.
OnAck = Callable[[list[int], list[Operation]], None]
#: Called on the writer thread when a call failed; the writer then stops.
OnError = Callable[[BaseException], None]


def _size(update_dict: dict[str, Any]) -> int:
    return len(json.dumps(update_dict, separators=(",", ":")).encode())


class CheckpointWriter:
    """Batches checkpoint updates and sends them from one background thread.

    Args:
        service: where checkpoints go.
        arn: the execution's ARN.
        token: the invocation's first checkpoint token.
        on_ack: receives acknowledged sync ids and the operations the service returned.
        on_error: receives a classified :class:`~orchestra.errors.CheckpointError` (or any
            other exception a call raised); the writer stops after it.
        async_bound: how long (seconds) an update nobody waits for may wait for company.
    """

    def __init__(
        self,
        service: DurableService,
        arn: str,
        token: str,
        *,
        on_ack: OnAck,
        on_error: OnError,
        async_bound: float = 0.05,
    ) -> None:
        self._service = service
        self._arn = arn
        self._token: str | None = token
        self._on_ack = on_ack
        self._on_error = on_error
        self._async_bound = async_bound
        self._queue: deque[tuple[Checkpoint, dict[str, Any], float]] = deque()
        self._flush_upto = 0  # number of submitted items a flush covers
        self._submitted = 0
        self._sent = 0
        self._cond = threading.Condition()
        self._closing = False
        self._aborted = False
        self._failed = False
        self._thread = threading.Thread(target=self._loop, name="orchestra-checkpoint", daemon=True)
        self._thread.start()

    # --- producer side (the invocation thread) -----------------------------------------------

    def submit(self, command: Checkpoint) -> None:
        """Queue one update."""
        item = (command, to_wire(command.update), time.monotonic())
        with self._cond:
            self._queue.append(item)
            self._submitted += 1
            if self._async_bound <= 0:
                self._flush_upto = self._submitted
            self._cond.notify()

    def flush(self) -> None:
        """Send everything queued so far, without waiting for more."""
        with self._cond:
            if self._flush_upto < self._submitted:
                self._flush_upto = self._submitted
                self._cond.notify()

    def close(self) -> None:
        """Send what is queued, then stop the thread and wait for it."""
        with self._cond:
            self._closing = True
            self._flush_upto = self._submitted
            self._cond.notify()
        self._thread.join()

    def abort(self) -> None:
        """Stop without sending what is queued (the invocation is dying)."""
        with self._cond:
            self._aborted = True
            self._queue.clear()
            self._cond.notify()
        self._thread.join(timeout=5)

    # --- the writer thread -------------------------------------------------------------------

    def _take_batch(self) -> list[tuple[Checkpoint, dict[str, Any], float]] | None:
        with self._cond:
            while True:
                if self._aborted or self._failed:
                    return None
                if self._queue:
                    due = self._sent < self._flush_upto
                    age = time.monotonic() - self._queue[0][2]
                    if due or age >= self._async_bound:
                        break
                    self._cond.wait(self._async_bound - age)
                    continue
                if self._closing:
                    return None
                self._cond.wait()
            batch: list[tuple[Checkpoint, dict[str, Any], float]] = []
            size = 0
            while self._queue and len(batch) < MAX_BATCH_UPDATES:
                item_size = _size(self._queue[0][1])
                if batch and size + item_size > MAX_BATCH_BYTES:
                    break
                batch.append(self._queue.popleft())
                size += item_size
            self._sent += len(batch)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                operations = self._send([item[0] for item in batch])
            except ServiceError as exc:
                self._stop_with(classify(exc))
                return
            except BaseException as exc:  # includes an emulated process crash
                self._stop_with(exc)
                return
            acks = [c.ack for c, _, _ in batch if c.ack is not None]
            self._on_ack(acks, operations)

    def _stop_with(self, error: BaseException) -> None:
        with self._cond:
            self._failed = True
            self._queue.clear()
        self._on_error(error)

    def _send(self, batch: Sequence[Checkpoint]) -> list[Operation]:
        if self._token is None:
            raise ServiceError("ExecutionEnded", "the execution has already completed", status=400)
        response = self._service.checkpoint(self._arn, self._token, [c.update for c in batch])
        self._token = response.checkpoint_token
        state = response.new_execution_state
        operations = list(state.operations)
        if self._token is None:
            return operations  # the execution ended; the token is spent: no paging
        marker = state.next_marker
        while marker:
            page = self._service.get_state(self._arn, self._token, marker, STATE_PAGE_SIZE)
            operations.extend(page.operations)
            marker = page.next_marker
        return operations
