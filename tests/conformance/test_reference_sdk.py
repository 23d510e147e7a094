"""The step, wait and child requirements, with workflows orchestra did not write.

Each requirement's workflow is written with the reference Python SDK
(``aws-durable-execution-sdk-python``, ``reference_sdk/``), wrapped with the SDK's own
``durable_execution`` decorator, handed a stock boto3 ``lambda`` client of the server, and
registered with an :class:`orchestra.server.Server` as a Lambda handler. A case starts its
execution with the emulator's ``POST /start-durable-execution``; the server's dispatcher
invokes the handler, and every checkpoint and state read the SDK makes goes over HTTP. The
test polls ``GetDurableExecution`` until the execution ends (bounded), reads the history
with ``GetDurableExecutionHistory`` (every page), and validates it as the official runner
does (``suite.check``): the history, the status and result, and the log records (the
SDK's context loggers write to the root logger, with the ``executionArn`` field).

The emulator runs on its virtual clock, so waits and retry delays take no time; what
remains is the SDK's own pace (about 0.1 s per invocation, its checkpoint thread's stop
poll). So that the module takes seconds rather than tens of them, the selected cases'
executions run ahead of the tests, :data:`LANES` at a time, each lane a server of its own
(its own emulator and virtual clock: a clock shared by executions running at once would
let one execution's skip fire another's timers early); each test then validates its own
execution. The emulators hand out execution state :data:`STATE_PAGE` operations at a
time, so the SDK's paging is exercised too. The point:
orchestra's service must be right for an SDK it did not write. A case that fails because of
the service is a bug in the service; one that fails because the SDK does something the
requirement does not allow for is listed in :data:`XFAIL` with the reason.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "aws_durable_execution_sdk_python",
    reason="the reference SDK (aws-durable-execution-sdk-python, the interop extra) "
    "is not installed",
)

from aws_durable_execution_sdk_python import durable_execution
from http_client import fetch_history, lambda_client, wait_until_done
from reference_sdk import HANDLERS, SUITES
from suite import (
    Case,
    LogCapture,
    Outcome,
    capture_logs,
    check,
    check_coverage,
    load_case,
    log_lines,
    requirement_params,
)

from orchestra.server import Server
from orchestra.service.local import LocalService

#: Requirements the reference SDK does not pass here: ``"<suite>/<id>"`` -> why (strict).
XFAIL: dict[str, str] = {}

#: Seconds an execution may take before its case fails (they take well under one).
EXECUTION_TIMEOUT = 20.0
#: Executions run at the same time, each on a server of its own.
LANES = 4
#: Operations per page of execution state: small, so that the SDK pages through
#: ``GetDurableExecutionState`` (``Marker``) after an ``InitialExecutionState`` that has a
#: ``NextMarker``, as it must for a large execution.
STATE_PAGE = 3


def function_name(key: str) -> str:
    """The Lambda function name of requirement ``key`` (``step/1-2`` -> ``step-1-2``)."""
    return key.replace("/", "-")


class _Deferred:
    """A Lambda handler whose real handler is known once the server listens (its URL)."""

    def __init__(self) -> None:
        self.handler: Any = None

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        assert self.handler is not None, "the server invoked a function before it was bound"
        return self.handler(event, context)


class Lane:
    """A server with every reference-SDK workflow registered, and a boto3 client of it."""

    def __init__(self, stack: ExitStack) -> None:
        deferred = {function_name(key): _Deferred() for key in HANDLERS}
        self.server = stack.enter_context(
            Server(LocalService(page_size=STATE_PAGE), functions=deferred, workers=1)
        )
        self.client = lambda_client(self.server.url)
        for key, workflow in HANDLERS.items():
            handler = durable_execution(workflow, boto3_client=self.client)
            deferred[function_name(key)].handler = handler

    def start(self, function: str, payload: str, name: str) -> str:
        """``POST /start-durable-execution``; the new execution's ARN."""
        body = {"FunctionName": function, "ExecutionName": name, "Input": payload}
        request = urllib.request.Request(
            f"{self.server.url}/start-durable-execution",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201, f"start-durable-execution answered {answer.status}"
            arn: str = json.load(answer)["ExecutionArn"]
        return arn

    def run(self, case: Case) -> Outcome:
        """Start the execution of ``case``, poll it until it ends (bounded); its outcome."""
        name = function_name(case.key)
        arn = self.start(name, case.input_json, f"ref-{name}")
        described = wait_until_done(self.client, arn, EXECUTION_TIMEOUT)
        events = fetch_history(self.client, arn)
        error = described.get("Error")
        return Outcome(
            arn=arn,
            status=described["Status"],
            result_json=described.get("Result"),
            error=None
            if error is None
            else f"{error.get('ErrorType')}: {error.get('ErrorMessage')}",
            invocations=sum(e["EventType"] == "InvocationCompleted" for e in events),
            events=events,
        )


class Runs:
    """The executions of the selected cases, run ahead on the lanes, and their log records."""

    def __init__(self, futures: dict[str, Future[Outcome]], capture: LogCapture) -> None:
        self.futures = futures
        self.capture = capture

    def outcome(self, key: str) -> Outcome:
        """The outcome of ``key``'s execution (waiting, bounded, for it to be run)."""
        future = self.futures.get(key)
        assert future is not None, f"{key} was not run ahead"
        # Each execution is polled for at most EXECUTION_TIMEOUT, LANES at a time.
        rounds = len(self.futures) // LANES + 1
        outcome = future.result(timeout=EXECUTION_TIMEOUT * rounds + 30)
        outcome.logs = log_lines(self.capture, outcome.arn)
        return outcome


def _selected(session: pytest.Session) -> list[tuple[str, Path]]:
    """The (key, path) of every case of :func:`test_reference_sdk` this session runs."""
    selected = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if (
            callspec is not None
            and getattr(item, "module", None) is sys.modules[__name__]
            and getattr(item, "originalname", None) == "test_reference_sdk"
            and callspec.params.get("path") is not None
        ):
            selected.append((callspec.params["key"], callspec.params["path"]))
    return selected


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> Iterator[Runs]:
    """Run the selected cases' executions ahead, :data:`LANES` at a time."""
    cases = [load_case(key, path) for key, path in _selected(request.session)]
    lanes: queue.Queue[Lane] = queue.Queue()

    def run(case: Case) -> Outcome:
        lane = lanes.get(timeout=EXECUTION_TIMEOUT)
        try:
            return lane.run(case)
        finally:
            lanes.put(lane)

    if not cases:  # nothing selected, or no requirements (the cases skip)
        yield Runs({}, LogCapture())
        return
    with ExitStack() as stack:  # servers close in reverse order of starting
        for _ in range(min(LANES, len(cases))):
            lanes.put(Lane(stack))
        capture = stack.enter_context(capture_logs("", logging.INFO))
        pool = stack.enter_context(ThreadPoolExecutor(LANES, thread_name_prefix="ref-sdk"))
        yield Runs({case.key: pool.submit(run, case) for case in cases}, capture)


@pytest.mark.parametrize(("key", "path"), requirement_params(SUITES, XFAIL))
def test_reference_sdk(key: str, path: Path | None, runs: Runs) -> None:
    case = load_case(key, path)
    assert key in HANDLERS, f"no reference-SDK workflow for requirement {key}"
    outcome = runs.outcome(key)
    assert outcome.status != "RUNNING", (
        f"{key}: the execution did not end within {EXECUTION_TIMEOUT:.0f} s\n" + outcome.describe()
    )
    check(case, outcome)


def test_every_requirement_has_a_reference_sdk_workflow() -> None:
    check_coverage(HANDLERS.keys(), SUITES, XFAIL.keys(), where="tests/conformance/reference_sdk")
