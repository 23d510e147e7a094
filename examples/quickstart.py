"""Order fulfilment with orchestra, run on the embedded emulator.

Run it with ``python examples/quickstart.py``. Deploy it by pointing a durable Lambda
function's handler setting at ``quickstart.handler``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any

from orchestra import (
    Child,
    Duration,
    RetryPolicy,
    Step,
    StepError,
    Wait,
    lambda_handler,
    step_context,
)
from orchestra.testing import LocalRunner

Workflow = Generator[Any, Any, dict[str, str]]


def reserve_stock(order: dict[str, Any]) -> str:
    ctx = step_context()
    if ctx is not None and ctx.attempt == 1:  # the inventory service is flaky at first
        raise ConnectionError("inventory service timed out")
    return f"res-{order['id']}"


def charge_card(order: dict[str, Any]) -> str:
    raise ValueError(f"card declined for {order['total']} EUR")


def send_invoice(order: dict[str, Any]) -> str:
    return f"inv-{order['id']}"


def print_label(order_id: str) -> str:
    return f"label-{order_id}"


def book_courier(label: str) -> str:
    return f"track-{label.removeprefix('label-')}"


def ship(order_id: str) -> Workflow:
    """A sub-workflow: its two steps are checkpointed under the 'ship' child context."""
    label = yield Step(print_label, order_id)
    tracking = yield Step(book_courier, label)
    return {"label": label, "tracking": tracking}


def fulfil_order(order: dict[str, Any]) -> Workflow:
    retry = RetryPolicy.fixed(Duration.seconds(30), retryable_error_types=[ConnectionError])
    reservation = yield Step(reserve_stock, order, retry=retry)
    try:
        payment = yield Step(charge_card, order, retry=RetryPolicy.none())
    except StepError:  # the failure is thrown into the workflow: fall back to an invoice
        payment = yield Step(send_invoice, order)
    yield Wait(Duration.hours(1), name="cooling-off")  # suspends; no compute is billed
    shipment = yield Child(ship, order["id"], name="ship")
    return {"reservation": reservation, "payment": payment, **shipment}


handler = lambda_handler(fulfil_order)  # the deployable Lambda entry point


def main() -> int:
    started = time.perf_counter()
    run = LocalRunner(fulfil_order).run({"id": "A-1001", "total": 250}, name="order-A-1001")
    wall = time.perf_counter() - started
    print(f"status: {run.status}\nresult: {run.result}\ninvocations: {run.invocations}")
    events = run.history_dicts()
    t0 = events[0]["EventTimestamp"]
    for e in events:
        at = (e["EventTimestamp"] - t0) // 1000  # the emulator's virtual clock, in seconds
        print(f"{e['EventId']:>4} +{at:>5}s  {e['EventType']:<20} {e.get('Name', '')}".rstrip())
    print(f"an hour-long wait, yet the run took {wall:.2f} s of real time")
    return 0 if run.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
