"""Executions started over HTTP and run by the server: in process, and in worker processes.

The workflows here are module-level so that a worker process can import them
(`test_server_run:<name>`).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from helpers import boto3_lambda_client

from orchestra import Step, Wait, WaitForCallback
from orchestra.server import FunctionLoadError, Server, WakeableClock, parse_function_option
from orchestra.service.local import LocalService

ROOT = pathlib.Path(__file__).resolve().parents[1]


make_client = boto3_lambda_client


def start(url: str, function: str, payload=None, **more) -> str:
    body = {"FunctionName": function, **more}
    if payload is not None:
        body["Input"] = json.dumps(payload)
    request = urllib.request.Request(
        f"{url}/start-durable-execution", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        return json.load(answer)["ExecutionArn"]


# --- workflows --------------------------------------------------------------------------


def shout(name):
    loud = yield Step(str.upper, name)
    yield Wait(3600)
    return (yield Step(lambda s: s + "!", loud))


OUTBOX: list[str] = []


def _submit(callback_id: str, order: str) -> None:
    OUTBOX.append(callback_id)


def approval(order):
    decision = yield WaitForCallback(_submit, order, name="approval")
    return {"order": order, "decision": decision}


def _crash_once(marker: str) -> str:
    if not os.path.exists(marker):
        pathlib.Path(marker).write_text("crashed")
        os._exit(1)
    return "survived"


def crash_once(marker):
    first = yield Step(str.upper, "a")
    second = yield Step(_crash_once, marker)
    return [first, second]


def _slow_once(marker: str) -> str:
    if not os.path.exists(marker):
        pathlib.Path(marker).write_text("slow")
        time.sleep(1.5)
    return "quick"


def slow_once(marker):
    return (yield Step(_slow_once, marker))


def plain_handler(event, context):
    """A Lambda handler that is no workflow: it finishes the execution itself."""
    assert "CheckpointToken" in event
    return {"Status": "SUCCEEDED", "Result": json.dumps("plain")}


def not_callable():
    return 1


NOT_CALLABLE = 42


class Counting(LocalService):
    """Counts the checkpoint calls that reach the service."""

    checkpoints = 0

    def checkpoint(self, arn, token, updates):
        self.checkpoints += 1
        return super().checkpoint(arn, token, updates)


# --- in process ---------------------------------------------------------------------------


def test_registered_workflow_runs_with_checkpoints_over_http():
    service = Counting()
    with Server(service, functions={"shout": "test_server_run:shout"}) as server:
        arn = start(server.url, "shout", "ada", ExecutionName="first")
        assert server.wait(arn, timeout=10).value == "SUCCEEDED"
        got = make_client(server.url).get_durable_execution(DurableExecutionArn=arn)
    assert (got["Status"], got["Result"], got["DurableExecutionName"]) == (
        "SUCCEEDED",
        '"ADA!"',
        "first",
    )
    assert service.checkpoints >= 3  # the handler's only way to the service is HTTP
    kinds = [e.event_type for e in service.history(arn)]
    assert kinds.count("InvocationCompleted") == 2  # the wait suspended it once
    assert kinds[-1] == "ExecutionSucceeded"
    assert service.execution(arn).entry == "test_server_run:shout"


def test_a_callback_sent_with_boto3_completes_the_waiting_workflow():
    OUTBOX.clear()
    service = LocalService()
    with Server(service, functions={"approval": approval}) as server:
        client = make_client(server.url)
        arn = start(server.url, "approval", "PO-7")
        assert server.wait(arn, timeout=10).value == "RUNNING"
        (callback_id,) = OUTBOX
        client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=json.dumps({"approved": True}).encode()
        )
        assert server.wait(arn, timeout=10).value == "SUCCEEDED"
        got = client.get_durable_execution(DurableExecutionArn=arn)
    assert json.loads(got["Result"]) == {"order": "PO-7", "decision": {"approved": True}}


def test_a_callback_failure_fails_the_workflow():
    OUTBOX.clear()
    with Server(LocalService(), functions={"approval": approval}) as server:
        client = make_client(server.url)
        arn = start(server.url, "approval", "PO-8")
        server.wait(arn, timeout=10)
        client.send_durable_execution_callback_failure(
            CallbackId=OUTBOX[-1], Error={"ErrorType": "Rejected", "ErrorMessage": "no budget"}
        )
        assert server.wait(arn, timeout=10).value == "FAILED"
        error = client.get_durable_execution(DurableExecutionArn=arn)["Error"]
    assert error["ErrorMessage"] == "no budget"


def test_stop_ends_a_waiting_workflow():
    OUTBOX.clear()
    with Server(LocalService(), functions={"approval": approval}) as server:
        client = make_client(server.url)
        arn = start(server.url, "approval", "PO-9")
        server.wait(arn, timeout=10)
        client.stop_durable_execution(DurableExecutionArn=arn)
        assert server.wait(arn, timeout=10).value == "STOPPED"
        with pytest.raises(client.exceptions.InvalidParameterValueException, match="ended"):
            client.stop_durable_execution(DurableExecutionArn=arn)
        with pytest.raises(client.exceptions.CallbackTimeoutException):
            client.send_durable_execution_callback_success(CallbackId=OUTBOX[-1], Result=b"1")


def test_real_time_callback_wakes_a_sleeping_execution():
    """On a WakeableClock an answer is acted on at once, not at the callback's timeout."""
    OUTBOX.clear()
    service = LocalService(clock=WakeableClock())

    def slow_approval(order):
        decision = yield WaitForCallback(_submit, order, name="approval", timeout=120)
        return decision

    with Server(service, functions={"slow": slow_approval}) as server:
        arn = start(server.url, "slow", "PO-10")
        deadline = time.monotonic() + 10
        while not OUTBOX and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # let the drive fall asleep until the 120 s timeout
        started = time.monotonic()
        make_client(server.url).send_durable_execution_callback_success(
            CallbackId=OUTBOX[-1], Result=b'"yes"'
        )
        deadline = time.monotonic() + 10
        while service.execution(arn).status.value == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.execution(arn).status.value == "SUCCEEDED"
        assert time.monotonic() - started < 5


def test_wakeable_clock_keeps_a_wake_for_the_next_sleep_and_closes():
    from datetime import timedelta
    from threading import Timer

    from orchestra.server import ClockClosed

    clock = WakeableClock()
    later = clock.now() + timedelta(hours=1)
    clock.advance_to(later)  # a thread's first wait looks again at once
    clock.wake()  # nobody asleep: the next wait returns at once, not in an hour
    started = time.monotonic()
    clock.advance_to(later)
    Timer(0.05, clock.close).start()
    with pytest.raises(ClockClosed):
        clock.advance_to(later)  # asleep, then interrupted
    assert time.monotonic() - started < 5
    clock.reopen()
    clock.advance_to(clock.now() - timedelta(seconds=1))  # a moment already past


def test_a_plain_lambda_handler_runs_as_is():
    with Server(LocalService(), functions={"plain": plain_handler}) as server:
        arn = start(server.url, "plain")
        assert server.wait(arn, timeout=10).value == "SUCCEEDED"
        assert server.service.execution(arn).result == '"plain"'


def test_an_invocation_over_its_timeout_fails_and_is_retried(tmp_path):
    service = LocalService()
    with Server(service, functions={"slow": slow_once}, invocation_timeout=0.3) as server:
        arn = start(server.url, "slow", str(tmp_path / "marker"))
        assert server.wait(arn, timeout=10).value == "SUCCEEDED"
    errors = [
        e.details.error.payload
        for e in service.history(arn)
        if e.event_type == "InvocationCompleted" and e.details.error is not None
    ]
    assert [(e.error_type, e.error_message) for e in errors] == [
        ("InvocationTimeoutError", "Task timed out after 0.30 seconds")
    ]


def test_function_registration_errors():
    with pytest.raises(FunctionLoadError, match="cannot import module"):
        Server(LocalService(), functions={"x": "no_such_module_xyz:f"})
    with pytest.raises(FunctionLoadError, match="has no attribute"):
        Server(LocalService(), functions={"x": "test_server_run:missing"})
    with pytest.raises(FunctionLoadError, match="not callable"):
        Server(LocalService(), functions={"x": "test_server_run:NOT_CALLABLE"})
    with pytest.raises(FunctionLoadError, match="invalid function name"):
        Server(LocalService(), functions={"a b": shout})
    with pytest.raises(FunctionLoadError, match="NAME=module:attr"):
        parse_function_option("shout")
    assert parse_function_option("shout=test_server_run:shout") == (
        "shout",
        "test_server_run:shout",
    )


def test_the_same_execution_name_cannot_run_twice():
    OUTBOX.clear()
    with Server(LocalService(), functions={"approval": approval}) as server:
        start(server.url, "approval", "PO-1", ExecutionName="po-1")
        with pytest.raises(urllib.error.HTTPError) as info:
            start(server.url, "approval", "PO-1", ExecutionName="po-1")
    assert info.value.code == 409
    assert info.value.headers["x-amzn-ErrorType"] == "DurableExecutionAlreadyStartedException"


# --- on the SQLite store, as `orchestra serve` runs it --------------------------------------


def timed_approval(order):
    decision = yield WaitForCallback(_submit, order, name="approval", timeout=1)
    return decision


def sqlite_service(tmp_path):
    from orchestra.service.local.sqlite_store import SQLiteStore

    return LocalService(store=SQLiteStore(tmp_path / "orchestra.db"), skip_outside=False)


def test_on_sqlite_a_callback_completes_the_workflow(tmp_path):
    OUTBOX.clear()
    service = sqlite_service(tmp_path)
    with Server(service, functions={"approval": approval}) as server:
        client = make_client(server.url)
        arn = start(server.url, "approval", "PO-11")
        assert server.wait(arn, timeout=10).value == "RUNNING"
        client.send_durable_execution_callback_success(CallbackId=OUTBOX[-1], Result=b'"ok"')
        assert server.wait(arn, timeout=10).value == "SUCCEEDED"
        listed = client.list_durable_executions_by_function(FunctionName="approval")
    assert [r["Status"] for r in listed["DurableExecutions"]] == ["SUCCEEDED"]
    assert json.loads(service.execution(arn).result) == {"order": "PO-11", "decision": "ok"}


def test_a_callback_timeout_left_to_real_time_fires(tmp_path):
    OUTBOX.clear()
    service = sqlite_service(tmp_path)
    with Server(service, functions={"timed": timed_approval}, tick=0.05) as server:
        arn = start(server.url, "timed", "PO-12")
        assert server.wait(arn, timeout=10).value == "RUNNING"  # the timeout is real time
        deadline = time.monotonic() + 10
        while service.execution(arn).status.value == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
    ex = service.execution(arn)
    assert ex.status.value == "FAILED"
    assert ex.error.error_type == "CallbackTimeoutError"


# --- isolated in worker processes ---------------------------------------------------------


def test_isolated_worker_crash_is_a_failed_invocation_and_the_execution_continues(tmp_path):
    service = LocalService()
    marker = tmp_path / "crashed"
    with Server(
        service, functions={"crashy": "test_server_run:crash_once"}, isolate=True
    ) as server:
        arn = start(server.url, "crashy", str(marker))
        assert server.wait(arn, timeout=30).value == "SUCCEEDED"
    assert marker.read_text() == "crashed"
    assert json.loads(service.execution(arn).result) == ["A", "survived"]
    failed = [
        e.details.error.payload
        for e in service.history(arn)
        if e.event_type == "InvocationCompleted" and e.details.error is not None
    ]
    assert [(e.error_type, e.error_message) for e in failed] == [
        ("Runtime.ExitError", "Runtime exited with error: exit status 1")
    ]


def test_isolated_import_error_is_reported_at_start():
    server = Server(LocalService(), functions={"bad": "no_such_module_xyz:workflow"}, isolate=True)
    with pytest.raises(FunctionLoadError, match="cannot import module 'no_such_module_xyz'"):
        server.start()
    server.close()


def test_isolation_needs_importable_functions():
    with pytest.raises(FunctionLoadError, match="module:attr"):
        Server(LocalService(), functions={"x": lambda event, context: None}, isolate=True)


def test_reference_sdk_handler_runs_against_the_server():
    pytest.importorskip("aws_durable_execution_sdk_python")
    service = LocalService()
    with Server(service, functions={"sdk": "test_server_run_sdk:handler"}, isolate=True) as server:
        arn = start(server.url, "sdk", {"a": 20, "b": 22})
        assert server.wait(arn, timeout=30).value == "SUCCEEDED"
    assert json.loads(service.execution(arn).result) == 42
    kinds = [e.event_type for e in service.history(arn)]
    assert kinds[:3] == ["ExecutionStarted", "StepStarted", "StepSucceeded"]


def test_reference_sdk_handler_in_process_reaches_the_server_through_the_environment(
    monkeypatch,
):
    lambda_service = pytest.importorskip("aws_durable_execution_sdk_python.lambda_service")
    monkeypatch.setattr(lambda_service.LambdaClient, "_cached_boto_client", None)
    monkeypatch.delenv("AWS_ENDPOINT_URL_LAMBDA", raising=False)
    service = LocalService()
    with Server(service, functions={"sdk": "test_server_run_sdk:handler"}) as server:
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == server.url
        arn = start(server.url, "sdk", {"a": 1, "b": 2})
        assert server.wait(arn, timeout=30).value == "SUCCEEDED"
    assert "AWS_ENDPOINT_URL_LAMBDA" not in os.environ  # restored on close
    assert json.loads(service.execution(arn).result) == 3


# --- serve() ------------------------------------------------------------------------------


def test_serve_prints_the_url_and_stops_on_ctrl_c():
    code = (
        "from orchestra.server import serve\n"
        "from orchestra.service.local import LocalService\n"
        "serve(LocalService(), port=0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            assert json.load(answer) == {"status": "healthy"}
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "stopped" in out


def test_two_servers_hand_the_sdk_endpoint_back_in_any_closing_order(monkeypatch):
    import os

    from orchestra.server import Server
    from orchestra.service.local import LocalService

    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://before")

    def plain(event, context):
        return {"Status": "SUCCEEDED"}

    a = Server(LocalService(), functions={"f": plain})
    b = Server(LocalService(), functions={"f": plain})
    a.start()
    b.start()
    try:
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == b.url
        a.close()  # the older one first: the live one keeps the endpoint
        assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == b.url
    finally:
        a.close()
        b.close()
    assert os.environ["AWS_ENDPOINT_URL_LAMBDA"] == "http://before"


def test_a_callback_answer_in_a_chained_invokes_child_drives_the_top_execution():
    from orchestra.server.dispatch import Dispatcher
    from orchestra.service.local import LocalService

    service = LocalService()
    parent = service.start_execution("parent", None)
    child = service.start_execution("child", None)
    with service._txn() as tx:
        tx.get(child).invoked_by = (parent, "invoke-op")
    dispatcher = Dispatcher(service, {})
    kicked: list[str] = []
    dispatcher.kick = kicked.append  # type: ignore[method-assign]
    dispatcher.kick_family(child)
    dispatcher.kick_family(parent)
    dispatcher.kick_family("arn:unknown")  # nothing to drive, and no error escapes
    assert kicked == [parent, parent]
