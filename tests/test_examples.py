"""The examples in examples/ run as scripts, and each scenario ends the way it says."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys
import urllib.parse
from types import ModuleType

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def virtual_hours(run) -> float:
    events = run.history_dicts()
    return (events[-1]["EventTimestamp"] - events[0]["EventTimestamp"]) / 3_600_000


@pytest.fixture
def approval() -> ModuleType:
    return load("approval")


@pytest.fixture
def poll_job() -> ModuleType:
    return load("poll_job")


@pytest.mark.parametrize("name", ["quickstart", "approval", "poll_job"])
def test_example_runs_as_a_script(name: str):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


# --- examples/approval.py --------------------------------------------------------------------


def test_approval_approved_by_the_manager(approval):
    run = approval.run_scenario(approval.SCENARIOS["approved"])
    assert run.status == "SUCCEEDED"
    assert run.result["approved"] is True
    assert run.result["by"] == "grace"
    assert run.result["summary"] == "EXP-17 approved by grace"
    assert [to for to, _, _ in approval.OUTBOX] == ["grace"]  # the submitter ran once
    assert virtual_hours(run) == pytest.approx(3, abs=0.01)


def test_approval_link_carries_the_callback_id(approval):
    run = approval.run_scenario([])
    _, _, link = approval.OUTBOX[0]
    callback_id = run.callback_id(approval.callback_name("grace"))
    assert urllib.parse.unquote(link.rsplit("/", 1)[1]) == callback_id


def test_approval_rejected_with_a_reason(approval):
    run = approval.run_scenario(approval.SCENARIOS["rejected"])
    assert run.result["approved"] is False
    assert run.result["reason"] == "over budget"
    assert run.result["summary"] == "EXP-17 rejected by grace"


def test_approval_escalates_when_the_manager_times_out(approval):
    run = approval.run_scenario(approval.SCENARIOS["escalated"])
    assert run.status == "SUCCEEDED"
    assert run.result["by"] == "director"
    assert run.result["approved"] is True
    assert [to for to, _, _ in approval.OUTBOX[-2:]] == ["grace", "director"]
    assert virtual_hours(run) == pytest.approx(48 + 5, abs=0.01)
    manager = run.operation(approval.callback_name("grace"))
    assert manager.status.value == "TIMED_OUT"


def test_approval_timed_out_takes_the_default_decision(approval):
    run = approval.run_scenario(approval.SCENARIOS["timed out"])
    assert run.status == "SUCCEEDED"
    assert run.result == {
        "approved": False,
        "reason": "no answer in 3 days",
        "by": "default",
        "summary": "EXP-17 rejected by default",
    }
    assert virtual_hours(run) == pytest.approx(72, abs=0.01)
    statuses = [
        run.operation(approval.callback_name(who)).status.value for who in ("grace", "director")
    ]
    assert statuses == ["TIMED_OUT", "TIMED_OUT"]


def test_approval_answered_from_outside(approval):
    """The test plays the approval page: it answers with the id from the e-mail's link."""
    runner = approval.LocalRunner(approval.approve_expense)
    expense = {"id": "EXP-18", "what": "a desk", "amount": 300, "manager": "grace"}
    arn = runner.service.start_execution("approve_expense", json.dumps(expense))
    runner.service.run(arn, runner.handler, max_invocations=1)  # up to the first suspension
    callback_id = urllib.parse.unquote(approval.OUTBOX[-1][2].rsplit("/", 1)[1])
    runner.service.send_callback_success(callback_id, b'{"approved": true}')
    run = runner.resume(arn)
    assert run.result["summary"] == "EXP-18 approved by grace"


def test_approval_main_prints_every_scenario(approval, capsys):
    assert approval.main() == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == len(approval.SCENARIOS)
    assert "EXP-17 rejected by default (no answer in 3 days)" in out


# --- examples/poll_job.py --------------------------------------------------------------------


def test_poll_job_done(poll_job):
    run = poll_job.run_scenario(poll_job.SCENARIOS["done"])
    assert run.status == "SUCCEEDED"
    assert run.result == {"job_id": "job-1", "outcome": "done", "detail": "after 5 checks"}
    poll = run.operation("job finished")
    assert poll.status.value == "SUCCEEDED"
    assert poll.step_details.attempt == 5
    assert run.invocations == 5  # one per check: the workflow suspends between them
    assert not any(call.startswith("cancel") for call in poll_job.JOBS.calls)


def test_poll_job_failed_stops_polling_at_once(poll_job):
    run = poll_job.run_scenario(poll_job.SCENARIOS["failed"])
    assert run.status == "SUCCEEDED"
    assert run.result["outcome"] == "failed"
    assert run.result["detail"] == f"{run.result['job_id']} failed"
    assert run.operation("job finished").status.value == "FAILED"
    assert [c.rsplit(" ", 1)[1] for c in poll_job.JOBS.calls[1:]] == ["QUEUED", "RUNNING", "FAILED"]


def test_poll_job_exhausted_cancels_the_job(poll_job):
    run = poll_job.run_scenario(poll_job.SCENARIOS["stuck"])
    assert run.status == "SUCCEEDED"
    assert run.result["outcome"] == "gave up"
    assert "exhausted 8 attempts" in run.result["detail"]
    status_calls = [c for c in poll_job.JOBS.calls if c.startswith("status")]
    assert len(status_calls) == poll_job.MAX_CHECKS
    assert poll_job.JOBS.calls[-1] == f"cancel {run.result['job_id']}"
    assert run.operation("cancel_job").status.value == "SUCCEEDED"


def test_poll_job_main_prints_every_scenario(poll_job, capsys):
    assert poll_job.main() == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == len(poll_job.SCENARIOS)
    assert "outcome: gave up" in out
