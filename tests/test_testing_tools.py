"""The testing tools catch what they claim to catch (and pass what is correct)."""

from __future__ import annotations

import datetime
import itertools
import random
import time
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

import orchestra.interpreter.determinism as determinism_module
import orchestra.interpreter.fanout as fanout_module
import orchestra.interpreter.machine as machine_module
from orchestra import (
    Callback,
    Child,
    Completion,
    Duration,
    Invoke,
    Map,
    Now,
    Patched,
    RetryPolicy,
    Step,
    StepSemantics,
    Uuid,
    Wait,
    WaitForCallback,
    WaitForCondition,
    WaitStrategy,
)
from orchestra.interpreter.commands import Suspended
from orchestra.interpreter.ids import operation_id
from orchestra.testing import (
    CrashPoint,
    DeterminismError,
    DeterminismGuard,
    LocalRunner,
    Replayer,
    ReplayMismatch,
    World,
    check_replay_determinism,
)
from orchestra.testing.probe import probe
from orchestra.testing.strategies import worlds
from orchestra.testing.world import CallbackOutcome, InvokeOutcome


def echo(value: int) -> int:
    return value


def inner(x):
    a = yield Step(echo, x, name="inner echo")
    yield Wait(30, name="inner nap")
    return a + 1


def good(x):
    a = yield Step(echo, x, name="first", retry=RetryPolicy.fixed(Duration(1), max_attempts=3))
    b = yield Child(inner, a, name="child")
    yield Wait(3600, name="nap")
    c = yield Step(echo, b, name="last", semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    return [a, b, c]


def test_a_correct_workflow_passes_under_failures_and_crashes():
    world = World(failures={"first": 2}, crashes=(CrashPoint(3), CrashPoint(5, after=False)))
    report = check_replay_determinism(good, 4, world, interleavings=2)
    assert report.result.result == [4, 5, 5]
    assert report.violations == ()
    assert report.prefixes_checked >= 8
    assert report.mutations_checked >= 6


def test_a_workflow_that_branches_on_random_is_caught():
    def coin(x):
        if random.random() < 0.5:
            yield Step(echo, x, name="heads")
        else:
            yield Wait(5, name="tails")
        yield Wait(5, name="after")
        return x

    with pytest.raises(DeterminismError) as info:
        check_replay_determinism(coin, 1)
    assert "random.random() called from workflow code" in str(info.value)


def test_branching_on_the_clock_is_caught_even_without_the_guard_hint():
    calls = {"n": 0}

    def clocked():
        calls["n"] += 1
        # stands in for "is it before noon?": differs between the run and its replays
        if calls["n"] % 2:
            yield Step(echo, 1, name="morning")
        else:
            yield Step(echo, 2, name="afternoon")
        yield Wait(5)
        return calls["n"]

    with pytest.raises(DeterminismError) as info:
        check_replay_determinism(clocked, mutate=False)
    message = str(info.value)
    assert "named morning" in message and "named afternoon" in message


def test_a_workflow_changed_between_runs_is_caught_by_the_replayer(tmp_path):
    def v1(x):
        yield Step(echo, x, name="reserve")
        yield Wait(60, name="hold")
        yield Step(echo, x, name="charge")
        return x

    def v2(x):
        yield Step(echo, x, name="reserve")
        yield Step(echo, x, name="fraud check")  # inserted before recorded history ends
        yield Wait(60, name="hold")
        yield Step(echo, x, name="charge")
        return x

    def v3(x):
        yield Step(echo, x, name="reserve")
        yield Wait(60, name="hold")
        yield Step(echo, x, name="charge")
        yield Step(echo, x, name="receipt")  # appended after recorded history: safe
        return x

    path = tmp_path / "history.json"
    LocalRunner(v1).run(7).save(path)
    history = Replayer.load(path)
    assert Replayer(v1).replay(history).ok
    assert Replayer(v3).replay(history).ok
    with pytest.raises(ReplayMismatch) as info:
        Replayer(v2).replay(history)
    assert "recorded a WAIT (Wait) named hold != code a STEP (Step) named fraud check" in str(
        info.value
    )


def test_the_replayer_reads_state_exports_too():
    def v1():
        yield Wait(60, name="a")
        return 1

    def v2():
        yield Wait(60, name="b")
        return 1

    run = LocalRunner(v1).run()
    from orchestra.wire.converter import to_wire

    export = {"Operations": to_wire(run.operations)}
    assert Replayer(v1).replay(export).ok
    result = Replayer(v2).replay(export, raise_on_mismatch=False)
    assert not result.ok and "named a != code" in result.diff


def test_an_interpreter_whose_ids_depend_on_completion_order_is_caught(monkeypatch):
    completed = [0]
    original_finished = machine_module.Machine.step_finished

    def finished(self, op_id, value, error):
        completed[0] += 1
        return original_finished(self, op_id, value, error)

    def unstable_id(prefix, n):
        return operation_id(prefix, n + 100 * completed[0])

    monkeypatch.setattr(machine_module.Machine, "step_finished", finished)
    monkeypatch.setattr(machine_module, "operation_id", unstable_id)
    monkeypatch.setattr(determinism_module, "operation_id", unstable_id)

    def workflow():
        yield Step(echo, 1, name="a")
        yield Wait(5, name="w")
        yield Step(echo, 2, name="b")
        return 3

    with pytest.raises(DeterminismError) as info:
        check_replay_determinism(workflow, mutate=False)
    assert "never had" in str(info.value) or "never sent" in str(info.value)


def test_mutated_histories_are_all_reported():
    report = check_replay_determinism(good, 1)
    assert report.mutations_checked >= 6 and report.violations == ()


def test_the_guard_reports_clock_random_and_uuid_calls_from_workflow_code_only():
    def noisy_step() -> str:
        time.time()
        random.random()
        return str(uuid.uuid4())

    def workflow():
        datetime.datetime.now()
        time.time()
        uuid.uuid4()
        random.randint(1, 6)
        yield Step(noisy_step)
        return 1

    guard = DeterminismGuard()
    LocalRunner(workflow, guard=guard).run()
    calls = sorted({v.call for v in guard.violations})
    assert calls == ["datetime.now", "random.randint", "time.time", "uuid.uuid4"]
    assert all("test_testing_tools.py" in v.location for v in guard.violations)


def test_world_failures_and_crashes_really_happen():
    world = World(failures={"first": 2}, crashes=(CrashPoint(1),))
    run = LocalRunner(good, world=world).run(2)
    assert run.operation("first").step_details.attempt == 3
    errors = [
        e["InvocationCompletedDetails"].get("Error")
        for e in run.history_dicts()
        if e["EventType"] == "InvocationCompleted"
    ]
    assert any(err and err["Payload"]["ErrorType"] == "Runtime.ExitError" for err in errors)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(step_names=["first", "inner echo", "last"], max_checkpoint=12))
def test_good_workflow_replays_deterministically_in_any_world(world):
    report = check_replay_determinism(good, 3, world)
    assert report.result.status in ("SUCCEEDED", "FAILED")


def test_the_pytest_plugin_provides_runner_checker_and_replayer(
    orchestra_runner, replay_check, replayer
):
    run = orchestra_runner(good).run(1)
    assert run.status == "SUCCEEDED"
    assert replay_check(good, 1).violations == ()
    assert replayer(good).replay(run).ok


def test_the_guard_ignores_the_standard_library_such_as_logging():
    import logging

    from orchestra import get_logger

    log = get_logger("guarded")
    logging.getLogger("orchestra.workflow.guarded").setLevel(logging.INFO)

    def workflow():
        log.info("starting")
        yield Step(echo, 1)
        return 1

    guard = DeterminismGuard()
    LocalRunner(workflow, guard=guard).run()
    assert guard.violations == []


def test_the_replayer_takes_the_input_from_a_state_export():
    def v1(order):
        yield Step(echo, order["n"], name="n")
        return order["n"]

    run = LocalRunner(v1).run({"n": 5})
    from orchestra.wire.converter import to_wire

    assert Replayer(v1).replay({"Operations": to_wire(run.operations)}).ok


@attrs.frozen
class Point:
    x: int
    y: int


def test_the_replayer_reports_a_recorded_result_the_code_can_no_longer_read():
    def make_number() -> int:
        return 3

    def make_point() -> Point:  # the step's return type changed incompatibly
        return Point(1, 2)

    def v1():
        yield Step(make_number, name="make")
        yield Wait(5)
        return 1

    def v2():
        yield Step(make_point, name="make")
        yield Wait(5)
        return 1

    history = LocalRunner(v1).run().history_dicts()
    result = Replayer(v2).replay(history, raise_on_mismatch=False)
    assert not result.ok and "SerializationError" in (result.error or "")


def test_exported_timestamps_in_iso_8601_and_epoch_seconds_are_read():
    from orchestra.wire.converter import from_wire
    from orchestra.wire.models import Operation

    iso = from_wire(
        {"Id": "x", "Type": "WAIT", "Status": "STARTED", "StartTimestamp": "2026-01-01T00:00:00Z"},
        Operation,
    )
    seconds = from_wire(
        {"Id": "x", "Type": "WAIT", "Status": "STARTED", "StartTimestamp": 1767225600.5}, Operation
    )
    millis = from_wire(
        {"Id": "x", "Type": "WAIT", "Status": "STARTED", "StartTimestamp": 1767225600500}, Operation
    )
    assert iso.start_timestamp.year == 2026
    assert seconds.start_timestamp == millis.start_timestamp


# --- World: the exception an injected failure raises ----------------------------------------


def only_timeouts():
    policy = RetryPolicy.fixed(Duration(1), max_attempts=3, retryable_error_types=[TimeoutError])
    return (yield Step(echo, 1, name="charge", retry=policy))


@pytest.mark.parametrize(
    "world",
    [
        World(failures={"charge": 2}, exception=TimeoutError),
        World(failures={"charge": (2, TimeoutError)}),
        World(failures={"charge": 2}, exceptions={"charge": TimeoutError}),
    ],
    ids=["world-wide", "per-step-pair", "per-step-mapping"],
)
def test_an_injected_exception_type_is_retried_by_a_policy_that_retries_it(world):
    run = LocalRunner(only_timeouts, world=world).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 1
    assert run.operation("charge").step_details.attempt == 3


def test_the_default_injected_failure_is_not_retried_by_a_policy_for_other_types():
    run = LocalRunner(only_timeouts, world=World(failures={"charge": 2})).run()
    assert run.status == "FAILED"
    details = run.operation("charge").step_details
    assert details.attempt == 1
    assert details.error.error_type == "InjectedFailure"


def test_a_per_step_exception_type_overrides_the_world_wide_one():
    world = World(failures={"a": 1, "b": (1, KeyError)}, exception=TimeoutError)
    assert world.failures == {"a": 1, "b": 1}
    assert world.exception_for("a") is TimeoutError
    assert world.exception_for("b") is KeyError
    assert world.exception_for("other") is TimeoutError
    assert attrs.evolve(world, seed=5).exception_for("b") is KeyError


class NeedsTwoArguments(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exception": KeyboardInterrupt}, "subclass of Exception"),
        ({"exception": "TimeoutError"}, "subclass of Exception"),
        ({"exception": TimeoutError()}, "subclass of Exception"),
        ({"exception": NeedsTwoArguments}, "cannot be built from a message"),
        ({"failures": {"a": (1, int)}}, "subclass of Exception"),
        ({"failures": {"a": (1, TimeoutError, 2)}}, "count or"),
        ({"failures": {"a": -1}}, "count >= 0"),
        ({"failures": {"a": "2"}}, "count >= 0"),
        ({"exceptions": {"a": SystemExit}}, "subclass of Exception"),
    ],
)
def test_a_world_rejects_bad_exception_types_and_counts_at_construction(options, message):
    from orchestra.errors import ValidationError

    with pytest.raises(ValidationError, match=message):
        World(**options)


@settings(max_examples=20, deadline=None)
@given(worlds(step_names=["charge"], max_failures=2, exceptions=[TimeoutError, KeyError]))
def test_worlds_draw_the_injected_exception_type(world):
    if "charge" in world.failures:
        assert world.exception_for("charge") in (TimeoutError, KeyError)
    run = LocalRunner(only_timeouts, world=world).run()
    failures = world.failures.get("charge", 0)
    if failures == 0 or world.exception_for("charge") is TimeoutError:
        assert run.status == "SUCCEEDED"
    else:
        assert run.operation("charge").step_details.error.error_type == "KeyError"


# --- Replayer: the execution input -----------------------------------------------------------


def order_total(order):
    yield Step(echo, order["n"], name="n")
    yield Wait(60, name="hold")
    return order["n"]


def no_input():
    yield Wait(60, name="hold")
    return 1


def test_the_replayer_refuses_a_history_without_its_input_and_names_the_fix():
    from orchestra.testing import MissingInputError

    run = LocalRunner(order_total).run({"n": 5})
    truncated = run.history_dicts(include_execution_data=False)
    with pytest.raises(MissingInputError, match=r"input=") as info:
        Replayer(order_total).replay(truncated)
    assert "does not carry the execution input" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_the_replayer_refuses_operations_without_the_execution_operation():
    from orchestra.testing import MissingInputError
    from orchestra.wire.models import OperationType

    run = LocalRunner(order_total).run({"n": 5})
    operations = [op for op in run.operations if op.type is not OperationType.EXECUTION]
    with pytest.raises(MissingInputError):
        Replayer(order_total).replay(operations)
    assert Replayer(order_total).replay(operations, input={"n": 5}).ok


def test_an_explicit_input_replays_a_history_without_one_even_none():
    run = LocalRunner(order_total).run({"n": 5})
    truncated = run.history_dicts(include_execution_data=False)
    assert Replayer(order_total).replay(truncated, input={"n": 5}).ok

    bare = LocalRunner(no_input).run().history_dicts(include_execution_data=False)
    assert Replayer(no_input).replay(bare, input=None).ok


def test_a_history_that_carries_a_null_input_replays_without_one():
    history = LocalRunner(no_input).run().history_dicts()
    assert history[0]["ExecutionStartedDetails"]["Input"]["Payload"] == "null"
    assert Replayer(no_input).replay(history).ok


# --- check_replay_determinism: sampled prefixes ----------------------------------------------


def increment(x: int) -> int:
    return x + 1


def counting(n):
    x = 0
    for _ in range(n):
        x = yield Step(increment, x, name="increment")
    return x


def test_a_2000_step_workflow_is_checked_in_seconds_on_a_sample_of_its_prefixes():
    started = time.perf_counter()
    report = check_replay_determinism(counting, 2000)
    elapsed = time.perf_counter() - started
    assert report.result.result == 2000
    assert report.states_recorded > 2000
    assert report.prefixes_checked == 64
    assert 0 < report.mutations_checked <= 9
    assert elapsed < 20, f"checking 2,000 steps took {elapsed:.1f} s"


def test_max_prefixes_none_checks_every_prefix():
    sampled = check_replay_determinism(counting, 80, max_prefixes=10)
    everything = check_replay_determinism(counting, 80, max_prefixes=None)
    assert sampled.prefixes_checked == 10
    assert everything.states_recorded == sampled.states_recorded > 80
    assert everything.prefixes_checked == everything.states_recorded


def test_max_prefixes_must_be_positive():
    with pytest.raises(ValueError, match="max_prefixes"):
        check_replay_determinism(counting, 3, max_prefixes=0)


def test_the_sample_keeps_both_ends_and_every_invocation_boundary_and_is_seeded():
    from orchestra.testing.checks import choose_prefixes

    chosen = choose_prefixes(1000, [0, 300, 301, 700], 32, seed=7)
    assert len(chosen) == 32 == len(set(chosen))
    assert chosen == sorted(chosen)
    assert {0, 1, 2, 3, 996, 997, 998, 999} <= set(chosen)
    assert {299, 300, 301, 302, 699, 700, 701} <= set(chosen)
    assert chosen == choose_prefixes(1000, [0, 300, 301, 700], 32, seed=7)
    assert chosen != choose_prefixes(1000, [0, 300, 301, 700], 32, seed=8)
    # the other 17 are one from each of 17 equal slices of the rest: no gap exceeds two slices
    gaps = [b - a for a, b in itertools.pairwise(chosen)]
    assert max(gaps) <= 2 * -(-1000 // 17)
    # more boundaries than the bound allows: an evenly spread subset of them
    many = choose_prefixes(10_000, range(0, 10_000, 10), 20, seed=0)
    assert len(many) == 20
    assert choose_prefixes(5, [0], 3, seed=0) == [0, 1, 4]
    assert choose_prefixes(5, [0], None, seed=0) == [0, 1, 2, 3, 4]


def test_a_divergence_after_a_late_invocation_boundary_is_still_caught():
    # The workflow reads a module-level flag that flips after the first invocation: only
    # replays of states recorded after the wait (late in a long history) diverge.
    state = {"invocations": 0}

    def drifting():
        for _ in range(150):
            yield Step(increment, 0, name="before")
        yield Wait(60, name="nap")
        state["invocations"] += 1
        name = "after" if state["invocations"] == 1 else "changed"
        for _ in range(150):
            yield Step(increment, 0, name=name)
        return 1

    with pytest.raises(DeterminismError, match="named changed"):
        check_replay_determinism(drifting, mutate=False)


# --- callbacks, invokes, conditions and markers ----------------------------------------------


def _submit(callback_id: str, order: str) -> None:
    pass


def _poll(count: int) -> int:
    return count + 1


def every_new_operation(order: str):
    """A workflow with every new operation type, named after a uuid in one place."""
    handle = yield Callback(name="approval", timeout=600)
    token = yield Uuid()
    yield Step(str.upper, order, name=f"token {token}")
    patched = yield Patched("fix-1")
    decision = yield handle
    confirmed = yield WaitForCallback(_submit, order, name="confirm", timeout=600)
    price = yield Invoke("pricing", order, name="price")
    polls = yield WaitForCondition(_poll, 0, WaitStrategy.fixed(lambda n: n < 3, 5), name="poll")
    yield Now(name="finished at")
    return [decision, confirmed, price, polls, patched]


NEW_WORLD = World(
    callbacks={
        "approval": CallbackOutcome.success("yes", delay=60),
        "confirm": CallbackOutcome.success("confirmed", delay=5),
    },
    invokes={"pricing": InvokeOutcome.result(7)},
)


def _played(workflow, world=NEW_WORLD, **options):
    return LocalRunner(
        workflow,
        world=world,
        callbacks=world.callback_actions(),
        targets=world.invoke_targets(),
        **options,
    )


def test_the_probe_parks_on_a_started_callback_and_an_invoke():
    def approval():
        handle = yield Callback(name="ok")
        return (yield handle)

    def invoking():
        return (yield Invoke("pricing", 1))

    result = probe(approval, None, [])
    assert result.outcome == Suspended()
    assert [u.action.value for u in result.updates] == ["START"]
    assert probe(invoking, None, []).outcome == Suspended()


def test_every_new_operation_replays_deterministically_under_crashes():
    for crashes in [(), (CrashPoint(1),), (CrashPoint(2, after=False), CrashPoint(5))]:
        world = attrs.evolve(NEW_WORLD, crashes=crashes)
        report = check_replay_determinism(every_new_operation, "a-1", world, interleavings=2)
        assert report.result.result == ["yes", "confirmed", 7, 3, True]
        assert report.mutations_checked >= 5


def test_a_uuid_replays_with_the_runs_own_arn_so_its_value_is_no_false_alarm():
    def named_after_a_uuid():
        token = yield Uuid()
        yield Wait(10, name="nap")  # a replay after the wait re-derives the uuid
        return (yield Step(str, "x", name=f"step {token}"))

    report = check_replay_determinism(named_after_a_uuid, None, max_prefixes=None)
    assert report.violations == ()


def test_a_callback_name_that_depends_on_random_is_still_caught():
    def flaky():
        handle = yield Callback(name=f"approval {random.random()}", timeout=60)
        yield Wait(1)
        return (yield handle)

    report = check_replay_determinism(flaky, None, raise_on_violation=False, mutate=False)
    assert any("random.random()" in v for v in report.violations)
    assert any("CALLBACK (Callback) named approval" in v for v in report.violations)


def test_saved_histories_with_every_new_operation_replay(tmp_path):
    run = _played(every_new_operation).run("a-1")
    assert run.status == "SUCCEEDED"
    run.save(tmp_path / "all.json")
    saved = Replayer.load(tmp_path / "all.json")
    types = {e["EventType"] for e in saved["Events"]}
    assert {"CallbackSucceeded", "ChainedInvokeSucceeded", "ContextSucceeded"} <= types
    assert Replayer(every_new_operation).replay(run).ok  # the run's own ARN
    # A saved history does not carry the ARN the uuid derives from: pass it.
    assert Replayer(every_new_operation).replay(saved, execution_arn=run.arn).ok
    result = Replayer(every_new_operation).replay(saved, raise_on_mismatch=False)
    assert not result.ok and "token" in result.diff


def test_histories_recorded_mid_flight_replay_and_park(tmp_path):
    def waits(order):
        handle = yield Callback(name="approval", timeout=600)
        price = yield Invoke("pricing", order, name="price")
        polls = yield WaitForCondition(
            _poll, 0, WaitStrategy.fixed(lambda n: n < 3, 60), name="poll"
        )
        return [(yield handle), price, polls]

    world = attrs.evolve(NEW_WORLD, callbacks={"approval": CallbackOutcome.success(1, delay=599)})
    runner = _played(waits, world)
    for stop in range(1, 6):  # stop after each invocation: a history still in flight
        run = runner.run("a", max_invocations=stop)
        run.save(tmp_path / f"waits-{stop}.json")
        assert Replayer(waits).replay(Replayer.load(tmp_path / f"waits-{stop}.json")).ok


@pytest.mark.parametrize(
    ("change", "recorded", "code"),
    [
        ("rename the callback", "CALLBACK (Callback) named approval", "named approval v2"),
        ("invoke becomes a step", "CHAINED_INVOKE (ChainedInvoke) named price", "STEP (Step)"),
        ("rename the condition", "STEP (WaitForCondition) named poll", "named poll v2"),
        ("rename the wait for callback", "CONTEXT (WaitForCallback) named confirm", "confirm v2"),
    ],
)
def test_a_changed_workflow_is_reported_on_a_history_with_the_new_operations(
    change, recorded, code
):
    names = {
        "approval": "approval v2" if change == "rename the callback" else "approval",
        "poll": "poll v2" if change == "rename the condition" else "poll",
        "confirm": "confirm v2" if change == "rename the wait for callback" else "confirm",
    }

    def changed(order: str):
        handle = yield Callback(name=names["approval"], timeout=600)
        token = yield Uuid()
        yield Step(str.upper, order, name=f"token {token}")
        patched = yield Patched("fix-1")
        decision = yield handle
        confirmed = yield WaitForCallback(_submit, order, name=names["confirm"], timeout=600)
        if change == "invoke becomes a step":
            price = yield Step(len, order, name="price")
        else:
            price = yield Invoke("pricing", order, name="price")
        polls = yield WaitForCondition(
            _poll, 0, WaitStrategy.fixed(lambda n: n < 3, 5), name=names["poll"]
        )
        return [decision, confirmed, price, polls, patched]

    run = _played(every_new_operation).run("a-1")
    with pytest.raises(ReplayMismatch) as caught:
        Replayer(changed).replay(run)
    assert recorded in str(caught.value) and code in str(caught.value)


def test_a_patch_added_to_a_recorded_workflow_takes_the_old_branch_on_replay():
    def v1():
        yield Step(str, "a", name="a")
        yield Wait(5, name="nap")
        return "v1"

    def v2():
        if (yield Patched("new-step")):
            yield Step(str, "n", name="new")
        yield Step(str, "a", name="a")
        yield Wait(5, name="nap")
        return "v2"

    assert Replayer(v2).replay(LocalRunner(v1).run()).ok
    assert check_replay_determinism(v2, None).result.result == "v2"


# --- interleavings of concurrent branches -----------------------------------------------------


def settle_item(x, index):
    return (yield Step(echo, x, name=f"settle-{index}"))


def settled_map(n):
    result = yield Map(
        list(range(n)), settle_item, completion=Completion.all_completed(), max_concurrency=2
    )
    return [result.values(), result.completion_reason.value]


def test_interleavings_explore_other_completion_orders_of_map_branches():
    report = check_replay_determinism(settled_map, 6, World(seed=7), interleavings=4, mutate=False)
    assert report.violations == ()
    assert report.result.result == [list(range(6)), "ALL_COMPLETED"]
    assert report.completion_orders > 1  # the branches really finished in other orders


def test_a_workflow_without_concurrency_has_one_completion_order():
    report = check_replay_determinism(good, 4, interleavings=3, mutate=False)
    assert report.completion_orders == 1


def test_batch_items_indexed_by_completion_order_are_caught(monkeypatch):
    """A planted bug: the BatchResult records each branch under the order it finished in."""
    record = fanout_module._Coordinator._record

    def by_finish_order(self, branch, outcome):
        return record(self, len(self.items), outcome)

    monkeypatch.setattr(fanout_module._Coordinator, "_record", by_finish_order)
    with pytest.raises(DeterminismError, match="another interleaving"):
        check_replay_determinism(settled_map, 6, World(seed=7), interleavings=4, mutate=False)


def test_branch_ids_that_depend_on_completion_order_are_caught(monkeypatch):
    """A planted bug: a branch's id depends on which branch finished last before it started.

    The results agree whatever the order; only a replay of a run whose branches finished
    out of index order sees other ids (it resolves recorded branches in index order).
    """
    state: dict[str, Any] = {"last": None, "ids": {}}
    init = fanout_module._Coordinator.__init__
    record = fanout_module._Coordinator._record

    def fresh(self, *args, **kwargs):
        state["last"], state["ids"] = None, {}
        init(self, *args, **kwargs)

    def remember(self, branch, outcome):
        state["last"] = branch
        return record(self, branch, outcome)

    def order_dependent_id(prefix, n):
        if (prefix, n) not in state["ids"]:
            last = state["last"]
            state["ids"][prefix, n] = operation_id(prefix, n if last is None else n + 1000 * last)
        return state["ids"][prefix, n]

    monkeypatch.setattr(fanout_module._Coordinator, "__init__", fresh)
    monkeypatch.setattr(fanout_module._Coordinator, "_record", remember)
    monkeypatch.setattr(fanout_module, "operation_id", order_dependent_id)
    with pytest.raises(DeterminismError, match="another interleaving"):
        check_replay_determinism(settled_map, 6, World(seed=7), interleavings=4, mutate=False)


def test_a_run_result_keeps_the_history_it_ended_with_after_the_execution_goes_on():
    from orchestra import Callback

    def workflow() -> Any:
        cb = yield Callback(name="ok")
        answer = yield cb
        return answer

    runner = LocalRunner(workflow)
    first = runner.run()
    assert first.status == "RUNNING"
    before = [(e.event_type, e.event_id) for e in first.history]
    assert [t for t, _ in before] == ["ExecutionStarted", "CallbackStarted", "InvocationCompleted"]
    runner.succeed_callback(first, "ok", "yes")
    second = runner.resume(first)
    assert second.status == "SUCCEEDED"
    assert [(e.event_type, e.event_id) for e in first.history] == before  # unchanged
    after = [(e.event_type, e.event_id) for e in second.history]
    assert after[: len(before)] == before and len(after) > len(before)
    assert after[-1][0] == "ExecutionSucceeded"
