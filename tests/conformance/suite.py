"""What every mode of the conformance runner shares: the cases, and how a run is judged.

A mode (``test_requirements.py`` in process, ``test_over_http.py`` through boto3 and the
HTTP server, ``test_reference_sdk.py`` with the reference SDK's workflows) runs the
workflow of a requirement its own way and describes what happened as an :class:`Outcome`;
:func:`check` then validates it as the official runner does
(``shared/spec/conformance-suite.md`` §1): the history, then the status and result, then
the log records. The records that carry the execution's ARN as ``executionArn`` stand in
for CloudWatch (:func:`capture_logs`, :func:`log_lines`).

Cases are parametrised with :func:`requirement_params` (ids ``<suite>/<id>``, so that
``-k step/`` selects a suite); a case calls :func:`load_case`, which skips (or fails, under
``ORCHESTRA_REQUIRE_CONFORMANCE=1``) when the requirements are not there (``locate.py``).

Example:
    >>> natural_key(Path("1-10.yaml")) > natural_key(Path("1-9.yaml"))
    True
    >>> Outcome("arn", "SUCCEEDED", None, None, 2, []).describe().splitlines()[0]
    'actual: status=SUCCEEDED invocations=2 result=None error=None'
"""

from __future__ import annotations

import faulthandler
import json
import logging
import random
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from locate import find_conformance_dir, require_conformance_dir
from matching import (
    Bindings,
    MatchError,
    load_requirement,
    match_history,
    match_logs,
    match_result,
)

__all__ = [
    "SUITES",
    "Case",
    "LogCapture",
    "Outcome",
    "bounded",
    "capture_logs",
    "check",
    "check_coverage",
    "load_case",
    "log_lines",
    "natural_key",
    "requirement_files",
    "requirement_params",
]

#: Every suite the runner covers (the plugin suite needs an instrumentation-plugin API).
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

T = TypeVar("T")

_RECORD_FIELDS = ("executionArn", "operationId", "operationName", "parentId", "attempt")


def natural_key(path: Path) -> tuple[int, ...]:
    """Sort key of a requirement file: ``1-2`` before ``1-10``."""
    return tuple(int(part) if part.isdigit() else 0 for part in re.split(r"[-.]", path.stem))


def requirement_files(root: Path, suites: Iterable[str] = SUITES) -> list[tuple[str, Path]]:
    """Every requirement of ``suites`` under ``root`` as ``("<suite>/<id>", path)``."""
    files: list[tuple[str, Path]] = []
    for suite in suites:
        for path in sorted((root / suite).glob("*.yaml"), key=natural_key):
            files.append((f"{suite}/{path.stem}", path))
    return files


def requirement_params(
    suites: Iterable[str] = SUITES, xfail: Mapping[str, str] | None = None
) -> list[Any]:
    """``pytest.param(key, path)`` for each requirement; strict xfails from ``xfail``.

    Without the requirements directory: one case, ``requirements-not-found``, whose
    :func:`load_case` skips (or fails, when the requirements are required).
    """
    root = find_conformance_dir()
    if root is None:
        return [pytest.param("<missing>", None, id="requirements-not-found")]
    params = []
    for key, path in requirement_files(root, suites):
        marks = []
        if xfail and key in xfail:
            marks.append(pytest.mark.xfail(reason=xfail[key], strict=True))
        params.append(pytest.param(key, path, id=key, marks=marks))
    return params


@dataclass
class Case:
    """One requirement, ready to run: its YAML, placeholder bindings and execution input."""

    key: str
    path: Path
    req: dict[str, Any]
    bindings: Bindings
    input: Any

    @property
    def input_json(self) -> str:
        """The input as the Lambda payload (``null`` when absent)."""
        return json.dumps(self.input)


def load_case(key: str, path: Path | None) -> Case:
    """Load the requirement at ``path``: bind its Variables, substitute its Input.

    Skips the test (fails it, when required) if the requirements directory is missing.
    """
    require_conformance_dir()
    assert path is not None
    req = load_requirement(path)
    bindings = Bindings.from_variables(req.get("Variables"), random.Random(key))
    raw_input = req.get("Input")
    execution_input = None if raw_input in (None, "") else bindings.substitute(raw_input)
    json.dumps(execution_input)  # the payload must be JSON, as for lambda.invoke
    return Case(key, path, req, bindings, execution_input)


# --- log capture (the local stand-in for CloudWatch) ---------------------------------------


class LogCapture(logging.Handler):
    """Keeps every record it is handed (thread-safe)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._records_lock:
            self.records.append(record)

    def snapshot(self) -> list[logging.LogRecord]:
        """The records so far."""
        with self._records_lock:
            return list(self.records)


@contextmanager
def capture_logs(name: str, level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """Capture the records of logger ``name`` (``""``: the root) at ``level`` and above."""
    logger = logging.getLogger(name)
    capture = LogCapture()
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(level)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)


def log_lines(capture: LogCapture, execution_arn: str) -> list[dict[str, Any]]:
    """The records of one execution as JSON log lines (top-level fields), in emission order."""
    lines = []
    for record in capture.snapshot():
        if getattr(record, "executionArn", None) != execution_arn:
            continue  # CloudWatch is filtered on the execution ARN as well
        line: dict[str, Any] = {
            "timestamp": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _RECORD_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        lines.append(line)
    return lines


# --- judging a run --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run produced: the execution's end state, history and log lines."""

    arn: str
    status: str
    result_json: str | None
    error: str | None
    invocations: int | None
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """The run, for a failure report."""
        rows = [
            f"  {e.get('EventId', '?'):>3} {e.get('EventType', '?'):<22} "
            f"{e.get('SubType') or '-':<18} {e.get('Name') or '-':<26} "
            f"id={_short(e.get('Id'))} parent={_short(e.get('ParentId'))}"
            for e in self.events
        ]
        lines = [
            f"actual: status={self.status} invocations={_short(self.invocations, 10)} "
            f"result={self.result_json!r:.200} error={self.error!r:.200}",
            "actual history (EventId EventType SubType Name Id ParentId):",
            *rows,
        ]
        if self.logs:
            lines.append("captured log messages:")
            lines.extend(f"  {line['message'][:120]!r}" for line in self.logs)
        return "\n".join(lines)


def _short(value: Any, width: int = 10) -> str:
    return "-" if value is None else str(value)[:width]


def check(case: Case, outcome: Outcome) -> None:
    """Validate ``outcome`` against the requirement; fail the test with a report if not."""
    req, bindings = case.req, case.bindings
    errors: list[str] = []
    try:
        errors += [
            f"history: {e}"
            for e in match_history(req["ExpectedExecutionHistory"], outcome.events, bindings)
        ]
        if "ExpectedResult" in req:
            errors += [
                f"result: {e}"
                for e in match_result(
                    req["ExpectedResult"], outcome.status, outcome.result_json, bindings
                )
            ]
        if "ExpectedLogs" in req:
            errors += [
                f"logs: {e}" for e in match_logs(req["ExpectedLogs"], outcome.logs, bindings)
            ]
    except MatchError as exc:
        errors.append(f"matching error: {exc}")

    if errors:
        description = req.get("description", "")
        pytest.fail(
            f"{case.key} ({description}) does not conform:\n"
            + "\n".join(f"- {e}" for e in errors)
            + f"\ninput={case.input!r} bindings={bindings.as_dict()!r:.600}\n"
            + outcome.describe(),
            pytrace=False,
        )


def check_coverage(
    handled: Collection[str],
    suites: Iterable[str] = SUITES,
    xfail: Collection[str] = (),
    where: str = "tests/conformance/handlers",
) -> None:
    """Every requirement of ``suites`` has a handler, and nothing names a missing one."""
    suites = tuple(suites)
    conformance_dir = require_conformance_dir()
    keys = {key for key, _ in requirement_files(conformance_dir, suites)}
    for suite in suites:
        assert any(key.startswith(f"{suite}/") for key in keys), (
            f"no requirement found in {conformance_dir / suite}"
        )
    uncovered = sorted(set(keys) - set(handled), key=lambda k: natural_key(Path(k)))
    assert not uncovered, f"requirements without a handler in {where}: {uncovered}"
    stale = sorted(k for k in set(handled) - keys if k.split("/")[0] in suites)
    assert not stale, f"handlers registered for requirements that do not exist: {stale}"
    unknown_xfail = sorted(set(xfail) - keys)
    assert not unknown_xfail, f"XFAIL lists requirements that do not exist: {unknown_xfail}"


def bounded(run: Callable[[], T], timeout: float, what: str) -> T:
    """``run()`` in a thread of its own; its result, or a test failure after ``timeout``.

    A run that hangs fails the test with every thread's stack (the hung thread is left
    behind, a daemon), instead of hanging the whole session.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, run()))
        except BaseException as exc:  # re-raised in the test's thread
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=target, name=f"bounded-{what}", daemon=True).start()
    if not done.wait(timeout):
        with tempfile.TemporaryFile("w+") as dump:
            faulthandler.dump_traceback(dump, all_threads=True)
            dump.seek(0)
            stacks = dump.read()
        pytest.fail(
            f"{what} did not finish within {timeout:g} s; threads:\n{stacks}", pytrace=False
        )
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
