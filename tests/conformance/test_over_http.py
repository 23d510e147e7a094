"""The conformance requirements with every service call going through boto3 and HTTP.

The same cases as ``test_requirements.py`` (every requirement of every suite it runs, the
same handlers, the same strict xfails), but the workflow's handler reaches the emulator
through :class:`~orchestra.service.lambda_api.LambdaService` over a stock boto3 ``lambda``
client pointed at an :class:`orchestra.server.Server` wrapping the runner's
:class:`~orchestra.service.local.LocalService`: every checkpoint and every state read is a
``CheckpointDurableExecution`` / ``GetDurableExecutionState`` request over loopback. The
runner still drives the execution in this process, on the emulator's virtual clock (so a
one-hour wait takes no time), with the requirement's callback actions scripted as in
process.

The history matched is read back through boto3 as well (``GetDurableExecutionHistory``,
every page, in small pages), and must be the history the emulator holds, event for event;
the status and result are those ``GetDurableExecution`` answers. One server serves the
whole module; its emulator hands out execution state :data:`STATE_PAGE` operations at a
time, so the state route's paging is exercised as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_client import fetch_history, lambda_client
from orchestra_runs import XFAIL, run_case
from suite import SUITES, Outcome, bounded, check, load_case, requirement_params

from orchestra.server import Server
from orchestra.service.lambda_api import LambdaService
from orchestra.service.local import LocalService

#: Seconds a run may take (they take milliseconds) before its case fails with the stacks.
RUN_TIMEOUT = 60.0
#: Operations per page of execution state: small, so that invocations of the larger
#: executions page through ``GetDurableExecutionState`` (``Marker``) over HTTP.
STATE_PAGE = 3


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalService, Any]]:
    """The module's emulator, served over HTTP, and a boto3 client of the server."""
    service = LocalService(page_size=STATE_PAGE)
    with Server(service) as server:
        yield service, lambda_client(server.url)


@pytest.mark.parametrize(("key", "path"), requirement_params(SUITES, XFAIL))
def test_requirement_over_http(
    key: str, path: Path | None, served: tuple[LocalService, Any]
) -> None:
    case = load_case(key, path)
    service, client = served
    run, logs = bounded(
        lambda: run_case(case, service=service, backend=LambdaService(client)),
        RUN_TIMEOUT,
        f"the run of {key}",
    )

    events = fetch_history(client, run.arn)
    described = client.get_durable_execution(DurableExecutionArn=run.arn)
    error = described.get("Error")
    outcome = Outcome(
        run.arn,
        described["Status"],
        described.get("Result"),
        None if error is None else f"{error.get('ErrorType')}: {error.get('ErrorMessage')}",
        run.invocations,
        events,
        logs,
    )
    check(case, outcome)

    # The routes must tell what the emulator holds, and the same as in process.
    assert (outcome.status, outcome.result_json) == (run.status, run.result_json), (
        "GetDurableExecution disagrees with the emulator"
    )
    assert events == run.history_dicts(), (
        "GetDurableExecutionHistory over HTTP differs from the emulator's history"
    )
