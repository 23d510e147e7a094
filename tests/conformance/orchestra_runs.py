"""Running orchestra's own conformance handlers, shared by the in-process and HTTP modes.

:func:`run_case` runs the workflow written for a requirement (``handlers``) on
:class:`orchestra.testing.LocalRunner`, with the requirement's ``CallbackActions`` as
scripted callback actions (``actions.py``) and the handlers' invoke targets; the workflow's
handler reaches the emulator in process, or through any other backend (``LambdaService``
over HTTP in ``test_over_http.py``). The records of the ``orchestra.workflow`` loggers that
carry the execution's ARN stand in for CloudWatch.
"""

from __future__ import annotations

from typing import Any

from actions import callback_actions
from handlers import HANDLERS, TARGETS
from suite import Case, Outcome, capture_logs, log_lines

from orchestra.service.api import DurableService
from orchestra.service.local import LocalService
from orchestra.testing import LocalRunner, RunResult

__all__ = ["WORKFLOW_LOGGER", "XFAIL", "outcome_of", "run_case"]

#: Requirements orchestra cannot pass locally: ``"<suite>/<id>"`` -> reason (strict xfail),
#: in every mode that runs orchestra's handlers.
XFAIL: dict[str, str] = {}

#: The loggers of orchestra's durable logger (``orchestra.get_logger``).
WORKFLOW_LOGGER = "orchestra.workflow"


def run_case(
    case: Case,
    *,
    service: LocalService | None = None,
    backend: DurableService | None = None,
) -> tuple[RunResult, list[dict[str, Any]]]:
    """Run the handler of ``case`` on a :class:`LocalRunner`; the run and its log lines.

    Args:
        case: the requirement.
        service: the emulator (default: a new in-memory one on a virtual clock).
        backend: what the workflow's handler calls (default: ``service``, in process).
    """
    workflow = HANDLERS.get(case.key)
    assert workflow is not None, f"no handler is registered for requirement {case.key}"
    actions = callback_actions(case.req.get("CallbackActions"), case.bindings)
    with capture_logs(WORKFLOW_LOGGER) as capture:
        runner = LocalRunner(
            workflow, service=service, backend=backend, targets=TARGETS, callbacks=actions
        )
        run = runner.run(input=case.input)
    return run, log_lines(capture, run.arn)


def outcome_of(run: RunResult, events: list[dict[str, Any]], logs: list[dict[str, Any]]) -> Outcome:
    """The :class:`Outcome` of ``run``, whose history is ``events``."""
    error = None if run.error is None else f"{run.error.error_type}: {run.error.error_message}"
    return Outcome(run.arn, run.status, run.result_json, error, run.invocations, events, logs)
