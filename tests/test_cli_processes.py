"""The ``orchestra`` CLI as real processes: SIGKILL and resume, Ctrl-C, two runs on one database.

Every process runs ``python -m orchestra.cli`` with ``tests/`` as its working directory, so
``cli_workflows:NAME`` imports as it would for a user's own module; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
TIMEOUT = 60

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def env(db: pathlib.Path) -> dict[str, str]:
    root = str(TESTS.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "ORCHESTRA_DB": str(db), "PYTHONPATH": path}


def orchestra(db: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra.cli", *args],
        cwd=TESTS,
        env=env(db),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def start(db: pathlib.Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra.cli", *args],
        cwd=TESTS,
        env=env(db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def arn_in(output: str) -> str:
    return output.split("started ", 1)[1].split(maxsplit=1)[0]


def wait_for(path: pathlib.Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before {path.name}: {out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear in {timeout} s")
        time.sleep(0.005)


def history(db: pathlib.Path, arn: str) -> list[dict[str, Any]]:
    done = orchestra(db, "history", arn, "--json")
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = json.loads(done.stdout)["Events"]
    return events


def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What an uninterrupted run and a killed-and-resumed one must share: every event but
    the invocations', with its type, sub-type, name and result (not ids, timestamps or the
    execution's own name)."""
    out = []
    for event in events:
        if event["EventType"].startswith("Invocation"):
            continue
        details = next((v for k, v in event.items() if k.endswith("Details")), {})
        result = (details.get("Result") or {}).get("Payload")
        name = None if event["EventType"].startswith("Execution") else event.get("Name")
        out.append((event["EventType"], event.get("SubType"), name, result))
    return out


def step_runs(markers: pathlib.Path, steps: int) -> list[int]:
    return [len((markers / f"started-{i}").read_text()) for i in range(steps)]


STEPS = 30


@pytest.mark.parametrize("start_saved", [False, True], ids=["as-step-starts", "start-saved"])
def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_history(tmp_path, start_saved):
    """Killed as step 10 starts, or while it runs with its START saved; resumed by another
    process: the history is the uninterrupted run's, apart from the invocations (the
    killed one closed with Runtime.ExitError). What the kill legitimately adds is that the
    step in flight may run a second time (at least once per attempt) -- and no event for
    that: a STARTED step's START is not sent again, so there is one StepStarted per step."""
    db = tmp_path / "runs.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    spec: dict[str, Any] = {"steps": STEPS, "marker_dir": str(markers), "delay": 0.02}
    if start_saved:
        spec.update(slow_step=10, slow_delay=1.0)  # its START is saved after 0.05 s
    proc = start(db, "run", "cli_workflows:many_steps", "--input", json.dumps(spec))
    wait_for(markers / "started-10", proc)
    if start_saved:
        time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    arn = arn_in(out)

    resumed = orchestra(db, "resume", arn)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "SUCCEEDED" in resumed.stdout

    clean_markers = tmp_path / "clean"
    clean_markers.mkdir()
    clean_spec = {**spec, "marker_dir": str(clean_markers), "slow_delay": 0.02}
    clean = orchestra(db, "run", "cli_workflows:many_steps", "--input", json.dumps(clean_spec))
    assert clean.returncode == 0, clean.stderr

    killed_events = history(db, arn)
    clean_events = history(db, arn_in(clean.stdout))
    assert shape(killed_events) == shape(clean_events)
    assert killed_events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"] == str(
        sum(i * i for i in range(STEPS))
    )
    crashes = [
        n
        for n, e in enumerate(killed_events)
        if e["EventType"] == "InvocationCompleted" and "Error" in e["InvocationCompletedDetails"]
    ]
    assert len(crashes) == 1  # the killed invocation, closed by `resume`
    crash = killed_events[crashes[0]]["InvocationCompletedDetails"]["Error"]["Payload"]
    assert crash["ErrorType"] == "Runtime.ExitError"
    before_crash = [(e["EventType"], e.get("Name")) for e in killed_events[: crashes[0]]]
    assert ("StepSucceeded", "step 9") in before_crash
    assert ("StepSucceeded", "step 10") not in before_crash

    runs = step_runs(markers, STEPS)
    assert step_runs(clean_markers, STEPS) == [1] * STEPS
    assert all(n == 1 for i, n in enumerate(runs) if i != 10)  # done steps never run again
    if start_saved:
        assert ("StepStarted", "step 10") in before_crash
        assert runs[10] == 2  # the step in flight ran again
    else:
        assert runs[10] in (1, 2)


def test_resume_refuses_while_the_running_process_lives(tmp_path):
    db = tmp_path / "runs.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = {"steps": 3, "marker_dir": str(markers), "delay": 5}
    proc = start(db, "run", "cli_workflows:many_steps", "--input", json.dumps(spec))
    try:
        wait_for(markers / "started-0", proc)
        listed = json.loads(orchestra(db, "list", "--json").stdout)
        [arn] = [e["DurableExecutionArn"] for e in listed]
        busy = orchestra(db, "resume", arn)
        assert busy.returncode == 2
        assert "is being run by process" in busy.stderr
        assert "Traceback" not in busy.stderr
    finally:
        proc.kill()
        proc.communicate(timeout=TIMEOUT)


def test_ctrl_c_during_run_exits_130_and_resume_finishes(tmp_path):
    db = tmp_path / "runs.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = {"steps": 12, "marker_dir": str(markers), "delay": 0.05}
    proc = start(db, "run", "cli_workflows:many_steps", "--input", json.dumps(spec))
    wait_for(markers / "started-5", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, out + err
    arn = arn_in(out)
    assert "interrupted; resume with: orchestra resume" in err
    assert "Traceback" not in err
    assert json.loads(orchestra(db, "list", "--json").stdout)[0]["Status"] == "RUNNING"

    resumed = orchestra(db, "resume", arn)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    events = history(db, arn)
    assert events[-1]["EventType"] == "ExecutionSucceeded"
    names = [e.get("Name") for e in events if e["EventType"] == "StepSucceeded"]
    assert names == [f"step {i}" for i in range(12)]
    assert all(n == 1 for i, n in enumerate(step_runs(markers, 12)) if i != 5)


def test_two_runs_on_one_database_at_the_same_time(tmp_path):
    db = tmp_path / "runs.db"
    assert orchestra(db, "list").returncode == 0  # the schema, before the race
    procs = [
        start(
            db,
            "run",
            "cli_workflows:many_steps",
            "--input",
            json.dumps({"steps": 15 + n, "delay": 0.01}),
            "--name",
            f"run-{n}",
        )
        for n in range(2)
    ]
    outs = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, out + err
    for n, (out, _) in enumerate(outs):
        arn = arn_in(out)
        assert f"/run-{n}/" in arn
        events = history(db, arn)
        steps = 15 + n
        names = [e.get("Name") for e in events if e["EventType"] == "StepSucceeded"]
        assert names == [f"step {i}" for i in range(steps)]
        assert events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"] == str(
            sum(i * i for i in range(steps))
        )
    listed = json.loads(orchestra(db, "list", "--json").stdout)
    assert sorted(e["Status"] for e in listed) == ["SUCCEEDED", "SUCCEEDED"]


def test_approval_walkthrough_end_to_end(tmp_path):
    """docs/cli.md's walkthrough, each command a separate process (a separate terminal)."""
    db = tmp_path / "runs.db"
    run = orchestra(db, "run", "cli_workflows:approval", "--input", '{"amount": 450}')
    assert run.returncode == 2, run.stdout + run.stderr
    arn = arn_in(run.stdout)
    lines = run.stdout.splitlines()
    answer = next(line for line in lines if "orchestra callback succeed" in line)
    callback_id = answer.split("orchestra callback succeed ", 1)[1].split()[0].strip("'")

    listed = orchestra(db, "list")
    assert listed.returncode == 0
    assert "RUNNING" in next(line for line in listed.stdout.splitlines() if arn in line)
    assert [
        e["DurableExecutionArn"]
        for e in json.loads(orchestra(db, "list", "--status", "RUNNING", "--json").stdout)
    ] == [arn]

    approved = orchestra(db, "callback", "succeed", callback_id, "--result", '{"ok": true}')
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "SUCCEEDED" in approved.stdout
    listed = json.loads(orchestra(db, "list", "--json").stdout)
    assert [e["Status"] for e in listed] == ["SUCCEEDED"]

    events = history(db, arn)
    names = {e.get("Name") for e in events}
    assert {"approval", "approval submitter", "record decision"} <= names
    result = json.loads(events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"])
    assert result == {"verdict": "approved", "decision": {"ok": True}}

    page = tmp_path / "timeline.html"
    drawn = orchestra(db, "history", arn, "--html", str(page))
    assert drawn.returncode == 0
    html = page.read_text()
    for name in ("approval", "approval submitter", "record decision", "SUCCEEDED"):
        assert name in html
    table = orchestra(db, "history", arn)
    assert "record decision" in table.stdout and '"approved"' in table.stdout


def test_serve_runs_a_registered_workflow_for_a_stock_boto3_client_and_the_cli_sees_it(tmp_path):
    import urllib.request

    import boto3
    from botocore.config import Config

    db = tmp_path / "o.db"
    server = start(db, "serve", "--port", "0", "--function", "approve=cli_workflows:approval")
    try:
        deadline = time.monotonic() + TIMEOUT
        line = ""
        while "http://" not in line:  # serve prints the URL it listens on
            assert time.monotonic() < deadline and server.poll() is None, server.stderr
            line = server.stdout.readline()
        url = "http://" + line.split("http://", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        body = json.dumps({"FunctionName": "approve", "Input": json.dumps({"order": 7})})
        request = urllib.request.Request(
            f"{url}/start-durable-execution", data=body.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            assert answer.status == 201
            arn = json.loads(answer.read())["ExecutionArn"]
        client = boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 0}),
        )
        callback_id = None
        while callback_id is None:  # the workflow waits for its approval callback
            assert time.monotonic() < deadline
            events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
            started = [e for e in events if e["EventType"] == "CallbackStarted"]
            if started:
                callback_id = started[0]["CallbackStartedDetails"]["CallbackId"]
            else:
                time.sleep(0.02)
        listed = orchestra(db, "list", "--json")  # another process reads the same database
        assert listed.returncode == 0, listed.stderr
        assert [e["Status"] for e in json.loads(listed.stdout)] == ["RUNNING"]
        client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b'{"ok": true}'
        )
        status = "RUNNING"
        while status == "RUNNING":
            assert time.monotonic() < deadline
            status = client.get_durable_execution(DurableExecutionArn=arn)["Status"]
            time.sleep(0.02)
        assert status == "SUCCEEDED"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode in (0, 130)
    shown = orchestra(db, "history", arn, "--json")
    assert shown.returncode == 0, shown.stderr
    kinds = [e["EventType"] for e in json.loads(shown.stdout)["Events"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionSucceeded"
    assert "CallbackSucceeded" in kinds
