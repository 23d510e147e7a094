"""Replay properties of orchestra over random workflow programs and random worlds.

Each property runs a random :class:`~property_tests.programs.Program` (steps with retries
and both semantics, waits, real and virtual child contexts, try/except, raises, callbacks
awaited after a body, WaitForCallbacks, chained invokes, WaitForConditions, uuids, patch
markers and Now) on the emulator under a random :class:`~orchestra.testing.World` (failing
step attempts, crashes before or after checkpoint calls, jitter seeds, callback answers
and timeouts on the virtual clock, invoked functions' results and errors). On a failure
hypothesis shrinks both to the smallest program and world that break it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import attrs
import botocore.session
from botocore.validate import ParamValidator
from hypothesis import event, example, given
from hypothesis import strategies as st

from orchestra.service.local.engine import LocalService
from orchestra.testing import CrashPoint, LocalRunner, RunResult, World, check_replay_determinism
from orchestra.testing.strategies import crash_points, worlds
from orchestra.testing.world import CallbackOutcome, InvokeOutcome
from orchestra.wire.converter import to_wire
from orchestra.wire.models import CheckpointResponse, OperationType, OperationUpdate
from property_tests.programs import (
    FUNCTIONS,
    Callback,
    Child,
    Condition,
    Fan,
    Invoke,
    Marker,
    Program,
    Raise,
    Return,
    Step,
    Try,
    Wait,
    WaitForCallback,
    callback_names,
    callbacks_of,
    compile_program,
    has_at_most_once,
    operation_count,
    programs,
    step_names,
    walk,
)

REJECTIONS = ("CheckpointError", "InvalidParameterValueException")
PROGRAM_FAILURES = (
    "StepError",
    "ChildContextError",
    "ProgramError",
    "CallbackTimeoutError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "InvokeError",
    "WaitForConditionError",
)
#: The functions a world plays (``missing`` is never registered).
PLAYED = [f for f in FUNCTIONS if f != "missing"]


def runner(program: Program, world: World, **options: Any) -> LocalRunner:
    """A runner for ``program`` that plays ``world``'s callbacks and invoked functions."""
    return LocalRunner(
        compile_program(program),
        world=world,
        callbacks=world.callback_actions(),
        targets=world.invoke_targets(),
        **options,
    )


def _answered(world: World, program: Program) -> World:
    """Answer the callbacks that would otherwise wait forever (no timer, only silence)."""
    extra: dict[str, CallbackOutcome] = {}
    for cb in callbacks_of(program):
        outcome = world.callback_outcome(cb.name)
        silent = outcome is None or outcome.kind in ("timeout", "heartbeat_timeout")
        if silent and not (cb.timeout or cb.heartbeat):
            extra[cb.name] = CallbackOutcome.success(cb.name[-3:], delay=1)
    if not extra:
        return world
    return attrs.evolve(world, callbacks={**world.callbacks, **extra})


@st.composite
def programs_and_worlds(
    draw: st.DrawFn, *, at_most_once: bool = True, min_crashes: int = 0, max_crashes: int = 2
) -> tuple[Program, World]:
    """A program and a world for it: failures of its steps, crashes at its checkpoints.

    A program makes about one checkpoint call per operation (a step's START and SUCCEED
    usually share one) and often fewer (it fails early), so crash points fall on calls 1
    to ops + 2 rather than 2 x ops: further ones would hardly ever be reached.
    """
    program = draw(programs(at_most_once=at_most_once))
    max_checkpoint = operation_count(program) + 2
    world = draw(
        worlds(
            step_names=step_names(program),
            max_failures=2,
            max_crashes=max_crashes,
            max_checkpoint=max_checkpoint,
            callback_names=callback_names(program),
            invoke_targets=PLAYED,
            max_callback_delay=120,
            default_callback=True,
        )
    )
    world = _answered(world, program)
    if len(world.crashes) < min_crashes:
        crashes = draw(
            st.lists(
                crash_points(max_checkpoint=max_checkpoint),
                min_size=min_crashes,
                max_size=max_crashes,
                unique_by=lambda c: c.checkpoint,
            )
        )
        world = attrs.evolve(world, crashes=tuple(crashes))
    return program, world


def describe_run(run: RunResult) -> None:
    event(f"status: {run.status}")
    event(f"invocations: {min(run.invocations, 6)}{'+' if run.invocations > 6 else ''}")
    crashed = sum(
        1
        for e in run.history_dicts()
        if e["EventType"] == "InvocationCompleted" and "Error" in e["InvocationCompletedDetails"]
    )
    event(f"crashed invocations: {crashed}")
    if run.result_json and '"caught":' in run.result_json:
        event("a Try caught an OperationError")
    for op in run.operations:
        if op.type is OperationType.CALLBACK:
            error = op.callback_details.error if op.callback_details else None
            event(f"a callback ended {op.status.value} {error.error_type if error else ''}")
        elif op.type is OperationType.CHAINED_INVOKE:
            event(f"an invoke ended {op.status.value}")
        elif op.sub_type == "WaitForCondition":
            event(f"a condition ended {op.status.value}")
        elif op.sub_type in ("Map", "Parallel"):
            event(f"a {op.sub_type} ended {op.status.value}")
    if run.result_json and "_REACHED" in run.result_json:
        event("a fan-out reached min_successful")
    if run.result_json and "FAILURE_TOLERANCE_EXCEEDED" in run.result_json:
        event("a fan-out exceeded its tolerance")


# --- the model: what a program must return, computed without orchestra ----------------------


class _Raised(Exception):
    """An error the program raises: ``error_type`` is its class name, ``own_type`` the
    ``error_type`` attribute the OperationError carries (its cause's type)."""

    def __init__(self, error_type: str, message: str, own_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.own_type = own_type


NO_TARGET = "Function not found: {}. Register a target for it (LocalService.register_target)."


def callback_ending(
    outcome: CallbackOutcome | None, timeout: int, heartbeat: int
) -> tuple[str, Any]:
    """How the emulator ends a callback: ``("value", v)``, or ``("error", _Raised)``.

    The answer (or heartbeat) must come strictly before the first timer, which wins a tie;
    of the two timers, the timeout wins a tie. ``("forever", None)``: nothing ends it.
    """
    t = timeout or math.inf
    h = heartbeat or math.inf
    kind = outcome.kind if outcome is not None else "timeout"
    assert outcome is not None or kind == "timeout"
    if kind in ("success", "failure") and outcome is not None and outcome.delay < min(t, h):
        if kind == "success":
            return "value", outcome.result
        assert outcome.error_type is not None and outcome.message is not None
        return "error", _Raised("CallbackExternalError", outcome.message, outcome.error_type)
    if kind == "heartbeat_timeout" and outcome is not None:
        beat = outcome.delay
        if 0 < beat < min(t, h) and heartbeat:
            h = beat + heartbeat  # the heartbeat restarted the heartbeat timer
    if min(t, h) == math.inf:
        return "forever", None
    if t <= h:
        return "error", _Raised("CallbackTimeoutError", "Callback timed out", "Callback.Timeout")
    return "error", _Raised(
        "CallbackTimeoutError", "Callback timed out on heartbeat", "Callback.Heartbeat"
    )


@attrs.define
class Model:
    """Evaluates a program directly: the expected outcome and step attempt counts."""

    failures: dict[str, int]
    attempts: dict[str, int] = attrs.Factory(dict)
    world: World = attrs.Factory(World)

    def callback(self, name: str, timeout: int, heartbeat: int) -> Any:
        ending, value = callback_ending(self.world.callback_outcome(name), timeout, heartbeat)
        assert ending != "forever", f"callback {name!r} would wait forever"
        if ending == "error":
            raise value
        return value

    def invoke(self, stmt: Invoke) -> Any:
        outcome: InvokeOutcome | None = self.world.invokes.get(stmt.function)
        if outcome is None:
            message = NO_TARGET.format(stmt.function)
            raise _Raised("InvokeError", message, "ResourceNotFoundException")
        if outcome.failed:
            assert outcome.error_type is not None and outcome.message is not None
            raise _Raised("InvokeError", outcome.message, outcome.error_type)
        return outcome.value

    def condition(self, stmt: Condition) -> int:
        if self.failures.get(stmt.name, 0) >= 1:
            self.attempts[stmt.name] = 1
            message = f"injected failure of {stmt.name!r}, attempt 1"
            raise _Raised("WaitForConditionError", message, "InjectedFailure")
        polls = max(stmt.until, 1)
        if polls > stmt.max_attempts:
            self.attempts[stmt.name] = stmt.max_attempts
            raise _Raised(
                "WaitForConditionError",
                f"wait_for_condition exhausted {stmt.max_attempts} attempts before the "
                "condition was met",
                "WaitForConditionError",
            )
        self.attempts[stmt.name] = polls
        return polls

    def fan(self, fan: Fan) -> list[Any]:
        """A Map/Parallel drawn so that the branches' completion order does not matter: with
        one branch in flight they run in index order until the policy decides."""
        total = len(fan.branches)
        items: list[Any] = []
        succeeded = failed = 0
        reason = "ALL_COMPLETED"
        for branch in fan.branches:
            try:
                items.append(["SUCCEEDED", self.run(branch)])
                succeeded += 1
            except _Raised as err:
                items.append(["FAILED", err.error_type])  # the raw escaping type
                failed += 1
            decided = fan_decision(fan, total, succeeded, failed)
            if decided is not None:
                reason = decided
                break
        return [reason, items]

    def outcome(self, program: Program) -> tuple[str, Any]:
        try:
            return "SUCCEEDED", self.run(program)
        except _Raised as err:
            return "FAILED", {"ErrorType": err.error_type, "ErrorMessage": err.message}

    def run(self, program: Program) -> Any:
        out: list[Any] = []
        self.body(program.body, out)
        return program.returns.combine(out)

    def body(self, stmts: Sequence[Any], out: list[Any]) -> None:
        for stmt in stmts:
            if isinstance(stmt, Step):
                failing = self.failures.get(stmt.name, 0)
                if failing >= stmt.max_attempts:
                    self.attempts[stmt.name] = stmt.max_attempts
                    raise _Raised(
                        "StepError",
                        f"injected failure of {stmt.name!r}, attempt {stmt.max_attempts}",
                    )
                self.attempts[stmt.name] = failing + 1
                out.append(stmt.value if stmt.fn == "echo" else f"v{stmt.value}")
            elif isinstance(stmt, Wait):
                pass
            elif isinstance(stmt, Child):
                try:
                    out.append(self.run(stmt.program))
                except _Raised as err:
                    raise _Raised("ChildContextError", err.message) from err
            elif isinstance(stmt, Try):
                try:
                    self.body(stmt.body, out)
                except _Raised as err:
                    if err.error_type == "ProgramError":
                        raise
                    out.append(
                        {
                            "caught": err.error_type,
                            "error_type": _cause_type(err),
                            "message": err.message,
                        }
                    )
                    self.body(stmt.handler, out)
            elif isinstance(stmt, Callback):
                try:
                    value = self.callback(stmt.name, stmt.timeout, stmt.heartbeat)
                    error = None
                except _Raised as err:
                    value, error = None, err
                self.body(stmt.body, out)
                if stmt.awaited:
                    if error is not None:
                        raise error
                    out.append(value)
            elif isinstance(stmt, WaitForCallback):
                submitter = f"{stmt.name} submitter"
                failing = self.failures.get(submitter, 0)
                if failing >= stmt.max_attempts:
                    self.attempts[submitter] = stmt.max_attempts
                    raise _Raised(
                        "CallbackSubmitterError",
                        f"injected failure of {submitter!r}, attempt {stmt.max_attempts}",
                        "CallbackSubmitterError",
                    )
                self.attempts[submitter] = failing + 1
                out.append(self.callback(stmt.name, stmt.timeout, stmt.heartbeat))
            elif isinstance(stmt, Invoke):
                out.append(self.invoke(stmt))
            elif isinstance(stmt, Condition):
                out.append(self.condition(stmt))
            elif isinstance(stmt, Marker):
                if stmt.kind == "uuid":
                    out.append(36)
                elif stmt.kind == "patched":
                    out.append(True)
            elif isinstance(stmt, Fan):
                out.append(self.fan(stmt))
            else:
                raise _Raised("ProgramError", stmt.message)


def fan_decision(fan: Fan, total: int, succeeded: int, failed: int) -> str | None:
    """The completion rule (protocol §4.9), written out for the drawn policies."""
    if fan.policy == "fail_fast":  # Map's Completion(), Parallel's all_successful()
        exceeded = failed > 0
    elif fan.policy == "tolerated":
        exceeded = failed > fan.count
    else:  # all_completed tolerates 100 %, min_successful alone tolerates anything
        exceeded = False
    if exceeded:
        return "FAILURE_TOLERANCE_EXCEEDED"
    if succeeded + failed >= total:
        return "ALL_COMPLETED"
    if fan.policy == "min_successful" and succeeded >= fan.count:
        return "MIN_SUCCESSFUL_REACHED"
    return None


def _cause_type(err: _Raised) -> str:
    """The ``error_type`` an OperationError carries: its cause's type."""
    cause = err.__cause__
    if isinstance(cause, _Raised):
        return cause.error_type
    if err.own_type is not None:
        return err.own_type
    return "InjectedFailure"  # a step's own failure


def outcome_of(run: RunResult) -> tuple[str, Any]:
    if run.status == "SUCCEEDED":
        return run.status, run.result
    assert run.error is not None
    return run.status, {"ErrorType": run.error.error_type, "ErrorMessage": run.error.error_message}


def step_attempts(run: RunResult) -> dict[str, int]:
    """Attempts of the finished steps and conditions (not markers, ``Now`` or uuids)."""
    return {
        op.name: op.step_details.attempt
        for op in run.operations
        if op.type is OperationType.STEP
        and op.sub_type in ("Step", "WaitForCondition")
        and op.name
        and op.step_details
        and op.is_terminal
        and not _is_marker(op.name)
    }


# --- history projection ---------------------------------------------------------------------


def _is_marker(name: str | None) -> bool:
    """Whether ``name`` is a :class:`Marker`'s (numbered ``#m<n>`` by the generator)."""
    return bool(name) and name.rsplit("#", 1)[-1].startswith("m")  # type: ignore[union-attr]


def has_concurrency(program: Program) -> bool:
    """Whether events may legitimately interleave differently between two runs.

    Concurrent Map/Parallel branches interleave; and a callback's outside answer (or
    timeout) is an event of the world, due at a virtual moment that a crash's extra
    re-invocation can fall on either side of. The operations' own events must still match.
    """
    return any(
        (isinstance(s, Fan) and len(s.branches) > 1 and s.limit != 1)
        or isinstance(s, Callback | WaitForCallback)
        for s in walk(program.body)
    )


def per_operation(history: list[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    """Each operation's own events, in order (concurrent branches interleave differently)."""
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for entry in history:
        grouped.setdefault(entry[1], []).append(entry)
    return grouped


def operation_history(run: RunResult) -> list[tuple[Any, ...]]:
    """The operation-level events, without invocation/execution events and timestamps."""
    projected = []
    for e in run.history_dicts():
        kind = e["EventType"]
        if kind == "InvocationCompleted" or kind.startswith("Execution"):
            continue
        details = e.get(f"{kind}Details", {})
        error = details.get("Error")
        result = details.get("Result")
        if e.get("SubType") == "Step" and _is_marker(e.get("Name")):
            result = "(the time: Now() reads the real clock)"
        projected.append(
            (
                kind,
                e.get("Id"),
                e.get("Name"),
                e.get("SubType"),
                e.get("ParentId"),
                json.dumps(result, sort_keys=True),
                json.dumps(error and error["Payload"], sort_keys=True),
                json.dumps(details.get("RetryDetails"), sort_keys=True),
                details.get("Duration"),
            )
        )
    return projected


# --- properties -----------------------------------------------------------------------------


# worlds without crashes are covered by the model test (and by crash points past the end)
SOME_CRASH = programs_and_worlds(min_crashes=1)

# Pinned cases: what hypothesis found once, and paths random programs reach only rarely.
#: A crash before the first call; then an at-most-once step in a child is interrupted:
#: its replay fails the step and the context, which the recorded run never did.
INTERRUPTED_IN_CHILD = (
    Program(
        (
            Step("#s1", 0),
            Child("#c2", Program((Step("#s3", 0, at_most_once=True),))),
        )
    ),
    World(crashes=(CrashPoint(1, after=False),)),
)
#: A virtual child checkpoints no CONTEXT, but its replay yields one.
VIRTUAL_CHILD = (
    Program((Child("#c1", Program((Step("#s2", 1), Wait("#w3"))), virtual=True),)),
    World(crashes=(CrashPoint(2),)),
)
#: A failed step is caught, then a wait ends the invocation: the failure is replayed.
CAUGHT_THEN_WAIT = (
    Program(
        (
            Try((Step("#s1", 1),), (Step("#s2", 2, fn="tag"),)),
            Wait("#w3"),
            Try((Child("#c4", Program((Raise("raised"),)), virtual=True),)),
            Wait("#w5"),
        )
    ),
    World(failures={"#s1": 1}, crashes=(CrashPoint(3, after=False),)),
)

#: Nested fan-outs: a Parallel of three (all_completed, all in flight) whose branches wait,
#: retry, fail and hold a FLAT Map (fail fast, one at a time); crashes in between.
FANOUT = (
    Program(
        (
            Fan(
                "#p1",
                "parallel",
                (
                    Program((Wait("#w2", 5), Step("#s3", 3, max_attempts=2))),
                    Program(
                        (
                            Fan(
                                "#p4",
                                "map",
                                (
                                    Program((Step("#s5", 5),)),
                                    Program((Raise("item fails"),)),
                                    Program((Step("#s6", 6),)),
                                ),
                                policy="fail_fast",
                                limit=1,
                                flat=True,
                            ),
                        )
                    ),
                    Program((Step("#s7", 7, max_attempts=1),)),
                ),
            ),
            Step("#s8", 8),
        ),
        Return("count"),
    ),
    World(failures={"#s3": 1, "#s7": 1}, crashes=(CrashPoint(2), CrashPoint(5, after=False))),
)


@example(INTERRUPTED_IN_CHILD, 1)
@example(VIRTUAL_CHILD, 1)
@example(CAUGHT_THEN_WAIT, 2)
@example(FANOUT, 3)
@given(SOME_CRASH, st.sampled_from([1, 1, 1, 2]))
def test_random_programs_replay_deterministically(case, interleavings):
    program, world = case
    report = check_replay_determinism(
        compile_program(program), None, world, interleavings=interleavings
    )
    describe_run(report.result)
    assert report.result.status in ("SUCCEEDED", "FAILED")


# How long an at-least-once step's START may wait to share a checkpoint call. With 0 the
# writer sends at once, so a START usually goes alone and a crash can separate it from the
# step's outcome (which batches then form depends on thread timing: every one must do).
ASYNC_BOUNDS = st.sampled_from([0.05, 0.0])


@example(CAUGHT_THEN_WAIT, 0.05)
@example(VIRTUAL_CHILD, 0.0)
@example(FANOUT, 0.05)
@given(programs_and_worlds(), ASYNC_BOUNDS)
def test_without_crashes_the_outcome_is_the_models(case, async_bound):
    program, world = case
    world = attrs.evolve(world, crashes=())
    run = runner(program, world, async_bound=async_bound).run(None)
    describe_run(run)
    model = Model(dict(world.failures), world=world)
    assert outcome_of(run) == model.outcome(program)
    assert step_attempts(run) == model.attempts


@example(CAUGHT_THEN_WAIT, 0.05)
@example(VIRTUAL_CHILD, 0.0)
@example(FANOUT, 0.0)
@given(programs_and_worlds(at_most_once=False, min_crashes=1), ASYNC_BOUNDS)
def test_crashes_do_not_change_the_result_or_the_history(case, async_bound):
    program, world = case
    assert world.crashes and not has_at_most_once(program)
    crashed = runner(program, world, async_bound=async_bound).run(None)
    clean = runner(program, attrs.evolve(world, crashes=())).run(None)
    describe_run(crashed)
    assert (crashed.status, crashed.result_json) == (clean.status, clean.result_json)
    assert crashed.error == clean.error
    if has_concurrency(program):
        assert per_operation(operation_history(crashed)) == per_operation(operation_history(clean))
    else:
        assert operation_history(crashed) == operation_history(clean)


MODEL = botocore.session.get_session().get_service_model("lambda")
CHECKPOINT_SHAPE = MODEL.operation_model("CheckpointDurableExecution").input_shape


class RecordingService(LocalService):
    """The emulator, recording the updates of every checkpoint call (crashed ones too)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[OperationUpdate]] = []

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls.append(list(updates))
        return super().checkpoint(arn, token, updates)


def check_wire_shape(arn: str, updates: list[OperationUpdate]) -> None:
    params = {
        "DurableExecutionArn": arn,
        "CheckpointToken": "dG9rZW4=",
        "Updates": to_wire(updates),
    }
    report = ParamValidator().validate(params, CHECKPOINT_SHAPE)
    assert not report.has_errors(), report.generate_report()


@example(INTERRUPTED_IN_CHILD, 0.0)
@example(CAUGHT_THEN_WAIT, 0.0)
@given(SOME_CRASH, ASYNC_BOUNDS)
def test_every_checkpoint_is_one_the_service_accepts(case, async_bound):
    program, world = case
    service = RecordingService()
    run = runner(program, world, service=service, async_bound=async_bound).run(None)
    describe_run(run)
    assert run.status in ("SUCCEEDED", "FAILED")
    if run.error is not None:
        assert run.error.error_type not in REJECTIONS, run.error
        assert run.error.error_type in PROGRAM_FAILURES, run.error
    for call in service.calls:
        assert call, "an empty checkpoint call"
        check_wire_shape(run.arn, call)


# --- the world really changes things (so the properties are not vacuous) ---------------------

SAMPLE = Program(
    (
        Step("first#s1", 7, max_attempts=3),
        Wait("pause#w2", seconds=60),
        Try(
            (Child("inner#c3", Program((Step("doomed#s4", 1, max_attempts=2),)), virtual=True),),
            (Step("handler#s5", 5, at_most_once=True, fn="tag"),),
        ),
        Child("kid#c6", Program((Step("kid step#s7", 3),), Return("count"))),
        Try((Raise("not caught: not an OperationError"),)),
    ),
)


def test_failures_make_steps_retry_and_fail():
    world = World(failures={"first#s1": 2, "doomed#s4": 2})
    run = LocalRunner(compile_program(SAMPLE), world=world).run(None)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "ProgramError"
    attempts = step_attempts(run)
    assert attempts == {"first#s1": 3, "doomed#s4": 2, "handler#s5": 1, "kid step#s7": 1}
    failed = [e for e in run.history_dicts() if e["EventType"] == "StepFailed"]
    assert [e["Name"] for e in failed] == ["first#s1", "first#s1", "doomed#s4", "doomed#s4"]
    assert Model(dict(world.failures)).outcome(SAMPLE) == outcome_of(run)


def test_crash_points_kill_invocations():
    world = World(crashes=(CrashPoint(1, after=False), CrashPoint(3)))
    run = LocalRunner(compile_program(SAMPLE), world=world).run(None)
    exits = [
        e["InvocationCompletedDetails"]["Error"]["Payload"]["ErrorType"]
        for e in run.history_dicts()
        if e["EventType"] == "InvocationCompleted" and "Error" in e["InvocationCompletedDetails"]
    ]
    assert exits == ["Runtime.ExitError", "Runtime.ExitError"]
    clean = LocalRunner(compile_program(SAMPLE), world=World()).run(None)
    assert (run.status, run.error) == (clean.status, clean.error)
    assert operation_history(run) == operation_history(clean)
    check_replay_determinism(compile_program(SAMPLE), None, world)


#: Every new operation, with a crash between a callback's creation and its await.
EXTERNAL = (
    Program(
        (
            Try((Callback("#k1", 60, heartbeat=30, body=(Step("#s2", 2), Wait("#w3", 5))),)),
            Try((WaitForCallback("#f4", timeout=10, max_attempts=2),), (Marker("#m5", "uuid"),)),
            Invoke("#i6", "pricing", 3),
            Try((Invoke("#i7", "missing"),)),
            Condition("#q8", until=3, max_attempts=3, interval=7),
            Try((Condition("#q9", until=2, max_attempts=1),)),
            Marker("#m10", "patched"),
            Marker("#m11", "now"),
        ),
        Return("count"),
    ),
    World(
        crashes=(CrashPoint(1), CrashPoint(3, after=False)),
        callbacks={
            "#k1": CallbackOutcome.heartbeat_timeout(delay=20),
            "#f4": CallbackOutcome.success([1], delay=10),
        },
        invokes={"pricing": InvokeOutcome.result({"p": 1})},
    ),
)


def test_the_new_operations_really_happen_as_the_model_says():
    program, world = EXTERNAL
    run = runner(program, world).run(None)
    assert outcome_of(run) == Model(dict(world.failures), world=world).outcome(program)
    result = run.result
    heartbeat = {
        "caught": "CallbackTimeoutError",
        "error_type": "Callback.Heartbeat",  # the heartbeat at 20 s, then 30 s of silence
        "message": "Callback timed out on heartbeat",
    }
    tie = {  # the answer came at 10 s, as the 10 s timeout fell due: the timer wins
        "caught": "CallbackTimeoutError",
        "error_type": "Callback.Timeout",
        "message": "Callback timed out",
    }
    assert result["items"][:4] == [2, heartbeat, tie, 36]
    check_replay_determinism(compile_program(program), None, world)


def test_the_model_times_callbacks_as_the_emulator_does():
    ok = CallbackOutcome.success(1, delay=10)
    assert callback_ending(ok, 11, 0) == ("value", 1)
    assert callback_ending(ok, 10, 0)[1].own_type == "Callback.Timeout"  # a tie: the timer
    assert callback_ending(ok, 0, 10)[1].own_type == "Callback.Heartbeat"
    beat = CallbackOutcome.heartbeat_timeout(delay=5)
    assert callback_ending(beat, 14, 10)[1].own_type == "Callback.Timeout"  # 14 < 5 + 10
    assert callback_ending(beat, 16, 10)[1].own_type == "Callback.Heartbeat"
    assert callback_ending(beat, 15, 10)[1].own_type == "Callback.Timeout"  # timeout wins a tie
    assert callback_ending(None, 0, 0) == ("forever", None)


def test_fan_outs_run_as_the_model_says_and_explore_completion_orders():
    program, world = FANOUT
    run = runner(program, world).run(None)
    assert outcome_of(run) == Model(dict(world.failures), world=world).outcome(program)
    fan = run.result["items"][0]
    assert fan[0] == "ALL_COMPLETED"
    inner = ["FAILURE_TOLERANCE_EXCEEDED", [["SUCCEEDED", [5]], ["FAILED", "ProgramError"]]]
    assert fan[1][1] == ["SUCCEEDED", [inner]]  # the FLAT map stopped at its failed item
    assert fan[1][2] == ["FAILED", "StepError"]
    # each interleaving holds steps back by random delays; on a loaded machine the threads'
    # scheduling can swamp a few milliseconds, so several are run and one other order suffices
    report = check_replay_determinism(
        compile_program(program), None, attrs.evolve(world, max_delay_ms=20), interleavings=6
    )
    assert report.completion_orders > 1


def test_the_model_sees_caught_errors():
    status, result = Model({"doomed#s4": 2}).outcome(attrs.evolve(SAMPLE, body=SAMPLE.body[:4]))
    assert status == "SUCCEEDED"
    assert result[1] == {
        "caught": "ChildContextError",
        "error_type": "StepError",
        "message": "injected failure of 'doomed#s4', attempt 2",
    }
