"""Issue 7, SDK side: Callback, WaitForCallback, Invoke, WaitForCondition, Now/Uuid/Patched.

Run end to end on the emulator (virtual clock), plus the bad input each one refuses."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator
from typing import Any

import pytest

from orchestra import (
    Await,
    Callback,
    CallbackError,
    CallbackExternalError,
    CallbackHandle,
    CallbackSubmitterError,
    CallbackTimeoutError,
    Duration,
    Invoke,
    InvokeError,
    Now,
    Patched,
    RetryPolicy,
    Step,
    Uuid,
    ValidationError,
    Wait,
    WaitDecision,
    WaitForCallback,
    WaitForCondition,
    WaitForConditionError,
    WaitStrategy,
    lambda_handler,
)
from orchestra.service.local.engine import LocalService
from orchestra.testing import LocalRunner
from orchestra.wire.models import ErrorObject, OperationStatus, OperationType

# --- Callback --------------------------------------------------------------------------------

ids: list[str] = []


def remember(callback_id: str, *args: Any) -> str:
    ids.append(callback_id)
    return "submitted"


@pytest.fixture(autouse=True)
def _clear() -> None:
    ids.clear()


def create_then_await() -> Generator[Any, Any, Any]:
    handle = yield Callback(name="approval")
    yield Step(remember, handle.callback_id, name="notify")
    return (yield handle)


def started(runner: LocalRunner, body: Any) -> tuple[str, str]:
    run = runner.run(body)
    assert run.status == "RUNNING", run.error
    [callback_id] = set(ids)
    return run.arn, callback_id


def finish(runner: LocalRunner, arn: str) -> Any:
    status = runner.service.run(arn, runner.handler)
    return status.value, runner.service.execution(arn)


def test_a_callback_result_is_json_when_json_else_the_raw_string():
    for body, expected in (('{"ok": true}', {"ok": True}), ("plain text", "plain text")):
        ids.clear()
        runner = LocalRunner(create_then_await)
        arn, callback_id = started(runner, None)
        runner.service.send_callback_success(callback_id, body)
        status, ex = finish(runner, arn)
        assert status == "SUCCEEDED"
        assert json.loads(ex.result) == expected


def test_a_callback_with_no_result_gives_none():
    runner = LocalRunner(create_then_await)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_success(callback_id)
    assert finish(runner, arn)[1].result == "null"


class Upper:
    def serialize(self, value: Any) -> str:
        return str(value)

    def deserialize(self, data: str) -> Any:
        return data.upper()


def test_a_custom_serde_decodes_the_callback_result():
    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(serde=Upper())
        yield Step(remember, handle.callback_id)
        return (yield Await(handle))

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_success(callback_id, "shout")
    assert json.loads(finish(runner, arn)[1].result) == "SHOUT"


def test_an_external_failure_keeps_its_type_message_and_data():
    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="approval")
        yield Step(remember, handle.callback_id)
        try:
            yield handle
        except CallbackExternalError as err:
            return [err.error_type, err.message, err.data, type(err).__name__]
        return "not raised"

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    error = ErrorObject(error_message="not approved", error_type="Rejected", error_data='{"by":1}')
    runner.service.send_callback_failure(callback_id, error)
    status, ex = finish(runner, arn)
    assert status == "SUCCEEDED"
    assert json.loads(ex.result) == [
        "Rejected",
        "not approved",
        '{"by":1}',
        "CallbackExternalError",
    ]


@pytest.mark.parametrize(
    ("options", "heartbeat"),
    [({"timeout": 30}, False), ({"timeout": 60, "heartbeat_timeout": 10}, True)],
)
def test_a_timeout_says_which_timer_expired(options: dict[str, int], heartbeat: bool):
    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="approval", **options)
        try:
            yield handle
        except CallbackTimeoutError as err:
            return [err.on_heartbeat, err.message]
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result[0] is heartbeat
    assert run.operation("approval").status is OperationStatus.TIMED_OUT


def test_errors_wait_for_the_await_so_code_between_replays_identically():
    """A callback that already timed out still gives its handle; only the await raises."""
    seen: list[str] = []

    def note(text: str) -> str:
        seen.append(text)
        return text

    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="cb", timeout=5)
        yield Wait(10, name="longer than the timeout")
        yield Step(note, "between", name="between")  # runs after the timeout: no error yet
        try:
            return (yield handle)
        except CallbackTimeoutError:
            return "timed out at the await"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "timed out at the await"
    assert seen == ["between"]


def test_the_await_takes_no_position_a_handle_can_be_awaited_twice():
    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="cb")
        yield Step(remember, handle.callback_id, name="notify")
        first = yield handle
        second = yield handle
        after = yield Step(str.upper, "after", name="after")
        return [first, second, after]

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_success(callback_id, '"v"')
    status, ex = finish(runner, arn)
    assert status == "SUCCEEDED"
    assert json.loads(ex.result) == ["v", "v", "AFTER"]
    # the step after the awaits is operation #3 of the workflow
    names = [op.name for op in ex.operations.values() if op.type is not OperationType.EXECUTION]
    assert names == ["cb", "notify", "after"]


def test_awaiting_a_handle_this_execution_never_created_fails_clearly():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield CallbackHandle("made-up-id", "0" * 64, name="forged"))

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "CallbackError"
    assert "never created" in (run.error.error_message or "")


# --- WaitForCallback -------------------------------------------------------------------------


def test_wait_for_callback_has_the_reference_shape_and_result():
    def workflow(order: str) -> Generator[Any, Any, Any]:
        return (yield WaitForCallback(remember, order, name="approval"))

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, "A-1")
    runner.service.send_callback_success(callback_id, '"yes"')
    status, ex = finish(runner, arn)
    assert status == "SUCCEEDED" and ex.result == '"yes"'
    by_name = {op.name: op for op in ex.operations.values()}
    context = by_name["approval"]
    assert (context.type, context.sub_type) == (OperationType.CONTEXT, "WaitForCallback")
    assert by_name["approval create callback id"].parent_id == context.id
    submitter = by_name["approval submitter"]
    assert submitter.parent_id == context.id and submitter.step_details.result == "null"
    assert context.context_details.result == '"yes"'


def test_wait_for_callback_without_a_name_uses_the_submitters():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield WaitForCallback(remember))

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_success(callback_id, "1")
    names = {op.name for op in finish(runner, arn)[1].operations.values()}
    assert {"remember", "remember create callback id", "remember submitter"} <= names


def test_wait_for_callback_raises_the_callback_error_itself_first_run_and_replay():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield WaitForCallback(remember, name="approval", timeout=3)
        except CallbackTimeoutError as err:
            caught = type(err).__name__
        yield Wait(1)  # replay the failed context once more
        try:
            yield WaitForCallback(remember, name="approval again", timeout=3)
        except CallbackTimeoutError as err:
            return [caught, type(err).__name__]
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["CallbackTimeoutError", "CallbackTimeoutError"]
    assert run.operation("approval").status is OperationStatus.FAILED


def failing_submitter(callback_id: str) -> None:
    raise ConnectionError("queue unreachable")


def test_a_submitter_that_gives_up_is_a_callback_submitter_error_caused_by_the_step():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield WaitForCallback(
                failing_submitter,
                name="approval",
                retry=RetryPolicy.fixed(Duration(1), max_attempts=2),
            )
        except CallbackSubmitterError as err:
            return [type(err.__cause__).__name__, err.is_caused_by(ConnectionError)]
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["StepError", True]
    assert run.operation("approval submitter").step_details.attempt == 2


def test_an_uncaught_external_failure_fails_the_execution_with_its_message():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield WaitForCallback(remember, name="approval"))

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_failure(callback_id, ErrorObject("not approved", "Rejected"))
    status, ex = finish(runner, arn)
    assert status == "FAILED"
    assert ex.error.error_message == "not approved"


# --- Invoke ----------------------------------------------------------------------------------


def echo(payload: Any) -> Any:
    return {"echo": payload}


def explode(payload: Any) -> Any:
    raise PermissionError("callee says no")


def test_invoke_gives_the_targets_result_and_replays_it_without_invoking_again():
    calls: list[Any] = []

    def counted(payload: Any) -> Any:
        calls.append(payload)
        return payload * 2

    def workflow(n: int) -> Generator[Any, Any, Any]:
        doubled = yield Invoke("doubler", n, name="double")
        yield Wait(1)
        return doubled

    runner = LocalRunner(workflow)
    runner.service.register_target("doubler", counted)
    run = runner.run(21)
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 42 and calls == [21]
    assert run.invocations >= 2  # the replay after the wait did not invoke again


def test_invoke_failure_is_an_invoke_error_with_the_callees_type():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield Invoke("explode", {"x": 1})
        except InvokeError as err:
            return [err.error_type, err.message]
        return "not raised"

    runner = LocalRunner(workflow)
    runner.service.register_target("explode", explode)
    run = runner.run()
    assert run.result == ["PermissionError", "callee says no"]


def test_an_orchestra_workflow_can_be_the_invoke_target():
    def callee(event: Any) -> Generator[Any, Any, Any]:
        yield Wait(5)
        return {"got": event}

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Invoke("callee", [1, 2], tenant_id="tenant-1"))

    runner = LocalRunner(workflow)
    runner.register_target("callee", callee)
    run = runner.run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == {"got": [1, 2]}


def test_invoke_payload_and_result_serdes():
    class Shout:
        def serialize(self, value: Any) -> str:
            return json.dumps(str(value).upper())

        def deserialize(self, data: str) -> Any:
            return f"<{json.loads(data)}>"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Invoke("echo", "hi", payload_serde=Shout(), serde=Shout()))

    runner = LocalRunner(workflow)
    runner.service.register_target("echo", lambda p: p)
    assert runner.run().result == "<HI>"


@pytest.mark.parametrize("name", ["", "has space", "x" * 300, "arn:aws:lambda:bad region"])
def test_a_malformed_function_name_is_refused_at_construction(name: str):
    with pytest.raises(ValidationError, match="function_name"):
        Invoke(name)


def test_an_unknown_target_fails_the_operation_not_the_invocation():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield Invoke("nobody-home")
        except InvokeError as err:
            return err.error_type
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "ResourceNotFoundException"


# --- WaitForCondition ------------------------------------------------------------------------


def increment(n: int) -> int:
    return n + 1


def test_wait_for_condition_carries_its_state_through_retries_and_returns_the_final_state():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield WaitForCondition(increment, 5, WaitStrategy.fixed(lambda n: n < 8, 2)))

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 8
    op = run.operation("increment")
    assert (op.sub_type, op.step_details.attempt) == ("WaitForCondition", 3)
    assert run.invocations == 3


def test_exhausting_the_attempts_fails_never_succeeds():
    def workflow() -> Generator[Any, Any, Any]:
        return (
            yield WaitForCondition(
                increment, 0, WaitStrategy.fixed(lambda n: True, 1, max_attempts=3)
            )
        )

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "WaitForConditionError"
    assert "exhausted 3 attempts" in (run.error.error_message or "")


def broken_check(state: Any) -> Any:
    raise KeyError("status")


def test_a_check_that_raises_fails_cleanly_typed_and_is_not_retried():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield WaitForCondition(broken_check, {}, WaitStrategy.fixed(lambda s: True, 1))
        except WaitForConditionError as err:
            return [err.error_type, err.is_caused_by(KeyError)]
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["KeyError", True]
    assert run.operation("broken_check").step_details.attempt == 1


def test_a_strategy_that_returns_a_delay_under_one_second_fails_clearly():
    def too_fast(state: int, attempt: int) -> WaitDecision:
        return WaitDecision(stop=False, delay_seconds=0)

    def not_a_decision(state: int, attempt: int) -> Any:
        return 5

    def polling(strategy: Any) -> Any:
        def workflow() -> Generator[Any, Any, Any]:
            return (yield WaitForCondition(increment, 0, strategy))

        return workflow

    for strategy, expected in ((too_fast, "at least 1 second"), (not_a_decision, "WaitDecision")):
        run = LocalRunner(polling(strategy)).run()
        assert run.status == "FAILED"
        assert run.error is not None and run.error.error_type == "WaitForConditionError"
        assert expected in (run.error.error_message or ""), run.error


def test_a_custom_strategy_sees_the_attempt_number():
    seen: list[int] = []

    def strategy(state: int, attempt: int) -> WaitDecision:
        seen.append(attempt)
        return WaitDecision.done() if attempt == 3 else WaitDecision.again(Duration.seconds(4))

    def workflow() -> Generator[Any, Any, Any]:
        return (yield WaitForCondition(increment, 0, strategy, name="poll"))

    run = LocalRunner(workflow).run()
    assert run.result == 3 and seen == [1, 2, 3]


def test_wait_strategy_and_decision_validation():
    with pytest.raises(ValidationError):
        WaitStrategy.exponential(lambda s: True, max_attempts=0)
    with pytest.raises(ValidationError):
        WaitStrategy.exponential(lambda s: True, initial_delay=10, max_delay=5)
    with pytest.raises(ValidationError):
        WaitStrategy.exponential(lambda s: True, backoff_rate=0.5)
    with pytest.raises(ValidationError):
        WaitDecision.again(-1)
    with pytest.raises(ValidationError):
        WaitForCondition(increment, 0, strategy="fast")  # type: ignore[arg-type]


# --- Callback bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -5}, "negative"),
        ({"timeout": 0}, "at least 1 second"),
        ({"timeout": 10**9}, "at most 366 days"),
        ({"heartbeat_timeout": -1}, "negative"),
        ({"timeout": 60, "heartbeat_timeout": 120}, "longer than timeout"),
        ({"timeout": "soon"}, "Duration"),
    ],
)
def test_callback_timeouts_are_validated_at_construction(kwargs: dict[str, Any], message: str):
    with pytest.raises(ValidationError, match=message):
        Callback(**kwargs)
    with pytest.raises(ValidationError, match=message):
        WaitForCallback(remember, **kwargs)


def test_await_refuses_anything_but_a_handle():
    with pytest.raises(ValidationError, match="CallbackHandle"):
        Await("callback-id")  # type: ignore[arg-type]


def test_wait_for_callback_refuses_a_generator_submitter():
    def gen(callback_id: str) -> Generator[Any, Any, None]:
        yield Wait(1)

    with pytest.raises(ValidationError, match="plain function"):
        WaitForCallback(gen)


# --- Now, Uuid, Patched ----------------------------------------------------------------------


def test_uuid_and_now_are_identical_on_every_replay():
    seen: list[Any] = []

    def workflow() -> Generator[Any, Any, Any]:
        a = yield Uuid()
        b = yield Uuid()
        at = yield Now()
        yield Wait(1)
        c = yield Uuid()
        seen.append((a, b, at, c))
        return [str(a), str(b), at.isoformat(), str(c)]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert len(seen) == 1  # the return ran once (after the wait)
    a, b, at, c = seen[0]
    assert len({a, b, c}) == 3 and all(isinstance(x, uuid.UUID) for x in (a, b, c))
    assert run.result[2] == at.isoformat()


def test_uuids_differ_between_executions():
    def workflow() -> Generator[Any, Any, Any]:
        return str((yield Uuid()))

    runner = LocalRunner(workflow)
    assert runner.run().result != runner.run().result


def test_uuid_replays_to_the_same_value_across_invocations():
    values: list[str] = []

    def workflow() -> Generator[Any, Any, Any]:
        value = yield Uuid()
        values.append(str(value))
        yield Wait(1)
        return str(value)

    run = LocalRunner(workflow).run()
    assert len(values) == 2 and values[0] == values[1] == run.result


def test_patched_is_false_on_a_history_recorded_before_the_patch_and_true_after():
    def v1() -> Generator[Any, Any, Any]:
        yield Wait(60, name="hold")
        yield Step(str.upper, "old", name="finish")
        return "old path"

    def v2() -> Generator[Any, Any, Any]:
        if (yield Patched("fix-1")):
            yield Step(str.lower, "NEW", name="new first step")
            yield Wait(60, name="hold")
            return "new path"
        yield Wait(60, name="hold")
        yield Step(str.upper, "old", name="finish")
        return "old path"

    service = LocalService()
    in_flight = service.start_execution("f", "null")
    service.run(in_flight, lambda_handler(v1, service=service), max_invocations=1)
    service.run(in_flight, lambda_handler(v2, service=service))
    assert service.execution(in_flight).result == '"old path"'

    fresh = LocalRunner(v2).run()
    assert fresh.result == "new path"
    markers = [op for op in fresh.operations if op.sub_type == "Patch"]
    assert [m.name for m in markers] == ["patched:fix-1"]


def test_patched_stays_true_on_replay_once_the_marker_is_recorded():
    paths: list[bool] = []

    def workflow() -> Generator[Any, Any, Any]:
        yield Wait(5)
        patched = yield Patched("fix-2")
        paths.append(patched)
        yield Wait(5)
        return patched

    run = LocalRunner(workflow).run()
    assert run.result is True and paths == [True, True]


def test_patched_refuses_a_bad_change_id():
    with pytest.raises(ValidationError):
        Patched("")
    with pytest.raises(ValidationError):
        Patched("tab\tinside")


def test_a_failed_callback_error_base_class_is_catchable():
    assert issubclass(CallbackTimeoutError, CallbackError)
    assert issubclass(CallbackExternalError, CallbackError)
    assert issubclass(CallbackSubmitterError, CallbackError)


def test_a_lambda_gives_no_name_as_in_the_reference():
    assert WaitForCallback(lambda callback_id: None).name is None
    assert Step(lambda: 1).name is None
    assert WaitForCallback(remember).name == "remember"


def test_wait_for_callback_keeps_the_external_errors_data():
    def workflow() -> Generator[Any, Any, Any]:
        try:
            yield WaitForCallback(remember, name="approval")
        except CallbackExternalError as err:
            return [err.error_type, err.message, err.data]
        return "not raised"

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_failure(callback_id, ErrorObject("no", "Rejected", '{"by": 7}'))
    status, ex = finish(runner, arn)
    assert status == "SUCCEEDED", ex.error
    assert json.loads(ex.result) == ["Rejected", "no", '{"by": 7}']


class StrictInt:
    def serialize(self, value: Any) -> str:
        return str(value)

    def deserialize(self, data: str) -> Any:
        return int(data)


def test_a_callback_body_the_serde_cannot_decode_is_a_catchable_callback_error():
    def workflow() -> Generator[Any, Any, Any]:
        handle = yield Callback(name="count", serde=StrictInt())
        yield Step(remember, handle.callback_id)
        try:
            return (yield handle)
        except CallbackError as err:
            return f"bad body: {type(err).__name__}"

    runner = LocalRunner(workflow)
    arn, callback_id = started(runner, None)
    runner.service.send_callback_success(callback_id, "forty-two")
    status, ex = finish(runner, arn)
    assert status == "SUCCEEDED", ex.error
    assert json.loads(ex.result) == "bad body: CallbackError"


def test_the_runner_can_stop_before_a_callback_timeout_to_answer_by_hand():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield WaitForCallback(remember, name="approval", timeout=Duration.hours(1)))

    runner = LocalRunner(workflow)
    run = runner.run(max_invocations=1)
    assert run.status == "RUNNING"
    runner.succeed_callback(run, "approval create callback id", "ok")
    assert runner.resume(run).result == "ok"
    with pytest.raises(ValueError, match="max_invocations"):
        runner.run(max_invocations=0)


def test_now_follows_the_emulators_virtual_clock():
    def workflow() -> Generator[Any, Any, Any]:
        before = yield Now(name="before")
        yield Wait(Duration.days(1))
        after = yield Now(name="after")
        return (after - before).total_seconds()

    elapsed = LocalRunner(workflow).run().result
    assert 86_400 <= elapsed < 86_400 + 60


def test_lambda_handler_validates_its_configuration():
    def workflow() -> Generator[Any, Any, Any]:
        yield Wait(1)

    for kwargs in ({"max_workers": 0}, {"async_bound": -1}, {"clock": "now"}, {"rng": 3}):
        with pytest.raises(ValidationError):
            lambda_handler(workflow, **kwargs)


def slow_increment(n: int) -> int:
    time.sleep(0.12)  # longer than the async bound: START and the outcome go in separate calls
    return n + 1


def test_wait_for_condition_keeps_its_state_when_a_crash_follows_the_start_of_a_poll():
    """A crash after a poll's START is applied, before its outcome, must not lose the state.

    Calls: 1 START, 2 RETRY(state 1), then 3 START, 4 SUCCEED (lost: the process dies before
    it is applied). The retried invocation must poll again from state 1, not the initial 0.
    """
    from orchestra.testing import CrashPoint, World

    def workflow() -> Generator[Any, Any, Any]:
        strategy = WaitStrategy.fixed(lambda n: n < 2, 1, max_attempts=2)
        return (yield WaitForCondition(slow_increment, 0, strategy, name="poll"))

    run = LocalRunner(workflow, world=World(crashes=(CrashPoint(4, after=False),))).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 2
