"""Release with a canary: wait for a person's approval while polling the canary's health.

Two branches run side by side in a ``Parallel``:

* **approval**: ask the release manager (a callback with a four-hour timeout) and wait,
  without running, for the answer;
* **canary**: deploy the new version to a few hosts, then check their health every ten
  minutes (a ``WaitForCondition``) until every host is healthy or one is failing.

Both must succeed (``Parallel``'s default, fail fast). If the release manager says no or
does not answer in time, the canary's polling is cancelled at once, and if the canary
fails, the approval is no longer waited for. Either way the canary is rolled back.
Otherwise the release is promoted to every host.

Run it with ``python examples/branches_with_waits.py``: four scenarios run on the embedded
emulator, the release manager played by scripted callback answers on the virtual clock and
the hosts by a small in-memory stand-in. Deploy it by pointing a durable Lambda function's
handler setting at ``branches_with_waits.handler``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Generator
from typing import Any

import attrs

from orchestra import (
    BatchResult,
    Branch,
    Duration,
    Parallel,
    Step,
    WaitForCallback,
    WaitForCondition,
    WaitStrategy,
    lambda_handler,
)
from orchestra.testing import CallbackAction, LocalRunner, RunResult

APPROVAL_TIMEOUT = Duration.hours(4)
HEALTH_INTERVAL = Duration.minutes(10)
MAX_HEALTH_CHECKS = 12  # two hours of checks


class ReleaseRejectedError(Exception):
    """The release manager said no."""


class CanaryUnhealthyError(Exception):
    """A canary host reported failing health checks."""


@attrs.define
class Fleet:
    """Stands in for the deployment API: each health check reads the next planned report."""

    health: list[str] = attrs.field(factory=list)  # "starting" | "healthy" | "failing"
    log: list[str] = attrs.field(factory=list)
    checks: int = 0

    def reset(self, health: list[str]) -> None:
        self.health, self.log, self.checks = list(health), [], 0

    def read_health(self) -> str:
        report = self.health[min(self.checks, len(self.health) - 1)]
        self.checks += 1
        return report


FLEET = Fleet()


# --- the steps --------------------------------------------------------------------------------


def ask_release_manager(callback_id: str, version: str) -> None:
    FLEET.log.append(f"asked the release manager to approve {version}")


def deploy_canary(version: str) -> str:
    FLEET.log.append(f"deployed {version} to the canary hosts")
    return "canary-1"


def check_canary(state: dict[str, Any]) -> dict[str, Any]:
    report = FLEET.read_health()
    if report == "failing":
        raise CanaryUnhealthyError(f"{state['canary']} is failing its health checks")
    return {**state, "health": report, "checks": state["checks"] + 1}


def still_starting(state: dict[str, Any]) -> bool:
    return bool(state["health"] != "healthy")


def promote(version: str) -> str:
    FLEET.log.append(f"promoted {version} to every host")
    return f"{version} released"


def roll_back(version: str, why: str) -> str:
    FLEET.log.append(f"rolled {version} back")
    return f"{version} rolled back: {why}"


# --- the workflow -----------------------------------------------------------------------------


def approval(version: str) -> Generator[Any, Any, str]:
    answer = yield WaitForCallback(
        ask_release_manager, version, name="release approval", timeout=APPROVAL_TIMEOUT
    )
    if not answer.get("approved"):
        raise ReleaseRejectedError(answer.get("reason", "rejected"))
    return str(answer.get("by", "someone"))


def canary(version: str) -> Generator[Any, Any, int]:
    host = yield Step(deploy_canary, version)
    final = yield WaitForCondition(
        check_canary,
        {"canary": host, "health": "starting", "checks": 0},
        WaitStrategy.fixed(still_starting, HEALTH_INTERVAL, max_attempts=MAX_HEALTH_CHECKS),
        name="canary health",
    )
    return int(final["checks"])


def release(version: str) -> Generator[Any, Any, dict[str, Any]]:
    gates: BatchResult[Any] = yield Parallel(
        # functools.partial keeps them generator functions (a lambda would make them steps)
        Branch(functools.partial(approval, version), name="approval"),
        Branch(functools.partial(canary, version), name="canary"),
        name=f"gates for {version}",
    )
    outcome = {str(item.name): item.status.value for item in gates.items}
    if gates.status == "SUCCEEDED":
        approved_by, checks = gates.values()
        summary = yield Step(promote, version)
        return {"summary": summary, "approved_by": approved_by, "health_checks": checks, **outcome}
    error = gates.errors()[0]
    summary = yield Step(roll_back, version, f"{error.error_type}: {error.message}")
    return {"summary": summary, **outcome}


handler = lambda_handler(release)  # the deployable Lambda entry point


# --- scenarios on the embedded emulator -------------------------------------------------------

CALLBACK = "release approval create callback id"  # the callback inside the WaitForCallback


def answer(body: str, *, after_minutes: float) -> CallbackAction:
    """The release manager answers ``after_minutes`` (virtual) minutes after being asked."""
    return CallbackAction(CALLBACK, "success", result=body, delay_seconds=after_minutes * 60)


SCENARIOS: dict[str, tuple[list[CallbackAction], list[str]]] = {
    "approved": (
        [answer('{"approved": true, "by": "grace"}', after_minutes=45)],
        ["starting", "starting", "healthy"],
    ),
    "rejected": (
        [answer('{"approved": false, "reason": "release freeze"}', after_minutes=15)],
        ["starting"] * 20,
    ),
    "no answer": ([], ["healthy"]),
    "canary failing": (
        [answer('{"approved": true, "by": "grace"}', after_minutes=90)],
        ["starting", "failing"],
    ),
}


def run_scenario(title: str) -> RunResult:
    callbacks, health = SCENARIOS[title]
    FLEET.reset(health)
    return LocalRunner(release).run("v2.4.0", callbacks=callbacks)


def virtual_minutes(run: RunResult) -> float:
    events = run.history_dicts()
    return float(events[-1]["EventTimestamp"] - events[0]["EventTimestamp"]) / 60_000


def main() -> int:
    for title in SCENARIOS:
        run = run_scenario(title)
        print(f"--- {title}: {run.status} after {virtual_minutes(run):.0f} virtual minutes")
        if run.status != "SUCCEEDED":
            print(f"    error: {run.error}")
            return 1
        result = run.result
        print(f"    approval: {result['approval']}, canary: {result['canary']}")
        for line in FLEET.log:
            print(f"    {line}")
        print(f"    {result['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
