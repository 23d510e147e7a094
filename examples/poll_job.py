"""Start a long-running job on another system and poll it until it is done.

The workflow submits a report job, then polls its status with ``WaitForCondition``: each
check is a short step, and between checks the function is suspended (no compute billed)
for a growing delay. A job that ends in ``FAILED`` stops the polling at once; a job that
is still running after ``MAX_CHECKS`` checks is cancelled.

Run it with ``python examples/poll_job.py``: three scenarios run on the embedded emulator
against a fake job service whose job status moves on at each check, on the virtual clock.
Deploy it by pointing a durable Lambda function's handler setting at ``poll_job.handler``
(with a real job API in ``JobService``).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Generator, Iterator
from typing import Any

from orchestra import (
    Duration,
    Step,
    WaitForCondition,
    WaitForConditionError,
    WaitStrategy,
    lambda_handler,
)
from orchestra.testing import LocalRunner, RunResult

Workflow = Generator[Any, Any, dict[str, Any]]

MAX_CHECKS = 8
RUNNING = ("QUEUED", "RUNNING")


class JobFailedError(Exception):
    """The job ended in FAILED: no point in polling again."""


class JobService:
    """A fake job API: each status call moves the job one entry along its planned statuses."""

    def __init__(self) -> None:
        self.planned: list[str] = ["QUEUED", "RUNNING", "SUCCEEDED"]
        self.jobs: dict[str, Iterator[str]] = {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def submit(self, report: str) -> str:
        job_id = f"job-{next(self._ids)}"
        statuses = self.planned
        self.jobs[job_id] = itertools.chain(statuses, itertools.repeat(statuses[-1]))
        self.calls.append(f"submit {report} -> {job_id}")
        return job_id

    def status(self, job_id: str) -> str:
        status = next(self.jobs[job_id])
        self.calls.append(f"status {job_id} -> {status}")
        return status

    def cancel(self, job_id: str) -> None:
        self.calls.append(f"cancel {job_id}")


JOBS = JobService()


def submit_job(report: str) -> str:
    return JOBS.submit(report)


def check_job(state: dict[str, Any]) -> dict[str, Any]:
    """One poll: read the status; the new state is checkpointed and given to the next poll."""
    status = JOBS.status(state["job_id"])
    if status == "FAILED":
        raise JobFailedError(f"{state['job_id']} failed")
    return {**state, "status": status, "checks": state["checks"] + 1}


def cancel_job(job_id: str) -> None:
    JOBS.cancel(job_id)


def still_running(state: dict[str, Any]) -> bool:
    return state["status"] in RUNNING


POLLING = WaitStrategy.exponential(
    still_running,
    max_attempts=MAX_CHECKS,
    initial_delay=Duration.seconds(30),
    max_delay=Duration.minutes(10),
    backoff_rate=2,
)


def run_report(report: str) -> Workflow:
    job_id = yield Step(submit_job, report)
    start = {"job_id": job_id, "status": "SUBMITTED", "checks": 0}
    try:
        final = yield WaitForCondition(check_job, start, POLLING, name="job finished")
    except WaitForConditionError as err:
        if err.error_type == JobFailedError.__name__:
            return {"job_id": job_id, "outcome": "failed", "detail": err.message}
        yield Step(cancel_job, job_id)  # exhausted: the job is stuck, stop paying for it
        return {"job_id": job_id, "outcome": "gave up", "detail": err.message}
    return {"job_id": job_id, "outcome": "done", "detail": f"after {final['checks']} checks"}


handler = lambda_handler(run_report)  # the deployable Lambda entry point

SCENARIOS: dict[str, list[str]] = {
    "done": ["QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"],
    "failed": ["QUEUED", "RUNNING", "FAILED"],
    "stuck": ["QUEUED", "RUNNING"],  # never finishes
}


def run_scenario(statuses: list[str]) -> RunResult:
    """Run the workflow against a job that goes through ``statuses``, one per check."""
    JOBS.planned = statuses
    JOBS.calls.clear()
    return LocalRunner(run_report).run("sales-q3")


def main() -> int:
    for title, statuses in SCENARIOS.items():
        run = run_scenario(statuses)
        events = run.history_dicts()
        minutes = (events[-1]["EventTimestamp"] - events[0]["EventTimestamp"]) / 60_000
        print(f"--- {title}: {run.status}, {run.invocations} invocations, {minutes:.0f} min")
        for n in range(0, len(JOBS.calls), 4):
            print(f"    {', '.join(JOBS.calls[n : n + 4])}")
        print(f"    outcome: {run.result['outcome']}: {run.result['detail']}")
        if run.status != "SUCCEEDED":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
