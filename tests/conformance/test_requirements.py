"""Run the official conformance requirements against orchestra on the local emulator.

Every YAML requirement of the suites in :data:`SUITES` in the conformance directory (``$ORCHESTRA_CONFORMANCE_DIR``, else ``<repo>/../shared/conformance``; see
``locate.py``: without it these tests are skipped, or fail under
``ORCHESTRA_REQUIRE_CONFORMANCE=1``) is one case, ``test_requirement[<suite>/<id>]``, so that
``pytest tests/conformance -k step/`` selects a suite. A case runs the workflow written for
the requirement (``handlers``) on :class:`orchestra.testing.LocalRunner` and validates it as
the official runner does (``shared/spec/conformance-suite.md`` §1): the history first, then
the status and result, then the log records. The records of the ``orchestra.workflow``
loggers that carry the execution's ARN stand in for CloudWatch.

``AsyncInvoke`` requirements need no polling here: the emulator runs the execution on its
virtual clock until it ends or waits for the outside world, and the requirement's
``CallbackActions`` (§1.6) are handed to it as scripted callback actions (``actions.py``), each
applied ``Delay`` virtual seconds after its callback starts (or after the heartbeat before
it). The invoke targets the handlers register (``handlers.TARGETS``) serve chained invokes.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from actions import callback_actions
from handlers import HANDLERS, TARGETS
from locate import find_conformance_dir, require_conformance_dir
from matching import (
    Bindings,
    MatchError,
    load_requirement,
    match_history,
    match_logs,
    match_result,
)

from orchestra.testing import LocalRunner, RunResult

SUITES = (
    "step",
    "wait",
    "child",
    "callback",
    "invoke",
    "wait_for_condition",
    "wait_for_callback",
    "parallel",
    "map",
)

#: Requirements that cannot run locally: ``"<suite>/<id>"`` -> reason (strict xfail).
XFAIL: dict[str, str] = {}

_LOGGER = "orchestra.workflow"
_RECORD_FIELDS = ("executionArn", "operationId", "operationName", "parentId", "attempt")


def _natural(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in re.split(r"[-.]", path.stem))


def _requirement_files(root: Path) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for suite in SUITES:
        for path in sorted((root / suite).glob("*.yaml"), key=_natural):
            files.append((f"{suite}/{path.stem}", path))
    return files


def _params() -> list[Any]:
    root = find_conformance_dir()
    if root is None:
        # One case, which skips (or fails, when the requirements are required).
        return [pytest.param("<missing>", None, id="requirements-not-found")]
    params = []
    for key, path in _requirement_files(root):
        marks = []
        if key in XFAIL:
            marks.append(pytest.mark.xfail(reason=XFAIL[key], strict=True))
        params.append(pytest.param(key, path, id=key, marks=marks))
    return params


# --- log capture (the local stand-in for CloudWatch) ---------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._records_lock:
            self.records.append(record)


@contextmanager
def _capture_logs() -> Iterator[_Capture]:
    logger = logging.getLogger(_LOGGER)
    capture = _Capture()
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)


def _log_lines(capture: _Capture, execution_arn: str) -> list[dict[str, Any]]:
    """The records of one execution as JSON log lines (top-level fields), in emission order."""
    lines = []
    for record in capture.records:
        if getattr(record, "executionArn", None) != execution_arn:
            continue  # CloudWatch is filtered on the execution ARN as well
        line: dict[str, Any] = {
            "timestamp": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _RECORD_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        lines.append(line)
    return lines


# --- reporting ------------------------------------------------------------------------------


def _short(value: Any) -> str:
    return "-" if value is None else str(value)[:10]


def _dump(run: RunResult, events: list[dict[str, Any]], logs: list[dict[str, Any]]) -> str:
    rows = [
        f"  {e.get('EventId', '?'):>3} {e.get('EventType', '?'):<22} "
        f"{e.get('SubType') or '-':<18} {e.get('Name') or '-':<26} "
        f"id={_short(e.get('Id'))} parent={_short(e.get('ParentId'))}"
        for e in events
    ]
    error = None if run.error is None else f"{run.error.error_type}: {run.error.error_message}"
    lines = [
        f"actual: status={run.status} invocations={run.invocations} "
        f"result={run.result_json!r:.200} error={error!r:.200}",
        "actual history (EventId EventType SubType Name Id ParentId):",
        *rows,
    ]
    if logs:
        lines.append("captured log messages:")
        lines.extend(f"  {line['message'][:120]!r}" for line in logs)
    return "\n".join(lines)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "path"), _params())
def test_requirement(key: str, path: Path | None) -> None:
    require_conformance_dir()
    assert path is not None
    req = load_requirement(path)
    workflow = HANDLERS.get(key)
    assert workflow is not None, f"no handler is registered for requirement {key} ({path})"

    bindings = Bindings.from_variables(req.get("Variables"), random.Random(key))
    raw_input = req.get("Input")
    execution_input = None if raw_input in (None, "") else bindings.substitute(raw_input)
    json.dumps(execution_input)  # the payload must be JSON, as for lambda.invoke

    actions = callback_actions(req.get("CallbackActions"), bindings)

    with _capture_logs() as capture:
        runner = LocalRunner(workflow, targets=TARGETS, callbacks=actions)
        run = runner.run(input=execution_input)
    events = run.history_dicts()
    logs = _log_lines(capture, run.arn)

    errors: list[str] = []
    try:
        errors += [
            f"history: {e}"
            for e in match_history(req["ExpectedExecutionHistory"], events, bindings)
        ]
        if "ExpectedResult" in req:
            errors += [
                f"result: {e}"
                for e in match_result(req["ExpectedResult"], run.status, run.result_json, bindings)
            ]
        if "ExpectedLogs" in req:
            errors += [f"logs: {e}" for e in match_logs(req["ExpectedLogs"], logs, bindings)]
    except MatchError as exc:
        errors.append(f"matching error: {exc}")

    if errors:
        description = req.get("description", "")
        pytest.fail(
            f"{key} ({description}) does not conform:\n"
            + "\n".join(f"- {e}" for e in errors)
            + f"\ninput={execution_input!r} bindings={bindings.as_dict()!r:.600}\n"
            + _dump(run, events, logs),
            pytrace=False,
        )


def test_every_requirement_has_a_handler() -> None:
    conformance_dir = require_conformance_dir()
    files = _requirement_files(conformance_dir)
    keys = {key for key, _ in files}
    for suite in SUITES:
        assert any(key.startswith(f"{suite}/") for key in keys), (
            f"no requirement found in {conformance_dir / suite}"
        )
    uncovered = sorted(keys - HANDLERS.keys(), key=lambda k: _natural(Path(k)))
    assert not uncovered, (
        f"requirements without a handler in tests/conformance/handlers: {uncovered}"
    )
    stale = sorted(k for k in HANDLERS.keys() - keys if k.split("/")[0] in SUITES)
    assert not stale, f"handlers registered for requirements that do not exist: {stale}"
    unknown_xfail = sorted(XFAIL.keys() - keys)
    assert not unknown_xfail, f"XFAIL lists requirements that do not exist: {unknown_xfail}"
