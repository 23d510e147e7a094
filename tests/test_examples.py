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


@pytest.fixture
def fan_out() -> ModuleType:
    return load("fan_out")


@pytest.fixture
def branches() -> ModuleType:
    return load("branches_with_waits")


@pytest.mark.parametrize(
    "name",
    ["quickstart", "approval", "poll_job", "fan_out", "branches_with_waits", "approval_cli"],
)
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


# --- examples/fan_out.py ---------------------------------------------------------------------


def test_fan_out_all_good_retries_the_busy_photo_and_publishes_every_thumbnail(fan_out):
    run = fan_out.run_scenario("all good, one retry")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["published"] is True
    assert run.result["summary"] == "album holidays published with 8 thumbnails"
    assert run.result["thumbnails"] == [
        f"https://cdn.example.com/256/{photo}" for photo in fan_out.PHOTOS
    ]  # in the photos' order, whatever order they ran in
    assert run.result["skipped"] == []
    assert sorted(fan_out.IMAGES.calls) == sorted([*fan_out.PHOTOS, "IMG_0003.jpg"])
    assert run.invocations == 2  # the retry delay suspends the execution once
    assert run.operation("resize IMG_0003.jpg").step_details.attempt == 2


def test_fan_out_keeps_at_most_three_resizes_in_flight(fan_out):
    fan_out.run_scenario("two corrupt photos skipped")
    assert 1 <= fan_out.IMAGES.peak <= fan_out.MAX_IN_FLIGHT


def test_fan_out_tolerates_a_quarter_of_the_photos_failing(fan_out):
    run = fan_out.run_scenario("two corrupt photos skipped")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["published"] is True
    assert run.result["skipped"] == ["IMG_0002.jpg", "IMG_0007.jpg"]
    assert len(run.result["thumbnails"]) == 6
    assert len(fan_out.IMAGES.calls) == 8  # a corrupt photo is not retried
    branch = run.operation("thumbnail IMG_0002.jpg")
    assert (branch.sub_type, branch.status.value) == ("MapIteration", "FAILED")
    assert branch.context_details.error.error_type == "StepError"


def test_fan_out_stops_early_when_too_many_photos_fail(fan_out):
    run = fan_out.run_scenario("too many corrupt photos")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["published"] is False
    assert run.result["skipped"] == ["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"]
    assert run.result["not_started"] >= 1  # fail fast once 3 of 8 (> 25 %) have failed
    assert run.operations_named("publish") == []
    completed = json.loads(run.operation("thumbnails").context_details.result)
    assert completed["completionReason"] == "FAILURE_TOLERANCE_EXCEEDED"


def test_fan_out_main_prints_every_scenario(fan_out, capsys):
    assert fan_out.main() == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == len(fan_out.SCENARIOS)
    assert "too many bad photos (3 of 8), album not published" in out


# --- examples/branches_with_waits.py ---------------------------------------------------------


def virtual_minutes(run) -> float:
    return virtual_hours(run) * 60


def test_branches_approved_and_healthy_promotes(branches):
    run = branches.run_scenario("approved")
    assert run.status == "SUCCEEDED", run.error
    assert run.result == {
        "summary": "v2.4.0 released",
        "approved_by": "grace",
        "health_checks": 3,
        "approval": "SUCCEEDED",
        "canary": "SUCCEEDED",
    }
    assert virtual_minutes(run) == pytest.approx(45, abs=0.1)  # the approval came last
    assert branches.FLEET.log[-1] == "promoted v2.4.0 to every host"
    assert run.operation("canary health").step_details.attempt == 3


def test_branches_rejection_cancels_the_canary_polling(branches):
    run = branches.run_scenario("rejected")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["summary"] == "v2.4.0 rolled back: ReleaseRejectedError: release freeze"
    assert (run.result["approval"], run.result["canary"]) == ("FAILED", "STARTED")
    assert virtual_minutes(run) == pytest.approx(15, abs=0.1)
    assert branches.FLEET.checks == 2  # at 0 and 10 minutes; nothing after the rejection
    assert run.operation("canary").status.value == "STARTED"  # cancelled, never ended
    assert "promoted v2.4.0 to every host" not in branches.FLEET.log


def test_branches_unanswered_approval_times_out_after_four_hours(branches):
    run = branches.run_scenario("no answer")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["summary"].startswith("v2.4.0 rolled back: CallbackTimeoutError")
    assert (run.result["approval"], run.result["canary"]) == ("FAILED", "SUCCEEDED")
    assert virtual_minutes(run) == pytest.approx(240, abs=0.1)
    callback = run.operation(branches.CALLBACK)
    assert callback.status.value == "TIMED_OUT"


def test_branches_failing_canary_stops_waiting_for_the_approval(branches):
    run = branches.run_scenario("canary failing")
    assert run.status == "SUCCEEDED", run.error
    assert run.result["summary"] == (
        "v2.4.0 rolled back: WaitForConditionError: canary-1 is failing its health checks"
    )
    assert (run.result["approval"], run.result["canary"]) == ("STARTED", "FAILED")
    assert virtual_minutes(run) == pytest.approx(10, abs=0.1)  # not the 90 of the answer
    assert branches.FLEET.log[-1] == "rolled v2.4.0 back"
    assert set(branches.FLEET.log[:2]) == {
        "deployed v2.4.0 to the canary hosts",
        "asked the release manager to approve v2.4.0",
    }


def test_branches_main_prints_every_scenario(branches, capsys):
    assert branches.main() == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == len(branches.SCENARIOS)
    assert "approval: STARTED, canary: FAILED" in out
