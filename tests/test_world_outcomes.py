"""A World plays the outside systems: callback answers and timeouts, invoked functions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings

from orchestra import (
    Callback,
    CallbackError,
    Duration,
    Invoke,
    InvokeError,
    RetryPolicy,
    Step,
    WaitForCallback,
)
from orchestra.errors import ValidationError
from orchestra.testing import (
    CrashPoint,
    LocalRunner,
    RunResult,
    World,
    check_replay_determinism,
)
from orchestra.testing.strategies import callback_outcomes, invoke_outcomes, worlds
from orchestra.testing.world import (
    CALLBACKS_PER_NAME,
    CallbackOutcome,
    InvokeOutcome,
    UnansweredCallbackError,
)

OK = CallbackOutcome.success


def play(workflow: Any, world: World, input: Any = None) -> RunResult:
    """Run ``workflow`` with the world's callbacks and invoked functions played."""
    runner = LocalRunner(
        workflow,
        world=world,
        callbacks=world.callback_actions(),
        targets=world.invoke_targets(),
    )
    return runner.run(input)


def outcome_of(error: CallbackError | InvokeError) -> list[Any]:
    return [type(error).__name__, error.error_type, error.message]


def one_callback(timeout: int | None = 100, heartbeat: int | None = None, name: str = "ok"):
    def workflow():
        handle = yield Callback(name=name, timeout=timeout, heartbeat_timeout=heartbeat)
        try:
            return (yield handle)
        except CallbackError as error:
            return outcome_of(error)

    return workflow


def closed_after(run: RunResult, name: str) -> float:
    """Virtual seconds from the callback's start to its end (the clock ticks a µs per call)."""
    op = run.operation(name)
    assert isinstance(op.start_timestamp, datetime) and isinstance(op.end_timestamp, datetime)
    return round((op.end_timestamp - op.start_timestamp).total_seconds())


# --- callbacks ----------------------------------------------------------------------------


def test_a_success_arrives_after_its_virtual_delay():
    run = play(one_callback(), World(callbacks={"ok": OK({"approved": True}, delay=42)}))
    assert (run.status, run.result) == ("SUCCEEDED", {"approved": True})
    assert closed_after(run, "ok") == 42


def test_a_success_without_a_result_gives_none():
    assert play(one_callback(), World(callbacks={"ok": OK()})).result is None


def test_a_failure_is_the_external_error():
    world = World(callbacks={"ok": CallbackOutcome.failure("Rejected", "over budget", delay=5)})
    assert play(one_callback(), world).result == [
        "CallbackExternalError",
        "Rejected",
        "over budget",
    ]


def test_silence_lets_the_timeout_fire_on_the_virtual_clock():
    run = play(one_callback(timeout=3600), World(callbacks={"ok": CallbackOutcome.timeout()}))
    assert run.result == ["CallbackTimeoutError", "Callback.Timeout", "Callback timed out"]
    assert closed_after(run, "ok") == 3600


def test_silence_with_a_shorter_heartbeat_timeout_times_out_on_the_heartbeat():
    world = World(callbacks={"ok": CallbackOutcome.timeout()})
    run = play(one_callback(timeout=3600, heartbeat=60), world)
    assert run.result[1] == "Callback.Heartbeat"
    assert closed_after(run, "ok") == 60


def test_a_heartbeat_then_silence_restarts_the_heartbeat_timer_once():
    world = World(callbacks={"ok": CallbackOutcome.heartbeat_timeout(delay=50)})
    run = play(one_callback(timeout=3600, heartbeat=60), world)
    assert run.result == [
        "CallbackTimeoutError",
        "Callback.Heartbeat",
        "Callback timed out on heartbeat",
    ]
    assert closed_after(run, "ok") == 110  # the heartbeat at 50 s, then 60 s of silence


def test_an_answer_that_comes_as_the_timer_falls_due_is_too_late():
    run = play(one_callback(timeout=30), World(callbacks={"ok": OK(1, delay=30)}))
    assert run.result[1] == "Callback.Timeout"


def test_the_default_answers_unnamed_and_unlisted_callbacks_but_not_listed_ones():
    def workflow():
        unnamed = yield Callback(timeout=100)
        other = yield Callback(name="other", timeout=100)
        listed = yield Callback(name="listed", timeout=100)
        out = [(yield unnamed), (yield other)]
        try:
            out.append((yield listed))
        except CallbackError as error:
            out.append(error.error_type)
        return out

    world = World(callbacks={"listed": CallbackOutcome.timeout()}, default_callback=OK("default"))
    assert play(workflow, world).result == ["default", "default", "Callback.Timeout"]


def test_every_callback_of_a_name_is_answered():
    def workflow():
        handles = []
        for _ in range(3):
            handles.append((yield Callback(name="vote", timeout=10)))
        results = []
        for handle in handles:
            results.append((yield handle))
        return results

    world = World(callbacks={"vote": OK("yes", delay=1)})
    assert play(workflow, world).result == ["yes", "yes", "yes"]
    assert len(world.callback_actions()) == CALLBACKS_PER_NAME


def test_a_wait_for_callback_is_answered_by_its_own_name():
    def submit(callback_id: str) -> None:
        pass

    def workflow():
        return (yield WaitForCallback(submit, name="approval", timeout=60))

    run = play(workflow, World(callbacks={"approval": OK("granted", delay=10)}))
    assert (run.status, run.result) == ("SUCCEEDED", "granted")


def test_a_callback_answered_after_crashes_is_answered_the_same():
    world = World(
        callbacks={"ok": OK(7, delay=3)},
        crashes=(CrashPoint(1), CrashPoint(2, after=False)),
    )
    assert play(one_callback(), world).result == 7


# --- invoked functions --------------------------------------------------------------------


def invoking(function_name: str):
    def workflow(payload):
        try:
            return (yield Invoke(function_name, payload, name="call"))
        except InvokeError as error:
            return outcome_of(error)

    return workflow


def test_an_invoked_function_returns_the_worlds_result():
    world = World(invokes={"pricing": InvokeOutcome.result({"price": 7})})
    assert play(invoking("pricing"), world, {"sku": "A1"}).result == {"price": 7}


def test_an_invoked_function_fails_with_the_worlds_error_type():
    world = World(invokes={"pricing": InvokeOutcome.error("PriceUnknown", "no price")})
    assert play(invoking("pricing"), world).result == ["InvokeError", "PriceUnknown", "no price"]


def test_a_function_the_world_does_not_play_is_not_found():
    world = World(invokes={"pricing": InvokeOutcome.result(1)})
    result = play(invoking("billing"), world).result
    assert result[:2] == ["InvokeError", "ResourceNotFoundException"]


def test_an_arn_with_a_qualifier_is_played_by_the_name_it_was_given():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:pricing:live"
    world = World(invokes={arn: InvokeOutcome.result(3)})
    assert play(invoking(arn), world).result == 3


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: World(callbacks={"ok": "yes"}), "must be a CallbackOutcome"),
        (lambda: World(callbacks={"": OK()}), "a callback name must be a non-empty str"),
        (lambda: World(default_callback=InvokeOutcome.result(1)), "must be a CallbackOutcome"),
        (lambda: World(invokes={"pricing": OK()}), "must be a InvokeOutcome"),
        (lambda: World(invokes={"no spaces": InvokeOutcome.result(1)}), "not a function name"),
        (lambda: OK(object()), "JSON-encodable"),
        (lambda: OK("x" * 300_000), "over 262144 bytes"),
        (lambda: OK(1, delay=-1), "delay must be a number of seconds >= 0"),
        (lambda: OK(1, delay=float("nan")), "delay must be"),
        (lambda: OK(1, delay=True), "delay must be"),
        (lambda: CallbackOutcome.failure("", "m"), "error_type must be a non-empty str"),
        (lambda: CallbackOutcome.heartbeat_timeout(delay=-2), "delay must be"),
        (lambda: InvokeOutcome.result({1, 2}), "JSON-encodable"),
        (lambda: InvokeOutcome.error(None, "m"), "error_type must be a non-empty str"),
    ],
)
def test_outcomes_are_validated_when_the_world_is_built(build, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        build()


# --- check_replay_determinism ---------------------------------------------------------------


def approval(order: str):
    handle = yield Callback(name="approval", timeout=Duration.hours(1), heartbeat_timeout=600)
    receipt = yield Step(str.upper, order, name="receipt")
    try:
        decision = yield handle
    except CallbackError as error:
        decision = error.error_type
    try:
        price = yield Invoke("pricing", order, name="price")
    except InvokeError as error:
        price = error.error_type
    return [receipt, decision, price]


@pytest.mark.parametrize(
    ("outcome", "decision"),
    [
        (OK("yes", delay=30), "yes"),
        (CallbackOutcome.failure("No", "no"), "No"),
        (CallbackOutcome.timeout(), "Callback.Heartbeat"),
        (CallbackOutcome.heartbeat_timeout(delay=599), "Callback.Heartbeat"),
        (CallbackOutcome.heartbeat_timeout(delay=3500), "Callback.Heartbeat"),
    ],
)
def test_the_determinism_check_plays_the_worlds_callbacks_and_invokes(outcome, decision):
    world = World(
        callbacks={"approval": outcome},
        invokes={"pricing": InvokeOutcome.error("Closed", "closed")},
        crashes=(CrashPoint(2),),
    )
    report = check_replay_determinism(approval, "a-1", world, interleavings=2)
    assert report.result.result == ["A-1", decision, "Closed"]


def test_a_callback_nothing_answers_and_nothing_times_out_is_a_clear_error():
    with pytest.raises(UnansweredCallbackError, match=r"callback\(s\) 'ok' .*no timeout"):
        check_replay_determinism(one_callback(timeout=None), None, World())
    silent = World(callbacks={"ok": CallbackOutcome.timeout()})
    with pytest.raises(UnansweredCallbackError, match=r"CallbackOutcome\.timeout"):
        check_replay_determinism(one_callback(timeout=None), None, silent)


def test_the_interleavings_are_played_by_the_same_world():
    def workflow():
        first = yield Callback(name="a", timeout=100)
        second = yield Callback(name="b", timeout=100)
        return [(yield first), (yield second)]

    world = World(callbacks={"a": OK(1, delay=20), "b": OK(2, delay=10)}, max_delay_ms=2)
    assert check_replay_determinism(workflow, None, world, interleavings=3).result.result == [1, 2]


# --- strategies -----------------------------------------------------------------------------


@settings(max_examples=30)
@given(worlds(callback_names=["approval"], invoke_targets=["pricing"], default_callback=True))
def test_drawn_worlds_are_played_and_replay_deterministically(world):
    assert set(world.callbacks) <= {"approval"}
    assert set(world.invokes) == {"pricing"}
    silent = world.callback_outcome("approval") in (None, CallbackOutcome.timeout())
    report = check_replay_determinism(approval, "o", world, mutate=False)
    run = report.result
    assert run.status == "SUCCEEDED"
    outcome = world.callback_outcome("approval")
    if outcome is not None and outcome.kind == "success" and outcome.delay < 600:
        assert run.result[1] == outcome.result
    elif silent:
        assert run.result[1] == "Callback.Heartbeat"
    pricing = world.invokes["pricing"]
    assert run.result[2] == (pricing.error_type if pricing.failed else pricing.value)


@settings(max_examples=20)
@given(callback_outcomes(max_delay=5), invoke_outcomes())
def test_drawn_outcomes_respect_their_bounds(callback, invoke):
    assert callback.kind in ("success", "failure", "timeout", "heartbeat_timeout")
    assert 0 <= callback.delay <= 5
    assert invoke.failed == (invoke.error_type is not None)


# --- the runner plays the world by itself ----------------------------------------------------


def test_local_runner_plays_the_world_by_itself():
    world = World(callbacks={"ok": OK(1)}, invokes={"pricing": InvokeOutcome.result(2)})

    def workflow():
        handle = yield Callback(name="ok", timeout=10)
        return [(yield handle), (yield Invoke("pricing", None))]

    assert LocalRunner(workflow, world=world).run().result == [1, 2]


def test_retry_policies_in_waitforcallback_see_the_worlds_step_failures():
    def submit(callback_id: str) -> None:
        pass

    def workflow():
        try:
            return (
                yield WaitForCallback(
                    submit,
                    name="ask",
                    timeout=60,
                    retry=RetryPolicy.fixed(Duration(1), max_attempts=2),
                )
            )
        except CallbackError as error:
            return outcome_of(error)

    world = World(failures={"ask submitter": 2}, callbacks={"ask": OK("never read")})
    assert play(workflow, world).result == [
        "CallbackSubmitterError",
        "CallbackSubmitterError",
        "injected failure of 'ask submitter', attempt 2",
    ]
