"""Run the official conformance requirements against orchestra on the local emulator.

Every YAML requirement of the suites in :data:`SUITES` in the conformance directory (``$ORCHESTRA_CONFORMANCE_DIR``, else ``<repo>/../shared/conformance``; see
``locate.py``: without it these tests are skipped, or fail under
``ORCHESTRA_REQUIRE_CONFORMANCE=1``) is one case, ``test_requirement[<suite>/<id>]``, so that
``pytest tests/conformance -k step/`` selects a suite. A case runs the workflow written for
the requirement (``handlers``) on :class:`orchestra.testing.LocalRunner` and validates it as
the official runner does (``shared/spec/conformance-suite.md`` §1; ``suite.check``): the
history first, then the status and result, then the log records. The records of the
``orchestra.workflow`` loggers that carry the execution's ARN stand in for CloudWatch.

``AsyncInvoke`` requirements need no polling here: the emulator runs the execution on its
virtual clock until it ends or waits for the outside world, and the requirement's
``CallbackActions`` (§1.6) are handed to it as scripted callback actions (``actions.py``), each
applied ``Delay`` virtual seconds after its callback starts (or after the heartbeat before
it). The invoke targets the handlers register (``handlers.TARGETS``) serve chained invokes.

``test_over_http.py`` runs the same cases with every checkpoint going through boto3 and
the HTTP server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from handlers import HANDLERS
from orchestra_runs import XFAIL, outcome_of, run_case
from suite import SUITES, check, check_coverage, load_case, requirement_params


@pytest.mark.parametrize(("key", "path"), requirement_params(SUITES, XFAIL))
def test_requirement(key: str, path: Path | None) -> None:
    case = load_case(key, path)
    run, logs = run_case(case)
    check(case, outcome_of(run, run.history_dicts(), logs))


def test_every_requirement_has_a_handler() -> None:
    check_coverage(HANDLERS.keys(), SUITES, XFAIL.keys())
