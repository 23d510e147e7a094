"""Workflows the CLI tests run as ``cli_workflows:NAME`` (tests/ is on the subprocesses' path)."""

from __future__ import annotations

import pathlib
import time
from typing import Any

from orchestra import Callback, Duration, Step, Wait, WaitForCallback, lambda_handler


def shout(text: str) -> str:
    return text.upper()


def greet(name: str):
    loud = yield Step(shout, name)
    yield Wait(Duration.hours(1))  # skipped on the virtual clock
    return f"hello {loud}"


greet_handler = lambda_handler(greet)


def boom(_: Any) -> None:
    raise ValueError("the warehouse is on fire")


def fails(_: Any = None):
    yield Step(boom, None, name="explode")
    return "unreachable"


def notify(callback_id: str, request: dict[str, Any]) -> None:
    """The submitter: a real one would e-mail a link carrying the callback id."""


def record(decision: Any) -> str:
    return "approved" if decision.get("ok") else "rejected"


def approval(request: dict[str, Any] | None = None):
    decision = yield WaitForCallback(notify, request or {}, name="approval")
    verdict = yield Step(record, decision, name="record decision")
    return {"verdict": verdict, "decision": decision}


def two_callbacks(_: Any = None):
    first = yield Callback(name="first")
    second = yield Callback(name="second")
    return [(yield first), (yield second)]


def work(i: int, marker_dir: str | None, delay: float) -> int:
    """A step that notes each start in a file (one character per run), then takes ``delay`` s."""
    if marker_dir:
        with (pathlib.Path(marker_dir) / f"started-{i}").open("a") as log:
            log.write("x")
    time.sleep(delay)
    return i * i


def many_steps(spec: dict[str, Any] | None = None):
    spec = spec or {}
    total = 0
    slow = spec.get("slow_step")
    for i in range(spec.get("steps", 30)):
        delay = spec.get("slow_delay", 0.0) if i == slow else spec.get("delay", 0.0)
        total += yield Step(work, i, spec.get("marker_dir"), delay, name=f"step {i}")
    return total


def not_a_generator(x: Any) -> Any:
    return x


NOT_CALLABLE = 42
