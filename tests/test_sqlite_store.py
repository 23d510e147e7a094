"""The SQLite store: durable executions, one transaction per call, several processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest

from orchestra import Callback, Child, Map, Step, Wait, lambda_handler
from orchestra.service.api import ServiceError
from orchestra.service.local import LocalService, RealClock, VirtualClock
from orchestra.service.local.sqlite_store import SCHEMA_VERSION, SQLiteStore
from orchestra.service.local.store import StoreError
from orchestra.wire.models import (
    CallbackOptions,
    ErrorObject,
    ExecutionStatus,
    OperationAction,
    OperationType,
    OperationUpdate,
)


def double(x):
    return x * 2


def double_item(x, index):
    return x * 2


def inner(x):
    y = yield Step(double, x, name="inner-double")
    return y + 1


def rich_workflow(event):
    a = yield Step(double, event["n"], name="first")
    yield Wait(3600, name="nap")
    b = yield Child(inner, a, name="kid")
    items = yield Map([1, 2, 3], double_item, name="each")
    return {"a": a, "b": b, "items": items.values()}


def approval(event):
    cb = yield Callback(name="approval", timeout=600)
    answer = yield cb
    yield Step(double, 2, name="after")
    return answer


def shape(events):
    """What must match between two runs: types, names and order, not times or ids.

    The Map's items run concurrently, so the order of their own events may differ from run
    to run: those are compared as a set with counts, in the Map's place.
    """
    inside = {"double_item"}
    ordered = []
    concurrent = []
    for e in events:
        name = e.name or ""
        if name in inside or name.startswith("map-item-"):
            if not concurrent:
                ordered.append(("Map items", None))
            concurrent.append((e.event_type, name))
        else:
            ordered.append((e.event_type, e.name))
    return ordered, sorted(concurrent)


def service_on(path, **options) -> LocalService:
    return LocalService(store=SQLiteStore(path), **options)


def test_a_run_on_sqlite_gives_the_same_history_as_in_memory(tmp_path):
    memory = LocalService()
    arn_m = memory.start_execution("fn", '{"n": 4}', name="x")
    memory.run(arn_m, lambda_handler(rich_workflow, service=memory))
    disk = service_on(tmp_path / "o.db")
    arn_d = disk.start_execution("fn", '{"n": 4}', name="x")
    status = disk.run(arn_d, lambda_handler(rich_workflow, service=disk))
    assert status is ExecutionStatus.SUCCEEDED
    assert disk.execution(arn_d).result == memory.execution(arn_m).result
    assert shape(disk.history(arn_d)) == shape(memory.history(arn_m))

    # a fresh process (a new store on the file) reads exactly what was saved
    again = service_on(tmp_path / "o.db")
    ex = again.execution(arn_d)
    assert ex.status is ExecutionStatus.SUCCEEDED
    assert json.loads(ex.result) == {"a": 8, "b": 17, "items": [2, 4, 6]}
    assert shape(again.history(arn_d)) == shape(memory.history(arn_m))
    assert list(ex.operations) == list(disk.execution(arn_d).operations)
    assert ex.hidden == disk.execution(arn_d).hidden
    assert again.history_dicts(arn_d) == disk.history_dicts(arn_d)


def test_another_service_on_the_file_resumes_an_execution_where_it_stopped(tmp_path):
    first = service_on(tmp_path / "o.db")
    arn = first.start_execution(
        "fn", '{"n": 1}', name="x", entry="tests.test_sqlite_store:rich_workflow"
    )
    first.run(arn, lambda_handler(rich_workflow, service=first), max_invocations=1)
    assert first.execution(arn).status is ExecutionStatus.RUNNING
    first.store.close()

    second = service_on(tmp_path / "o.db")
    assert second.execution(arn).entry == "tests.test_sqlite_store:rich_workflow"
    status = second.run(arn, lambda_handler(rich_workflow, service=second))
    assert status is ExecutionStatus.SUCCEEDED
    reference = LocalService()
    ref_arn = reference.start_execution("fn", '{"n": 1}', name="x")
    reference.run(ref_arn, lambda_handler(rich_workflow, service=reference))
    assert shape(second.history(arn)) == shape(reference.history(ref_arn))


def _step(op_id: str, action: OperationAction = OperationAction.START) -> OperationUpdate:
    return OperationUpdate(id=op_id, type=OperationType.STEP, action=action, name=op_id)


def test_a_rejected_call_saves_none_of_its_updates(tmp_path):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    token = service.invocation_event(arn)["CheckpointToken"]
    with pytest.raises(ServiceError, match=r"Invalid current STEP state|same ID"):
        service.checkpoint(arn, token, [_step("a"), _step("a")])
    assert "a" not in service.execution(arn).operations
    assert "a" not in service_on(tmp_path / "o.db").execution(arn).operations
    # the token did not move: the corrected call goes through with it
    service.checkpoint(arn, token, [_step("a")])
    assert "a" in service_on(tmp_path / "o.db").execution(arn).operations


def test_a_call_the_database_fails_to_save_is_rolled_back_whole_and_retryable(
    tmp_path, monkeypatch
):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    token = service.invocation_event(arn)["CheckpointToken"]
    store = service.store
    assert isinstance(store, SQLiteStore)
    real_write = store._write

    def failing_write(ex):
        real_write(ex)  # every row of the call is written ...
        raise sqlite3.OperationalError("disk I/O error")  # ... then the commit fails

    monkeypatch.setattr(store, "_write", failing_write)
    with pytest.raises(ServiceError) as info:
        service.checkpoint(arn, token, [_step("a"), _step("b")])
    assert (info.value.code, info.value.status) == ("ServiceException", 500)
    assert "disk I/O error" in info.value.message
    monkeypatch.setattr(store, "_write", real_write)
    # nothing of the call was kept, on disk or in memory
    assert set(service_on(tmp_path / "o.db").execution(arn).operations) == {
        service.execution(arn).execution_id
    }
    assert "a" not in service.execution(arn).operations
    answer = service.checkpoint(arn, token, [_step("a"), _step("b")])  # the retry
    assert {op.id for op in answer.new_execution_state.operations} == {"a", "b"}


def test_a_database_locked_by_another_process_is_a_retryable_throttle(tmp_path):
    service = LocalService(store=SQLiteStore(tmp_path / "o.db", timeout=0.2))
    arn = service.start_execution("fn", None)
    token = service.invocation_event(arn)["CheckpointToken"]
    other = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ServiceError) as info:
            service.checkpoint(arn, token, [_step("a")])
        assert (info.value.code, info.value.status) == ("TooManyRequestsException", 429)
        assert "busy" in info.value.message
    finally:
        other.execute("ROLLBACK")
        other.close()
    service.checkpoint(arn, token, [_step("a")])  # the same call, once the lock is gone


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    SQLiteStore(tmp_path / "o.db").close()
    conn = sqlite3.connect(tmp_path / "o.db")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=r"newer orchestra.*Upgrade orchestra"):
        SQLiteStore(tmp_path / "o.db")


def test_a_corrupt_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database at all, just some text" * 100)
    with pytest.raises(StoreError, match="not an orchestra database, or it is corrupt"):
        SQLiteStore(path)


def test_another_applications_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "o.db")
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"database of something else.*invoices"):
        SQLiteStore(tmp_path / "o.db")


def test_a_bad_timeout_is_refused_where_the_store_is_built(tmp_path):
    with pytest.raises(ValueError, match="timeout must be > 0"):
        SQLiteStore(tmp_path / "o.db", timeout=0)


def test_the_database_file_is_private_to_its_owner(tmp_path):
    SQLiteStore(tmp_path / "o.db").close()
    assert (tmp_path / "o.db").stat().st_mode & 0o077 == 0


def test_a_callback_answered_by_another_process_reaches_the_running_service(tmp_path):
    runner = service_on(tmp_path / "o.db", skip_outside=False)
    arn = runner.start_execution("fn", None)
    handler = lambda_handler(approval, service=runner)
    assert runner.run(arn, handler) is ExecutionStatus.RUNNING  # waits for the approval
    (callback_id,) = runner.execution(arn).callbacks

    other = service_on(tmp_path / "o.db")  # a second terminal
    other.send_callback_success(callback_id, '{"ok": true}')

    assert runner.run(arn, handler) is ExecutionStatus.SUCCEEDED
    assert json.loads(runner.execution(arn).result) == {"ok": True}


def test_without_skip_outside_the_clock_waits_for_a_callbacks_deadline_in_real_time(tmp_path):
    service = service_on(tmp_path / "o.db", skip_outside=False)
    arn = service.start_execution("fn", None)
    handler = lambda_handler(approval, service=service)
    assert service.run(arn, handler) is ExecutionStatus.RUNNING
    assert service.execution(arn).operations  # the callback is open, not timed out
    assert not [e for e in service.history(arn) if e.event_type == "CallbackTimedOut"]
    # ten minutes later (real time passes: the virtual clock moves with it)
    assert isinstance(service.clock, VirtualClock)
    service.clock.advance_to(service.clock.now() + timedelta(minutes=11))
    assert service.run(arn, handler) is ExecutionStatus.FAILED
    assert [e.event_type for e in service.history(arn)].count("CallbackTimedOut") == 1


def test_the_virtual_clock_never_runs_behind_a_saved_history(tmp_path):
    first = service_on(tmp_path / "o.db")
    arn = first.start_execution("fn", '{"n": 1}')
    first.run(arn, lambda_handler(rich_workflow, service=first))
    latest = first.history(arn)[-1].event_timestamp  # an hour ahead: the wait was skipped
    second = service_on(tmp_path / "o.db")
    assert second.clock.now() >= latest


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def test_an_invocation_whose_process_died_is_closed_as_failed_and_the_execution_goes_on(
    tmp_path,
):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", '{"n": 2}')
    service.invocation_event(arn)  # an invocation starts ...
    with service._txn() as tx:
        tx.get(arn).invoking = _dead_pid()  # ... in a process that then dies
    later = service_on(tmp_path / "o.db")
    assert later.recover(arn) is True
    last = later.history(arn)[-1]
    assert last.event_type == "InvocationCompleted"
    assert last.details.error.payload.error_type == "Runtime.ExitError"
    assert later.recover(arn) is False  # once only
    assert later.run(arn, lambda_handler(rich_workflow, service=later)).value == "SUCCEEDED"


def test_an_execution_a_live_process_is_running_is_not_taken_over(tmp_path):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    service.invocation_event(arn)
    with service._txn() as tx:
        tx.get(arn).invoking = os.getppid()  # alive, and not this process
    with pytest.raises(ServiceError) as info:
        service_on(tmp_path / "o.db").run(arn, lambda_handler(approval, service=service))
    assert (info.value.code, info.value.status) == ("ConflictException", 409)
    assert str(os.getppid()) in info.value.message


def test_ctrl_c_during_an_invocation_stops_the_run_and_leaves_it_resumable(tmp_path):
    calls = {"n": 0}

    def interrupted_once(x):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return x

    def workflow(event):
        return (yield Step(interrupted_once, 5, name="slow"))

    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    with pytest.raises(KeyboardInterrupt):
        service.run(arn, lambda_handler(workflow, service=service))
    ex = service_on(tmp_path / "o.db").execution(arn)
    assert ex.status is ExecutionStatus.RUNNING and ex.invoking is None
    again = service_on(tmp_path / "o.db")
    assert again.run(arn, lambda_handler(workflow, service=again)).value == "SUCCEEDED"
    assert again.execution(arn).result == "5"


def test_stop_ends_a_running_execution_with_the_callers_error(tmp_path):
    service = service_on(tmp_path / "o.db", skip_outside=False)
    arn = service.start_execution("fn", None)
    service.run(arn, lambda_handler(approval, service=service))
    token = service.invocation_event(arn)["CheckpointToken"]
    service.stop_execution(arn, ErrorObject(error_message="no longer needed", error_type="Ops"))
    ex = service_on(tmp_path / "o.db").execution(arn)
    assert ex.status is ExecutionStatus.STOPPED
    assert ex.error.error_message == "no longer needed"
    assert ex.events[-1].event_type == "ExecutionStopped"
    with pytest.raises(ServiceError, match="Invalid checkpoint token"):
        service.checkpoint(arn, token, [_step("late")])
    with pytest.raises(ServiceError) as info:
        service.stop_execution(arn)
    assert (info.value.code, info.value.status) == ("InvalidParameterValueException", 400)
    with pytest.raises(ServiceError) as info:
        service.stop_execution(arn + "nope")
    assert (info.value.code, info.value.status) == ("ResourceNotFoundException", 404)


def test_stop_without_an_error_records_the_default_one():
    service = LocalService()
    arn = service.start_execution("fn", None)
    service.stop_execution(arn)
    assert service.execution(arn).error.error_message == "Execution stopped by user request"


def test_executions_are_listed_by_function_and_status_from_any_process(tmp_path):
    service = service_on(tmp_path / "o.db", skip_outside=False)
    done = service.start_execution("adder", '{"n": 1}')
    service.run(done, lambda_handler(rich_workflow, service=service))
    waiting = service.start_execution("approver", None)
    service.run(waiting, lambda_handler(approval, service=service))
    other = service_on(tmp_path / "o.db")
    assert [s.arn for s in other.list_executions()] == [done, waiting]
    assert [s.arn for s in other.list_executions(function_name="approver")] == [waiting]
    assert [s.arn for s in other.list_executions(status=ExecutionStatus.SUCCEEDED)] == [done]
    summary = other.list_executions(status=ExecutionStatus.SUCCEEDED)[0]
    assert summary.end_timestamp > summary.start_timestamp


def test_the_in_memory_listing_filters_the_same_way():
    service = LocalService()
    a = service.start_execution("adder", '{"n": 1}')
    service.start_execution("other", None)
    service.run(a, lambda_handler(rich_workflow, service=service))
    assert [s.arn for s in service.list_executions(status=ExecutionStatus.SUCCEEDED)] == [a]
    assert len(service.list_executions(function_name="other")) == 1


def test_a_callbacks_open_deadline_survives_a_restart(tmp_path):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    token = service.invocation_event(arn)["CheckpointToken"]
    service.checkpoint(
        arn,
        token,
        [
            OperationUpdate(
                id="cb",
                type=OperationType.CALLBACK,
                action=OperationAction.START,
                name="approval",
                callback_options=CallbackOptions(timeout_seconds=30),
            )
        ],
    )
    later = service_on(tmp_path / "o.db")
    ex = later.execution(arn)
    assert ex.next_due() is not None  # the timeout is armed again after the restart
    later.clock.advance_to(ex.next_due())
    later._advance(arn)
    assert later.execution(arn).operations["cb"].status.value == "TIMED_OUT"


def test_a_page_size_that_is_not_a_positive_int_is_refused():
    with pytest.raises(ValueError, match="page_size must be an int >= 1"):
        LocalService(page_size=0)


def test_a_real_clock_service_is_not_moved_by_the_saved_history(tmp_path):
    service_on(tmp_path / "o.db").start_execution("fn", None)
    service = LocalService(RealClock(), store=SQLiteStore(tmp_path / "o.db"))
    assert isinstance(service.clock, RealClock)


def test_an_execution_a_live_process_drives_between_invocations_is_not_taken_over(tmp_path):
    service = service_on(tmp_path / "o.db")
    arn = service.start_execution("fn", None)
    with service._txn() as tx:
        tx.get(arn).runner = os.getppid()  # a live process drives it (sleeping through a wait)
    with pytest.raises(ServiceError) as info:
        service_on(tmp_path / "o.db").run(arn, lambda_handler(approval, service=service))
    assert (info.value.code, info.value.status) == ("ConflictException", 409)


def test_a_run_releases_the_execution_when_it_returns(tmp_path):
    service = service_on(tmp_path / "o.db", skip_outside=False)
    arn = service.start_execution("fn", None)
    service.run(arn, lambda_handler(approval, service=service))
    assert service_on(tmp_path / "o.db").execution(arn).runner is None
    with service._txn() as tx:
        tx.get(arn).runner = _dead_pid()  # a driver that was killed
    again = service_on(tmp_path / "o.db", skip_outside=False)
    assert again.run(arn, lambda_handler(approval, service=again)).value == "RUNNING"
