"""The ``orchestra`` CLI in process (click's CliRunner): every command, exit codes, bad input."""

from __future__ import annotations

import json
import pathlib
import sqlite3
import threading

import pytest
from click.testing import CliRunner, Result

from orchestra.cli import cli
from orchestra.service.local import LocalService
from orchestra.service.local.sqlite_store import SQLiteStore

TESTS = pathlib.Path(__file__).resolve().parent


@pytest.fixture
def db(tmp_path, monkeypatch) -> pathlib.Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.delenv("ORCHESTRA_DB", raising=False)
    return tmp_path / "runs.db"


def orchestra(*args: str, db: pathlib.Path | None = None, input: str | None = None) -> Result:
    argv = list(args)
    if db is not None:
        argv += ["--db", str(db)]
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)


def arn_of(result: Result) -> str:
    return result.output.split("started ", 1)[1].split()[0]


def callback_ids(db: pathlib.Path, arn: str) -> list[str]:
    service = LocalService(store=SQLiteStore(db))
    try:
        return list(service.execution(arn).callbacks)
    finally:
        service.store.close()  # type: ignore[attr-defined]


def execution(db: pathlib.Path, arn: str):
    service = LocalService(store=SQLiteStore(db))
    try:
        return service.execution(arn)
    finally:
        service.store.close()  # type: ignore[attr-defined]


# --- run: exit codes -----------------------------------------------------------------------


def test_run_succeeded_exits_0_and_prints_the_arn(db):
    result = orchestra("run", "cli_workflows:greet", "--input", '"ada"', db=db)
    assert result.exit_code == 0, result.output
    arn = arn_of(result)
    assert ":function:greet:" in arn
    assert "SUCCEEDED" in result.output
    assert "started   Step shout" in result.output  # the live view, as plain lines
    assert "succeeded Wait 1h00m" in result.output
    assert "ADA" not in result.output  # payloads are not printed
    ex = execution(db, arn)
    assert ex.result == '"hello ADA"'
    assert ex.entry == "cli_workflows:greet"


def test_run_defaults_to_the_database_under_dot_orchestra(db):
    result = orchestra("run", "cli_workflows:greet", "--input", '"ada"')
    assert result.exit_code == 0, result.output
    assert (db.parent / ".orchestra" / "orchestra.db").exists()
    listed = orchestra("list", "--json")
    assert [e["Status"] for e in json.loads(listed.output)] == ["SUCCEEDED"]


def test_run_uses_orchestra_db_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_DB", str(db))
    assert orchestra("run", "cli_workflows:greet", "--input", '"ada"').exit_code == 0
    assert db.exists()


def test_run_failed_exits_1_naming_the_error_type(db):
    result = orchestra("run", "cli_workflows:fails", db=db)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    assert "StepError" in result.output
    assert "on fire" not in result.output  # the message is the user's data: see `history`


def test_run_waiting_for_a_callback_exits_2_with_the_command_to_answer(db):
    result = orchestra("run", "cli_workflows:approval", "--input", "{}", db=db)
    assert result.exit_code == 2, result.output
    arn = arn_of(result)
    [callback_id] = callback_ids(db, arn)
    assert callback_id in result.output
    assert "orchestra callback succeed" in result.output
    assert f"--db {db}" in result.output  # a non-default database is repeated
    assert execution(db, arn).status.value == "RUNNING"


def test_run_waiting_lists_every_open_callback(db):
    result = orchestra("run", "cli_workflows:two_callbacks", db=db)
    assert result.exit_code == 2
    assert "WAITING for 2 callbacks" in result.output
    for callback_id in callback_ids(db, arn_of(result)):
        assert callback_id in result.output


def test_run_accepts_a_lambda_handler_and_a_name(db):
    result = orchestra(
        "run", "cli_workflows:greet_handler", "--input", '"x"', "--name", "n-1", db=db
    )
    assert result.exit_code == 0, result.output
    assert "/durable-execution/n-1/" in arn_of(result)


def test_run_input_file(db, tmp_path):
    (tmp_path / "in.json").write_text('"grace"')
    result = orchestra("run", "cli_workflows:greet", "--input-file", "in.json", db=db)
    assert result.exit_code == 0, result.output
    assert execution(db, arn_of(result)).result == '"hello GRACE"'


def test_run_input_from_stdin(db):
    result = orchestra("run", "cli_workflows:greet", "--input-file", "-", db=db, input='"bo"')
    assert result.exit_code == 0, result.output
    assert execution(db, arn_of(result)).result == '"hello BO"'


# --- run: bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cli_workflows", "expected module:workflow"),
        ("cli_workflows:", "expected module:workflow"),
        ("no_such_module_xyz:flow", "cannot import module 'no_such_module_xyz'"),
        ("cli_workflows:missing", "module 'cli_workflows' has no attribute 'missing'"),
        ("cli_workflows:not_a_generator", "is not a generator function"),
        ("cli_workflows:NOT_CALLABLE", "is not a generator function (a int)"),
    ],
)
def test_run_bad_workflow_exits_2_with_a_clear_message(db, spec, message):
    result = orchestra("run", spec, db=db)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not db.exists()  # nothing was started


def test_run_module_that_raises_on_import(db, tmp_path):
    (tmp_path / "broken_flow.py").write_text("import json\nraise RuntimeError('no config')\n")
    (tmp_path / "bad_syntax.py").write_text("def flow(:\n")
    (tmp_path / "bad_import.py").write_text("import no_such_dependency_xyz\n")
    raised = orchestra("run", "broken_flow:flow", db=db)
    assert raised.exit_code == 2
    assert "RuntimeError: no config" in raised.output
    assert "broken_flow.py:2" in raised.output
    syntax = orchestra("run", "bad_syntax:flow", db=db)
    assert syntax.exit_code == 2
    assert "SyntaxError" in syntax.output
    missing = orchestra("run", "bad_import:flow", db=db)
    assert missing.exit_code == 2
    assert "no_such_dependency_xyz" in missing.output
    assert "Traceback" not in raised.output + syntax.output + missing.output


def test_run_finds_modules_in_the_current_directory(db, tmp_path):
    (tmp_path / "local_flow.py").write_text(
        "from orchestra import Step\n\ndef flow(x):\n    return (yield Step(abs, x))\n"
    )
    result = orchestra("run", "local_flow:flow", "--input", "-3", db=db)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "where"),
    [('{"a": 1', "line 1, column 8"), ("[1,\n 2,,]", "line 2, column 4"), ("", "line 1, column 1")],
)
def test_run_invalid_input_json_exits_2_with_the_position(db, text, where):
    result = orchestra("run", "cli_workflows:greet", "--input", text, db=db)
    assert result.exit_code == 2
    assert "--input is not valid JSON" in result.output
    assert where in result.output


def test_run_input_and_input_file_together(db, tmp_path):
    (tmp_path / "in.json").write_text("1")
    result = orchestra(
        "run", "cli_workflows:greet", "--input", "1", "--input-file", "in.json", db=db
    )
    assert result.exit_code == 2
    assert "not both" in result.output


def test_run_unreadable_input_file(db):
    result = orchestra("run", "cli_workflows:greet", "--input-file", "nope.json", db=db)
    assert result.exit_code == 2
    assert "cannot read --input-file nope.json" in result.output


def test_run_invalid_name(db):
    result = orchestra("run", "cli_workflows:greet", "--name", "a/b", db=db)
    assert result.exit_code == 2
    assert "invalid --name" in result.output


# --- the database --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["list"], ["run", "cli_workflows:greet"], ["history", "arn:x"], ["stop", "arn:x"]]
)
def test_corrupt_database_exits_2(db, command):
    db.write_bytes(b"this is not a database, just garbage " * 100)
    result = orchestra(*command, db=db)
    assert result.exit_code == 2
    assert "not an orchestra database, or it is corrupt" in result.output
    assert "Traceback" not in result.output


def test_foreign_sqlite_database_exits_2(db):
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    result = orchestra("list", db=db)
    assert result.exit_code == 2
    assert "a SQLite database of something else" in result.output


def test_database_from_a_newer_version_exits_2(db):
    assert orchestra("list", db=db).exit_code == 0  # creates it
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version=99")
    result = orchestra("run", "cli_workflows:greet", "--input", '"a"', db=db)
    assert result.exit_code == 2
    assert "written by a newer orchestra (schema 99" in result.output


def test_locked_database_exits_2_after_the_lock_timeout(db):
    assert orchestra("list", db=db).exit_code == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = CliRunner().invoke(
            cli, ["list", "--db", str(db), "--lock-timeout", "0.2"], catch_exceptions=False
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 2
    assert "locked" in result.output


def test_locked_database_while_running_exits_2(db):
    assert orchestra("list", db=db).exit_code == 0
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        result = CliRunner().invoke(
            cli,
            ["run", "cli_workflows:greet", "--db", str(db), "--lock-timeout", "0.2"],
            catch_exceptions=False,
        )
    finally:
        release.set()
        thread.join(10)
    assert result.exit_code == 2
    assert "locked" in result.output


# --- unknown ARNs and callback ids ---------------------------------------------------------

UNKNOWN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/0123"


@pytest.mark.parametrize("command", [["history"], ["resume"], ["stop"], ["history", "--json"]])
def test_unknown_arn_exits_2(db, command):
    result = orchestra(command[0], UNKNOWN, *command[1:], db=db)
    assert result.exit_code == 2
    assert "no durable execution" in result.output
    assert "ResourceNotFoundException" in result.output


@pytest.mark.parametrize("verb", ["succeed", "fail", "heartbeat"])
def test_unknown_callback_id_exits_2(db, verb):
    result = orchestra("callback", verb, "AAAAbbbbCCCC", db=db)
    assert result.exit_code == 2
    assert "no callback with id 'AAAAbbbbCCCC'" in result.output


def test_malformed_callback_id_exits_2(db):
    result = orchestra("callback", "succeed", "not a base64 id!", db=db)
    assert result.exit_code == 2
    assert "no callback with id" in result.output


# --- list ----------------------------------------------------------------------------------


def test_list_table_json_and_status_filter(db):
    ok = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"a"', db=db))
    waiting = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    failed = arn_of(orchestra("run", "cli_workflows:fails", db=db))
    table = orchestra("list", db=db)
    assert table.exit_code == 0
    for arn, status in ((ok, "SUCCEEDED"), (waiting, "RUNNING"), (failed, "FAILED")):
        line = next(line for line in table.output.splitlines() if arn in line)
        assert status in line  # the whole ARN on one line: copyable
    assert "duration" in table.output.splitlines()[0]
    listed = json.loads(orchestra("list", "--json", db=db).output)
    assert [(e["DurableExecutionArn"], e["Status"]) for e in listed] == [
        (ok, "SUCCEEDED"),
        (waiting, "RUNNING"),
        (failed, "FAILED"),
    ]
    assert listed[0]["Entry"] == "cli_workflows:greet"
    running = json.loads(orchestra("list", "--status", "running", "--json", db=db).output)
    assert [e["DurableExecutionArn"] for e in running] == [waiting]
    assert orchestra("list", "--status", "nope", db=db).exit_code == 2


def test_list_empty(db):
    result = orchestra("list", db=db)
    assert result.exit_code == 0
    assert "no executions" in result.output


# --- history -------------------------------------------------------------------------------


def test_history_table_shows_operations_results_and_errors(db):
    ok = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"ada"', db=db))
    table = orchestra("history", ok, db=db)
    assert table.exit_code == 0
    for text in ("shout", "Step", "SUCCEEDED", '"ADA"', "Wait", "1h00m", "hello ADA"):
        assert text in table.output
    failed = arn_of(orchestra("run", "cli_workflows:fails", db=db))
    shown = orchestra("history", failed, db=db).output
    assert "explode" in shown
    assert "the warehouse is on fire" in shown
    assert " 6 " in shown  # attempts


def test_history_json_is_the_service_history_and_replays(db, tmp_path):
    arn = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"ada"', db=db))
    result = orchestra("history", arn, "--json", db=db)
    assert result.exit_code == 0
    events = json.loads(result.output)["Events"]
    assert events[0]["EventType"] == "ExecutionStarted"
    assert events[-1]["EventType"] == "ExecutionSucceeded"
    assert ("StepSucceeded", "shout") in [(e["EventType"], e.get("Name")) for e in events]
    (tmp_path / "h.json").write_text(result.output)
    replayed = orchestra("replay", "cli_workflows:greet", "h.json")
    assert replayed.exit_code == 0, replayed.output
    assert "replays" in replayed.output


def test_history_html_is_self_contained_and_escapes_user_data(db, tmp_path):
    evil = "<script>alert(1)</script>"
    arn = arn_of(
        orchestra("run", "cli_workflows:approval", "--input", json.dumps({"x": evil}), db=db)
    )
    [callback_id] = callback_ids(db, arn)
    assert (
        orchestra(
            "callback", "succeed", callback_id, "--result", json.dumps({"ok": evil}), db=db
        ).exit_code
        == 0
    )
    result = orchestra("history", arn, "--html", "timeline.html", db=db)
    assert result.exit_code == 0
    page = (tmp_path / "timeline.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;" in page  # the result, escaped
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "<svg" in page and "<rect" in page
    for name in ("approval", "approval submitter", "record decision"):
        assert f">{name}<" in page
    assert "SUCCEEDED" in page


def test_history_html_unwritable(db):
    arn = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"a"', db=db))
    result = orchestra("history", arn, "--html", "no/such/dir/t.html", db=db)
    assert result.exit_code == 2
    assert "cannot write" in result.output


# --- callbacks, resume, stop ---------------------------------------------------------------


def test_callback_succeed_continues_the_execution(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    result = orchestra("callback", "succeed", callback_id, "--result", '{"ok": true}', db=db)
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output
    assert json.loads(execution(db, arn).result) == {
        "verdict": "approved",
        "decision": {"ok": True},
    }
    again = orchestra("callback", "succeed", callback_id, "--result", "1", db=db)
    assert again.exit_code == 2
    assert "CallbackTimeoutException" in again.output


def test_callback_succeed_invalid_result_json(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    result = orchestra("callback", "succeed", callback_id, "--result", "{ok}", db=db)
    assert result.exit_code == 2
    assert "--result is not valid JSON" in result.output
    assert execution(db, arn).status.value == "RUNNING"


def test_callback_fail_continues_to_a_failed_execution(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    result = orchestra(
        "callback", "fail", callback_id, "--error-type", "Rejected", "--error-message", "no", db=db
    )
    assert result.exit_code == 1, result.output
    ex = execution(db, arn)
    assert ex.status.value == "FAILED"
    [op] = [op for op in ex.operations.values() if op.callback_details is not None]
    assert op.callback_details.error.error_type == "Rejected"
    assert op.callback_details.error.error_message == "no"


def test_callback_no_resume_then_resume(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    delivered = orchestra(
        "callback", "succeed", callback_id, "--result", "{}", "--no-resume", db=db
    )
    assert delivered.exit_code == 0
    assert "orchestra resume" in delivered.output
    assert execution(db, arn).status.value == "RUNNING"
    resumed = orchestra("resume", arn, db=db)
    assert resumed.exit_code == 0, resumed.output
    assert execution(db, arn).status.value == "SUCCEEDED"
    assert orchestra("resume", arn, db=db).exit_code == 0  # already ended: reports it


def test_callback_heartbeat(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    result = orchestra("callback", "heartbeat", callback_id, db=db)
    assert result.exit_code == 0
    assert "heartbeat sent" in result.output
    assert execution(db, arn).status.value == "RUNNING"


def test_callback_whose_workflow_no_longer_imports_is_still_delivered(db, tmp_path):
    (tmp_path / "gone_flow.py").write_text(
        "from orchestra import Callback\n\ndef flow(x):\n    return (yield (yield Callback()))\n"
    )
    arn = arn_of(orchestra("run", "gone_flow:flow", db=db))
    (tmp_path / "gone_flow.py").write_text("raise ImportError('gone')\n")
    import sys

    sys.modules.pop("gone_flow", None)
    [callback_id] = callback_ids(db, arn)
    result = orchestra("callback", "succeed", callback_id, "--result", "7", db=db)
    assert result.exit_code == 0
    assert "not continuing" in result.output
    assert "orchestra resume" in result.output


def test_stop_a_waiting_execution(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    result = orchestra("stop", arn, "--error-message", "changed my mind", db=db)
    assert result.exit_code == 0
    ex = execution(db, arn)
    assert ex.status.value == "STOPPED"
    assert ex.error.error_message == "changed my mind"
    assert orchestra("resume", arn, db=db).exit_code == 1  # stopped: reported as an end
    again = orchestra("stop", arn, db=db)
    assert again.exit_code == 2
    assert "already ended" in again.output


def test_resume_of_an_execution_not_started_by_the_cli(db):
    service = LocalService(store=SQLiteStore(db))
    arn = service.start_execution("f", None)
    service.store.close()  # type: ignore[attr-defined]
    result = orchestra("resume", arn, db=db)
    assert result.exit_code == 2
    assert "does not record where its workflow lives" in result.output


# --- replay --------------------------------------------------------------------------------


def test_replay_mismatch_exits_1_with_the_diff(db, tmp_path):
    arn = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"ada"', db=db))
    (tmp_path / "h.json").write_text(orchestra("history", arn, "--json", db=db).output)
    (tmp_path / "greet_v2.py").write_text(
        "from orchestra import Step, Wait\n\n"
        "def greet(name):\n"
        "    loud = yield Step(str.upper, name, name='yell')\n"
        "    yield Wait(3600)\n"
        "    return loud\n"
    )
    result = orchestra("replay", "greet_v2:greet", "h.json")
    assert result.exit_code == 1, result.output
    assert "does not replay" in result.output
    assert "named shout != code a STEP (Step) named yell" in result.output


def test_replay_unreadable_files_exit_2(db, tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "odd.json").write_text('{"Something": []}')
    missing = orchestra("replay", "cli_workflows:greet", "missing.json")
    assert missing.exit_code == 2 and "cannot read missing.json" in missing.output
    bad = orchestra("replay", "cli_workflows:greet", "bad.json")
    assert bad.exit_code == 2 and "is not valid JSON" in bad.output
    odd = orchestra("replay", "cli_workflows:greet", "odd.json")
    assert odd.exit_code == 2 and "not a history orchestra can read" in odd.output
    assert orchestra("replay", "cli_workflows:nope", "bad.json").exit_code == 2


def test_replay_without_the_input_needs_input(db, tmp_path):
    arn = arn_of(orchestra("run", "cli_workflows:greet", "--input", '"ada"', db=db))
    events = json.loads(orchestra("history", arn, "--json", db=db).output)["Events"]
    for event in events:
        details = event.get("ExecutionStartedDetails")
        if details:
            details["Input"] = {"Truncated": True}
    (tmp_path / "h.json").write_text(json.dumps({"Events": events}))
    result = orchestra("replay", "cli_workflows:greet", "h.json")
    assert result.exit_code == 2
    assert "does not carry the execution input" in result.output
    assert orchestra("replay", "cli_workflows:greet", "h.json", "--input", '"ada"').exit_code == 0


# --- serve (the server itself is tested in its own files) ----------------------------------


def test_serve_bad_function_option_exits_2(db):
    result = orchestra("serve", "--function", "no-equals-sign", db=db)
    assert result.exit_code == 2
    assert "expected NAME=module:attr" in result.output


def test_serve_function_that_does_not_import_exits_2(db):
    result = orchestra("serve", "--port", "0", "--function", "f=no_such_module_xyz:flow", db=db)
    assert result.exit_code == 2
    assert "no_such_module_xyz" in result.output


def test_commands_accept_an_execution_name_for_the_arn(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", "--name", "exp-17", db=db))
    shown = orchestra("history", "exp-17", "--json", db=db)
    assert shown.exit_code == 0
    assert json.loads(shown.output)["Events"][0]["Name"] == "exp-17"
    assert orchestra("stop", "exp-17", db=db).exit_code == 0
    assert execution(db, arn).status.value == "STOPPED"
    unknown = orchestra("resume", "exp-18", db=db)
    assert unknown.exit_code == 2 and "no execution named 'exp-18'" in unknown.output
    orchestra("run", "cli_workflows:greet", "--input", '"a"', "--name", "exp-17", db=db)
    twice = orchestra("history", "exp-17", db=db)
    assert twice.exit_code == 2 and "2 executions are named 'exp-17'" in twice.output


def test_resumed_run_counts_invocations_on_from_the_history(db):
    arn = arn_of(orchestra("run", "cli_workflows:approval", db=db))
    [callback_id] = callback_ids(db, arn)
    result = orchestra("callback", "succeed", callback_id, "--result", "{}", db=db)
    assert "invocation 2 ended" in result.output
    assert "invocation 1" not in result.output  # only what happened since is shown
