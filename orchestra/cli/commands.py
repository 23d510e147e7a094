"""The ``orchestra`` command line: run, resume, list, history, callback, stop, replay, serve.

Every command works on a SQLite database of executions (``--db``, by default
``.orchestra/orchestra.db`` under the current directory, or ``$ORCHESTRA_DB``), so an
execution started by one command can be inspected, answered, stopped or resumed by
another, from another terminal.

Exit status: ``0`` the execution succeeded (or the command did what it was asked), ``1``
it failed, was stopped or timed out (``replay``: the history does not replay), ``2`` it
is still waiting for something from outside (a callback), or the command was given bad
input (a workflow that does not load, invalid JSON, an unknown ARN or callback id, a
database that is locked, corrupt or from a newer orchestra), ``130`` interrupted by
Ctrl-C (the execution stays resumable).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestra.cli.live import LiveTable, ObservedService, PlainLines
from orchestra.cli.loading import WorkflowLoadError, load_workflow, split_spec
from orchestra.cli.timeline import (
    execution_outcome,
    format_duration,
    render_html,
    rows,
    truncate,
)
from orchestra.runtime.handler import lambda_handler
from orchestra.service.api import ServiceError
from orchestra.service.local.clock import Clock, RealClock, VirtualClock
from orchestra.service.local.execution import Execution
from orchestra.service.local.sqlite_store import SQLiteStore
from orchestra.service.local.store import StoreError
from orchestra.wire.models import ErrorObject, ExecutionStatus, OperationStatus

__all__ = ["DEFAULT_DB", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_WAITING", "cli", "main"]

#: The database every command uses unless ``--db`` or ``$ORCHESTRA_DB`` says otherwise.
DEFAULT_DB = Path(".orchestra") / "orchestra.db"
EXIT_FAILED = 1
EXIT_WAITING = 2
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEFAULT_PORT = 8765

F = TypeVar("F", bound=Callable[..., Any])


class _Failure(Exception):
    """A user mistake: printed as ``error: ...`` without a traceback; exit status 2."""


def _fail(message: str) -> NoReturn:
    raise _Failure(message)


def _stdout() -> Console:
    """A console for stdout; off a terminal it never wraps (ARNs stay copyable)."""
    terminal = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        width=None if terminal else 400,
        force_terminal=None if terminal else False,
        highlight=False,
    )


def _say(text: str) -> None:
    click.echo(text)


class _Group(click.Group):
    """Turns user mistakes (bad workflow, bad database, unknown ARN...) into exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _Failure as exc:
            message = str(exc)
        except WorkflowLoadError as exc:
            message = str(exc)
        except StoreError as exc:
            message = str(exc)
        except ServiceError as exc:
            message = f"{exc.message} ({exc.code})"
        click.echo(f"error: {message}", err=True)
        ctx.exit(EXIT_USAGE)


def _db_options(command: F) -> F:
    command = click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0.001),
        default=10.0,
        show_default=True,
        envvar="ORCHESTRA_LOCK_TIMEOUT",
        help="Seconds to wait for another process holding the database's write lock.",
    )(command)
    command = click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_DB,
        show_default=True,
        envvar="ORCHESTRA_DB",
        help="The SQLite database of executions (env: ORCHESTRA_DB).",
    )(command)
    return command


def _open(db: Path, lock_timeout: float, *, real_time: bool = False) -> ObservedService:
    """The emulator on ``db``: a virtual clock (waits skip) or the real one."""
    store = SQLiteStore(db, timeout=lock_timeout)
    clock: Clock = RealClock() if real_time else VirtualClock()
    return ObservedService(clock, store=store, skip_outside=False)


def _db_flag(db: Path) -> str:
    """`` --db PATH`` to repeat in a suggested command, unless it is the default."""
    if db == DEFAULT_DB or os.environ.get("ORCHESTRA_DB") == str(db):
        return ""
    return f" --db {_quote(str(db))}"


def _quote(text: str) -> str:
    """``text`` as one shell word (an ARN holds ``$LATEST``, which a shell would expand)."""
    return shlex.quote(text)


def _resolve(service: ObservedService, ref: str) -> str:
    """The ARN ``ref`` names: an ARN as it is, or an execution's name when it is unique."""
    if ref.startswith("arn:"):
        return ref
    named = [s.arn for s in service.list_executions() if s.name == ref]
    if len(named) == 1:
        return named[0]
    if not named:
        _fail(f"no execution named {ref!r} in {service_db(service)} (give its ARN or name)")
    _fail(f"{len(named)} executions are named {ref!r}; give the ARN of one: " + ", ".join(named))


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestra", prog_name="orchestra")
def cli() -> None:
    """Run durable workflows locally, on a SQLite database of executions.

    Exit status: 0 succeeded, 1 failed / stopped / timed out, 2 still waiting for a
    callback or bad input, 130 interrupted (resume with `orchestra resume ARN`).
    """


# --- run / resume --------------------------------------------------------------------------


def _drive(service: ObservedService, arn: str, workflow: Callable[..., Any], db: Path) -> int:
    """Run ``arn`` with a live view until it ends or waits; report and return the exit status."""
    handler = lambda_handler(workflow, service=service, clock=service.clock.now)
    console = _stdout()
    try:
        if console.is_terminal:
            with LiveTable(console) as view:
                service.watch(arn, view)
                status = service.run(arn, handler)
                service.flush()
        else:
            service.watch(arn, PlainLines(console))
            status = service.run(arn, handler)
            service.flush()
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; resume with: orchestra resume {_quote(arn)}{_db_flag(db)}", err=True
        )
        return EXIT_INTERRUPTED
    return _report(service.execution(arn), status, db)


def _open_callbacks(ex: Execution) -> list[tuple[str, str]]:
    """``(name, callback id)`` of the callbacks that wait for an answer."""
    found = []
    for callback_id, state in ex.callbacks.items():
        op = ex.operations.get(state.op_id)
        if op is not None and op.status is OperationStatus.STARTED:
            found.append((op.name or state.op_id, callback_id))
    return found


def _report(ex: Execution, status: ExecutionStatus, db: Path) -> int:
    flag = _db_flag(db)
    took = ""
    if ex.start_timestamp is not None and ex.end_timestamp is not None:
        took = f" in {format_duration((ex.end_timestamp - ex.start_timestamp).total_seconds())}"
    if status is ExecutionStatus.SUCCEEDED:
        _say(f"{status.value}{took}: {ex.arn}")
        _say(f"see its result and timeline with: orchestra history {_quote(ex.arn)}{flag}")
        return 0
    if status is not ExecutionStatus.RUNNING:
        kind = ex.error.error_type if ex.error is not None and ex.error.error_type else "error"
        _say(f"{status.value}{took} ({kind}): {ex.arn}")
        _say(f"see the error with: orchestra history {_quote(ex.arn)}{flag}")
        return EXIT_FAILED
    waiting = _open_callbacks(ex)
    if waiting:
        _say(f"WAITING for {len(waiting)} callback{'s' if len(waiting) > 1 else ''}: {ex.arn}")
        for name, callback_id in waiting:
            _say(f"  {name}: {callback_id}")
        _say("answer with:")
        for _, callback_id in waiting:
            _say(f"  orchestra callback succeed {_quote(callback_id)} --result '<JSON>'{flag}")
    else:
        _say(f"RUNNING (nothing more this process can do now): {ex.arn}")
    _say(f"continue later with: orchestra resume {_quote(ex.arn)}{flag}")
    return EXIT_WAITING


def _read_input(input_text: str | None, input_file: Path | None) -> str | None:
    if input_text is not None and input_file is not None:
        _fail("give either --input or --input-file, not both")
    if input_file is not None:
        try:
            input_text = (
                sys.stdin.read() if str(input_file) == "-" else input_file.read_text("utf-8")
            )
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read --input-file {input_file}: {exc}")
        what = f"--input-file {input_file}"
    else:
        what = "--input"
    if input_text is None:
        return None
    _parse_json(input_text, what)
    return input_text.strip()


@cli.command()
@click.argument("workflow", metavar="MODULE:WORKFLOW")
@click.option("--input", "input_text", metavar="JSON", help="The execution input, as JSON.")
@click.option(
    "--input-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file holding the input as JSON (- for stdin).",
)
@click.option("--name", help="The execution's name (default: a random one).")
@click.option("--real-time", is_flag=True, help="Waits take real time (default: skipped).")
@_db_options
def run(
    workflow: str,
    input_text: str | None,
    input_file: Path | None,
    name: str | None,
    real_time: bool,
    db: Path,
    lock_timeout: float,
) -> None:
    """Start MODULE:WORKFLOW and run it until it ends or waits for a callback.

    Prints the execution's ARN for later commands. Exit status 0 succeeded, 1 failed,
    stopped or timed out, 2 waiting for a callback, 130 interrupted (resumable).
    """
    payload = _read_input(input_text, input_file)
    if name is not None and not _NAME.fullmatch(name):
        _fail(f"invalid --name {name!r}: 1-64 characters of letters, digits, - and _")
    function = load_workflow(workflow)
    function_name = split_spec(workflow)[1].rsplit(".", 1)[-1]
    service = _open(db, lock_timeout, real_time=real_time)
    arn = service.start_execution(function_name, payload, name=name, entry=workflow)
    _say(f"started {arn}")
    sys.exit(_drive(service, arn, function, db))


@cli.command()
@click.argument("arn")
@click.option("--real-time", is_flag=True, help="Waits take real time (default: skipped).")
@_db_options
def resume(arn: str, real_time: bool, db: Path, lock_timeout: float) -> None:
    """Continue execution ARN (after a callback, a kill, or Ctrl-C) until it ends or waits.

    ARN may also be the execution's name, when no other execution has it. Exit status as
    for `orchestra run`.
    """
    service = _open(db, lock_timeout, real_time=real_time)
    arn = _resolve(service, arn)
    ex = service.execution(arn)
    if ex.status is not ExecutionStatus.RUNNING:
        sys.exit(_report(ex, ex.status, db))
    if not ex.entry:
        _fail(
            f"execution {arn} does not record where its workflow lives (it was not started "
            "by `orchestra run`), so this process cannot run it"
        )
    sys.exit(_drive(service, arn, load_workflow(ex.entry), db))


# --- list / history ------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_STATUSES = [s.value for s in ExecutionStatus]


@cli.command("list")
@click.option(
    "--status",
    type=click.Choice(_STATUSES, case_sensitive=False),
    help="Only executions in this status.",
)
@click.option("--function", "function_name", help="Only executions of this function.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_db_options
def list_(
    status: str | None, function_name: str | None, as_json: bool, db: Path, lock_timeout: float
) -> None:
    """List the executions in the database, oldest first."""
    service = _open(db, lock_timeout)
    found = service.list_executions(
        function_name, ExecutionStatus(status.upper()) if status else None
    )
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "DurableExecutionArn": s.arn,
                        "DurableExecutionName": s.name,
                        "FunctionName": s.function_name,
                        "Status": s.status.value,
                        "StartTimestamp": _iso(s.start_timestamp),
                        "EndTimestamp": _iso(s.end_timestamp),
                        "Entry": s.entry,
                    }
                    for s in found
                ],
                indent=2,
            )
        )
        return
    if not found:
        _say("no executions" + (f" with status {status.upper()}" if status else ""))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("ARN", "name", "function", "status", "started", "duration"):
        table.add_column(column, overflow="fold" if column == "ARN" else "ellipsis")
    now = service.clock.now()
    for s in found:
        duration = ""
        if s.start_timestamp is not None:
            seconds = ((s.end_timestamp or now) - s.start_timestamp).total_seconds()
            duration = format_duration(max(seconds, 0.0))
        table.add_row(
            s.arn, s.name, s.function_name, s.status.value, _when(s.start_timestamp), duration
        )
    _stdout().print(table)


def _history_table(ex: Execution) -> Table:
    start = ex.start_timestamp
    table = Table(title=f"{ex.function_name} / {ex.name}: {ex.status.value}", title_justify="left")
    for column in ("operation", "type", "status", "attempts", "start", "duration"):
        table.add_column(column, no_wrap=column != "operation")
    table.add_column("result or error", overflow="fold")
    for row in rows(ex):
        offset = ""
        if start is not None and row.start is not None:
            offset = "+" + format_duration(max((row.start - start).total_seconds(), 0.0))
        duration = ""
        if row.start is not None and row.end is not None:
            duration = format_duration(max((row.end - row.start).total_seconds(), 0.0))
        table.add_row(
            escape("  " * row.depth + truncate(row.name, 60)),
            escape(row.type),
            row.status,
            str(row.attempts or ""),
            offset,
            duration,
            escape(truncate(row.outcome, 80)),
        )
    return table


@cli.command()
@click.argument("arn")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the GetDurableExecutionHistory events."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a self-contained HTML timeline of the execution to this file.",
)
@_db_options
def history(arn: str, as_json: bool, html_file: Path | None, db: Path, lock_timeout: float) -> None:
    """Show execution ARN's operations: a timeline table, its events as JSON, or an HTML page.

    ARN may also be the execution's name, when no other execution has it. `--json` prints
    `{"Events": [...]}` as GetDurableExecutionHistory returns them (with the execution's
    data), which `orchestra replay` reads back.
    """
    service = _open(db, lock_timeout)
    arn = _resolve(service, arn)
    ex = service.execution(arn)
    if html_file is not None:
        try:
            html_file.write_text(render_html(ex), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html_file}: {exc}")
        if not as_json:
            _say(f"wrote the timeline of {len(ex.operations) - 1} operations to {html_file}")
    if as_json:
        click.echo(json.dumps({"Events": service.history_dicts(arn)}, indent=2))
        return
    if html_file is not None:
        return
    console = _stdout()
    console.print(_history_table(ex))
    took = ""
    if ex.start_timestamp is not None:
        end = ex.end_timestamp or service.clock.now()
        took = f" after {format_duration(max((end - ex.start_timestamp).total_seconds(), 0))}"
    outcome = execution_outcome(ex)
    console.print(
        f"{ex.status.value}{took}" + (f": {truncate(outcome, 200)}" if outcome else ""),
        markup=False,
    )


# --- callbacks, stop -----------------------------------------------------------------------


@cli.group()
def callback() -> None:
    """Answer a callback an execution waits for (as the outside system would)."""


def _owner(service: ObservedService, callback_id: str) -> str | None:
    with service.store.transaction() as tx:
        return tx.callback_owner(callback_id)


def _known(service: ObservedService, callback_id: str) -> str:
    arn = _owner(service, callback_id)
    if arn is None:
        _fail(f"no callback with id {callback_id!r} in {service_db(service)}")
    return arn


def service_db(service: ObservedService) -> str:
    """The database file ``service`` uses (for messages)."""
    store = service.store
    return str(store.path) if isinstance(store, SQLiteStore) else "the store"


def _continue(service: ObservedService, arn: str, db: Path, resume: bool) -> None:
    """After an answer: run the owning execution to its next stop, when this process can."""
    flag = _db_flag(db)
    if not resume:
        _say(f"continue it with: orchestra resume {_quote(arn)}{flag}")
        sys.exit(0)
    ex = service.execution(arn)
    if ex.status is not ExecutionStatus.RUNNING:
        sys.exit(_report(ex, ex.status, db))
    if not ex.entry:
        _say(f"execution {arn} was not started by `orchestra run`; not continuing it here")
        sys.exit(0)
    try:
        workflow = load_workflow(ex.entry)
    except WorkflowLoadError as exc:
        click.echo(f"not continuing {arn}: {exc}", err=True)
        _say(f"continue it later with: orchestra resume {_quote(arn)}{flag}")
        sys.exit(0)
    try:
        service.recover(arn)
    except ServiceError as exc:
        if exc.code != "ConflictException":
            raise
        _say(f"another process is running {arn}; it continues there")
        sys.exit(0)
    _say(f"continuing {arn}")
    sys.exit(_drive(service, arn, workflow, db))


_resume_option = click.option(
    "--no-resume",
    "no_resume",
    is_flag=True,
    help="Only deliver the answer; do not continue the execution here.",
)


@callback.command()
@click.argument("callback_id")
@click.option("--result", metavar="JSON", help="The callback's result, as JSON.")
@_resume_option
@_db_options
def succeed(
    callback_id: str, result: str | None, no_resume: bool, db: Path, lock_timeout: float
) -> None:
    """Complete callback CALLBACK_ID with a result, then continue its execution.

    Exit status as for `orchestra run` once the execution continued (0 with --no-resume).
    """
    if result is not None:
        _parse_json(result, "--result")
    service = _open(db, lock_timeout)
    arn = _known(service, callback_id)
    service.send_callback_success(callback_id, result.strip() if result is not None else None)
    _say(f"callback {callback_id} succeeded")
    _continue(service, arn, db, not no_resume)


@callback.command()
@click.argument("callback_id")
@click.option("--error-type", metavar="TYPE", help="The error's type (e.g. Rejected).")
@click.option("--error-message", metavar="TEXT", help="The error's message.")
@click.option("--error-data", metavar="TEXT", help="Extra data the error carries.")
@_resume_option
@_db_options
def fail(
    callback_id: str,
    error_type: str | None,
    error_message: str | None,
    error_data: str | None,
    no_resume: bool,
    db: Path,
    lock_timeout: float,
) -> None:
    """Fail callback CALLBACK_ID with an error, then continue its execution.

    Exit status as for `orchestra run` once the execution continued (0 with --no-resume).
    """
    service = _open(db, lock_timeout)
    arn = _known(service, callback_id)
    error = ErrorObject(error_type=error_type, error_message=error_message, error_data=error_data)
    service.send_callback_failure(callback_id, error)
    _say(f"callback {callback_id} failed")
    _continue(service, arn, db, not no_resume)


@callback.command()
@click.argument("callback_id")
@_db_options
def heartbeat(callback_id: str, db: Path, lock_timeout: float) -> None:
    """Tell callback CALLBACK_ID's execution that the outside system is still working on it."""
    service = _open(db, lock_timeout)
    _known(service, callback_id)
    service.send_callback_heartbeat(callback_id)
    _say(f"callback {callback_id}: heartbeat sent")


@cli.command()
@click.argument("arn")
@click.option("--error-message", metavar="TEXT", help="Why it was stopped (recorded).")
@click.option("--error-type", metavar="TYPE", help="The recorded error's type.")
@_db_options
def stop(
    arn: str, error_message: str | None, error_type: str | None, db: Path, lock_timeout: float
) -> None:
    """Stop running execution ARN (or name): it ends as STOPPED; callbacks can't answer it."""
    service = _open(db, lock_timeout)
    arn = _resolve(service, arn)
    error = None
    if error_message is not None or error_type is not None:
        error = ErrorObject(
            error_message=error_message or "Execution stopped by user request",
            error_type=error_type or "ExecutionStopped",
        )
    service.stop_execution(arn, error)
    _say(f"STOPPED: {arn}")


# --- replay --------------------------------------------------------------------------------


@cli.command()
@click.argument("workflow", metavar="MODULE:WORKFLOW")
@click.argument("history_file", metavar="HISTORY.json", type=click.Path(path_type=Path))
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="The execution input, when the history was saved without it.",
)
def replay(workflow: str, history_file: Path, input_text: str | None) -> None:
    """Replay a saved history against MODULE:WORKFLOW's current code.

    HISTORY.json is `orchestra history ARN --json`'s output, a GetDurableExecutionHistory
    answer, or a GetDurableExecutionState export. Exit status 0 when it replays, 1 with
    the difference when the code no longer matches it, 2 when the file cannot be read.
    """
    from orchestra.testing.replay import MissingInputError, Replayer

    function = load_workflow(workflow)
    try:
        saved = json.loads(history_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {history_file}: {exc}")
    except json.JSONDecodeError as exc:
        _fail(
            f"{history_file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
    kwargs: dict[str, Any] = {}
    if input_text is not None:
        kwargs["input"] = _parse_json(input_text, "--input")
    try:
        result = Replayer(function).replay(saved, raise_on_mismatch=False, **kwargs)
    except MissingInputError as exc:
        _fail(f"{history_file}: {exc}")
    except Exception as exc:
        _fail(f"{history_file} is not a history orchestra can read: {type(exc).__name__}: {exc}")
    if result.ok:
        _say(f"{history_file} replays against {workflow}")
        return
    _say(f"{history_file} does not replay against {workflow}: {result.error}")
    _say(result.diff)
    sys.exit(EXIT_FAILED)


# --- serve ---------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=_DEFAULT_PORT, show_default=True)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME=MODULE:ATTR",
    help="A function /start-durable-execution can start (repeatable).",
)
@click.option("--isolate", is_flag=True, help="Run each invocation in a worker process.")
@click.option("--real-time", is_flag=True, help="Waits take real time (default: skipped).")
@_db_options
def serve(
    host: str,
    port: int,
    functions: tuple[str, ...],
    isolate: bool,
    real_time: bool,
    db: Path,
    lock_timeout: float,
) -> None:
    """Serve the Lambda durable-execution API over HTTP until Ctrl-C.

    Point `boto3.client("lambda", endpoint_url="http://HOST:PORT")` at it.
    """
    try:
        from orchestra import server
    except ImportError as exc:
        _fail(f"`orchestra serve` needs the server extra (pip install 'orchestra[server]'): {exc}")
    registered: dict[str, str] = {}
    for option in functions:
        try:
            name, target = server.parse_function_option(option)
        except server.FunctionLoadError as exc:
            _fail(f"--function {option}: {exc}")
        registered[name] = target
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    store = SQLiteStore(db, timeout=lock_timeout)
    clock: Clock = server.WakeableClock() if real_time else VirtualClock()
    service = ObservedService(clock, store=store, skip_outside=False)
    try:
        server.serve(
            service, host=host, port=port, functions=registered, isolate=isolate, echo=_say
        )
    except server.FunctionLoadError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc}")


def main() -> None:
    """The ``orchestra`` console script."""
    cli(prog_name="orchestra")
