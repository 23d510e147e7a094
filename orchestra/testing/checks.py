"""``check_replay_determinism``: property checks of a workflow's replay behaviour.

Given a workflow, an input and a :class:`~orchestra.testing.world.World`, it runs the
workflow on the emulator under that world (step failures, crashes, jitter), records every
state the service held along the way, and checks:

1. **Prefixes replay the same way.** Replaying each recorded state twice gives the same
   yields, updates and step runs, and every yielded operation and every update matches the
   recorded run at that id (type, sub-type, name, parent).
2. **Nothing completed runs again.** A replay never asks to run a step the state shows as
   finished, nor to re-run an interrupted at-most-once attempt; and during the run itself
   no at-most-once attempt ran twice.
3. **Interleavings agree.** With ``interleavings > 1``, runs whose steps complete in other
   orders (other seeds, and delays of up to ``max(world.max_delay_ms, 3)`` ms, so that the
   branches of a Map or Parallel finish in other orders) end with the same status and
   result, and a sample of the states each of them went through replays as in property 1
   (``max_prefixes // 4`` of them). ``report.completion_orders`` says how many distinct
   completion orders the runs explored. The result must not depend on the order, so
   compare results that do not (e.g. ``all_completed`` rather than ``min_successful=1``
   over branches that race).
4. **Mutations are caught.** Changing an operation's type or name, swapping two, removing
   one or adding one to the final history makes the replay fail with
   :class:`~orchestra.errors.NonDeterministicExecutionError`; it is never replayed silently.

It also runs a :class:`~orchestra.testing.guard.DeterminismGuard` and fails on clock,
random or uuid calls from workflow code, and on any checkpoint the service rejected.

The world's callback outcomes and invoke results are played by the emulator (its scripted
callback actions and registered targets), in the reference run and in every interleaving.
A run left waiting for a callback nothing will complete (no answer in the world, no
timeout) raises :class:`~orchestra.testing.world.UnansweredCallbackError`. Replays see the
run's own execution ARN, so ``Uuid()`` values replay as they were recorded.

Replaying every recorded state costs time quadratic in the length of the run, so by default
at most ``max_prefixes`` (64) states are replayed: the first and last few, the states on
either side of each invocation boundary (where a real replay starts: after a wait, a retry
delay or a crash), and an evenly spread sample of the others, drawn with the world's seed.
``max_prefixes=None`` replays them all. The mutations are a bounded set (at most nine) of
changes to the final history, whatever its length.

Example:
    >>> from orchestra import Step, Wait
    >>> def double(x: int) -> int:
    ...     return 2 * x
    >>> def workflow(x):
    ...     y = yield Step(double, x)
    ...     yield Wait(10)
    ...     return (yield Step(double, y))
    >>> report = check_replay_determinism(workflow, 3, World(crashes=(CrashPoint(2),)))
    >>> report.result.result, report.prefixes_checked > 3, report.mutations_checked > 3
    (12, True, True)
    >>> report.prefixes_checked <= report.states_recorded <= 64  # a short run: all of them
    True
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from orchestra.interpreter.commands import Failed
from orchestra.interpreter.determinism import describe
from orchestra.interpreter.ids import operation_id
from orchestra.service.local.engine import Execution, LocalService
from orchestra.testing.guard import DeterminismGuard
from orchestra.testing.probe import ProbeResult, Yielded, probe
from orchestra.testing.runner import LocalRunner, RunResult
from orchestra.testing.world import CrashPoint, UnansweredCallbackError, World
from orchestra.wire.models import (
    CheckpointResponse,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
    SubType,
)

__all__ = [
    "DEFAULT_MAX_PREFIXES",
    "CrashPoint",
    "DeterminismError",
    "DeterminismReport",
    "UnansweredCallbackError",
    "World",
    "check_replay_determinism",
    "choose_prefixes",
]

#: How many recorded states ``check_replay_determinism`` replays by default.
DEFAULT_MAX_PREFIXES = 64
#: Each interleaving holds steps back up to this many milliseconds at least, so that
#: concurrent steps (in Map and Parallel branches) finish in other orders.
INTERLEAVING_DELAY_MS = 3
#: Each interleaving replays ``max_prefixes // INTERLEAVING_SHARE`` of its states.
INTERLEAVING_SHARE = 4
#: How many states at each end of the run are always replayed.
_EDGE = 4
_NON_DETERMINISTIC = "NonDeterministicExecutionError"
_REJECTIONS = ("CheckpointError", "InvalidParameterValueException")


class DeterminismError(AssertionError):
    """The workflow's replay behaviour broke one of the properties."""


@attrs.frozen
class DeterminismReport:
    """What was checked, and the reference run.

    Attributes:
        result: the reference run.
        prefixes_checked: how many recorded states (history prefixes) were replayed.
        mutations_checked: how many mutated final histories were replayed.
        violations: what broke the properties (empty when none did).
        states_recorded: how many states the run went through (a state repeated by the
            next checkpoint call counted once); ``prefixes_checked`` of them were sampled
            (with ``max_prefixes=None`` all of them, a state met twice replayed once).
        completion_orders: how many distinct orders the step attempts finished in, over the
            reference run and the other interleavings (1 for a workflow without concurrent
            steps; more when Map/Parallel branches finished in other orders).
    """

    result: RunResult
    prefixes_checked: int
    mutations_checked: int
    violations: tuple[str, ...]
    states_recorded: int = 0
    completion_orders: int = 1


class _SnapshottingService(LocalService):
    """The emulator, remembering every state the checked execution went through.

    Only the first execution started (the workflow's) is recorded, not the child
    executions its chained invokes may start on the same emulator.
    """

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[tuple[Operation, ...]] = []
        self.updates: list[OperationUpdate] = []
        #: The index in ``snapshots`` of the state each invocation started from.
        self.invocation_starts: list[int] = []
        self.root_arn: str | None = None

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        *,
        name: str | None = None,
        execution_timeout: int = 86_400,
        entry: str | None = None,
    ) -> str:
        arn = super().start_execution(
            function_name,
            input_payload,
            name=name,
            execution_timeout=execution_timeout,
            entry=entry,
        )
        if self.root_arn is None:
            self.root_arn = arn
        return arn

    def _snapshot(self, ex: Execution) -> None:
        state = tuple(ex.visible_operations())
        if not self.snapshots or self.snapshots[-1] != state:
            self.snapshots.append(state)

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        if arn != self.root_arn:
            return super().checkpoint(arn, token, updates)
        self.updates.extend(updates)  # sent, even if a crash then loses the answer
        try:
            return super().checkpoint(arn, token, updates)
        finally:
            self._snapshot(self.execution(arn))

    def before_invoke(self, ex: Execution) -> None:
        if ex.arn != self.root_arn:
            return
        self._snapshot(ex)
        self.invocation_starts.append(len(self.snapshots) - 1)


def _runner(workflow: Callable[..., Any], world: World, **options: Any) -> LocalRunner:
    """A runner that plays ``world``: its failures and crashes, callbacks and invokes."""
    return LocalRunner(
        workflow,
        world=world,
        callbacks=world.callback_actions(),
        targets=world.invoke_targets(),
        **options,
    )


def _check_answered(run: RunResult, world: World) -> None:
    """Refuse a run left waiting for callbacks nothing will complete."""
    if run.status != "RUNNING":
        return
    pending = run.pending_callbacks()
    names = ", ".join(repr(p.name) for p in pending) or "(none started)"
    raise UnansweredCallbackError(
        f"the run waits for the outside: callback(s) {names} are still open and nothing "
        "will complete them. The world gives them no answer, or only silence "
        "(CallbackOutcome.timeout()), and they have no timeout that could expire. Give "
        "World(callbacks={name: CallbackOutcome...}) or World(default_callback=...) an "
        "answer for them, or give the callbacks a timeout."
    )


def _update_key(update: OperationUpdate) -> tuple[Any, ...]:
    return (update.id, update.type, update.action, update.sub_type, update.name, update.parent_id)


def check_replay_determinism(
    workflow: Callable[..., Any],
    input: Any = None,
    world: World | None = None,
    *,
    interleavings: int = 1,
    mutate: bool = True,
    max_prefixes: int | None = DEFAULT_MAX_PREFIXES,
    raise_on_violation: bool = True,
) -> DeterminismReport:
    """Run ``workflow`` under ``world`` and check the replay properties listed above.

    Args:
        workflow: the workflow generator function.
        input: its input.
        world: failures, crashes and jitter for the reference run (default: none).
        interleavings: how many runs (with other completion orders) must agree.
        mutate: also check that mutated histories are reported.
        max_prefixes: replay at most this many of the recorded states: the first and last
            few, those around each invocation boundary, and an evenly spread sample drawn
            with ``world.seed``. ``None`` replays every state (quadratic in the run's
            length).
        raise_on_violation: raise :class:`DeterminismError` listing every violation.

    Returns:
        The report; ``report.prefixes_checked`` of ``report.states_recorded`` states were
        replayed.

    Raises:
        DeterminismError: a property was broken (with ``raise_on_violation``).
        ValueError: ``max_prefixes`` is less than 1.
        UnansweredCallbackError: the run (or an interleaving) was left waiting for a
            callback that the world does not answer and that has no timeout.

    Example:
        >>> from orchestra import Step
        >>> def count(n):
        ...     for i in range(n):
        ...         yield Step(abs, i, name="abs")
        ...     return n
        >>> report = check_replay_determinism(count, 100, max_prefixes=10)
        >>> report.prefixes_checked, report.states_recorded > 100
        (10, True)
        >>> check_replay_determinism(count, 100, max_prefixes=None).prefixes_checked > 100
        True
    """
    if max_prefixes is not None and max_prefixes < 1:
        raise ValueError(f"max_prefixes must be at least 1 (or None for all), got {max_prefixes}")
    world = world or World()
    service = _SnapshottingService()
    guard = DeterminismGuard()
    runner = _runner(workflow, world, service=service, guard=guard)
    run = runner.run(input)
    _check_answered(run, world)
    arn = run.arn
    violations: list[str] = [str(v) for v in dict.fromkeys(guard.violations)]
    if run.error is not None and run.error.error_type == _NON_DETERMINISTIC:
        violations.append(f"the run itself failed: {run.error.error_message}")
    if run.error is not None and run.error.error_type in _REJECTIONS:
        violations.append(f"the service rejected a checkpoint: {run.error.error_message}")

    trace = {u.id: (u.type, u.sub_type, u.name) for u in service.updates}
    known_updates = {_update_key(u) for u in service.updates}
    states = service.snapshots
    final_state = tuple(service.execution(run.arn).visible_operations())
    if not states or states[-1] != final_state:
        states = [*states, final_state]
    chosen = choose_prefixes(len(states), service.invocation_starts, max_prefixes, world.seed)
    checked: dict[tuple[Operation, ...], int] = {}
    for index in chosen:
        checked.setdefault(states[index], index)  # a state met twice is replayed once
    for state, index in checked.items():
        violations.extend(_check_prefix(workflow, input, state, index, trace, known_updates, arn))

    assert runner.executor is not None
    amo_attempts = Counter(
        (e.op_id, e.attempt)
        for e in runner.executor.executions
        if e.at_most_once and not e.injected
    )
    violations.extend(
        f"at-most-once step {op_id} attempt {attempt} ran {count} times"
        for (op_id, attempt), count in amo_attempts.items()
        if count > 1
    )

    orders = {tuple(runner.executor.completions)}
    for i in range(1, interleavings):
        other = attrs.evolve(
            world, seed=world.seed + i, max_delay_ms=max(world.max_delay_ms, INTERLEAVING_DELAY_MS)
        )
        recorded = _SnapshottingService()
        other_runner = _runner(workflow, other, service=recorded)
        again = other_runner.run(input)
        _check_answered(again, other)
        assert other_runner.executor is not None
        orders.add(tuple(other_runner.executor.completions))
        if (again.status, again.result_json) != (run.status, run.result_json):
            violations.append(
                f"another interleaving (seed {other.seed}) ended {again.status} with "
                f"{again.result_json!r}, the reference run {run.status} with {run.result_json!r}"
            )
        violations.extend(
            f"another interleaving (seed {other.seed}): {found}"
            for found in _check_interleaving(workflow, input, recorded, again, max_prefixes, other)
        )

    mutations = 0
    if mutate:
        for description, mutated in _mutations(workflow, input, final_state, arn):
            mutations += 1
            outcome = probe(workflow, input, mutated, execution_arn=arn).outcome
            if not _is_non_deterministic(outcome):
                violations.append(f"a mutated history was replayed silently: {description}")

    report = DeterminismReport(
        run,
        len(checked),
        mutations,
        tuple(violations),
        states_recorded=len(states),
        completion_orders=len(orders),
    )
    if violations and raise_on_violation:
        raise DeterminismError(
            f"{len(violations)} replay-determinism violation(s):\n- " + "\n- ".join(violations)
        )
    return report


def _check_interleaving(
    workflow: Callable[..., Any],
    input_value: Any,
    service: _SnapshottingService,
    run: RunResult,
    max_prefixes: int | None,
    world: World,
) -> list[str]:
    """Replay a sample of the states another interleaving went through.

    Its branches finished in another order than the reference run's, so its histories
    hold what an order-dependent interpreter (ids, names or decisions taken from the
    order in which concurrent work finished) would replay differently.
    """
    trace = {u.id: (u.type, u.sub_type, u.name) for u in service.updates}
    known = {_update_key(u) for u in service.updates}
    states = service.snapshots
    final_state = tuple(service.execution(run.arn).visible_operations())
    if not states or states[-1] != final_state:
        states = [*states, final_state]
    limit = None if max_prefixes is None else max(1, max_prefixes // INTERLEAVING_SHARE)
    chosen = choose_prefixes(len(states), service.invocation_starts, limit, world.seed)
    checked: dict[tuple[Operation, ...], int] = {}
    for index in chosen:
        checked.setdefault(states[index], index)
    found: list[str] = []
    for state, index in checked.items():
        found.extend(_check_prefix(workflow, input_value, state, index, trace, known, run.arn))
    return found


def choose_prefixes(
    count: int, boundaries: Iterable[int], limit: int | None, seed: int
) -> list[int]:
    """The indices of the recorded states to replay, in order.

    All of them when ``limit`` is ``None`` or not smaller than ``count``. Otherwise at most
    ``limit``: the first and last few, the states on either side of each invocation
    boundary (an evenly spread subset of those when they alone exceed the limit), and an
    evenly spread sample of the rest (one state from each of as many equal slices), drawn
    with ``seed``.

    Args:
        count: how many states were recorded.
        boundaries: the index of the state each invocation started from.
        limit: the most states to choose, or ``None`` for all.
        seed: seeds the sample, so that the same run checks the same states.

    Example:
        >>> choose_prefixes(5, [0], None, seed=0)
        [0, 1, 2, 3, 4]
        >>> chosen = choose_prefixes(1000, [0, 500], 16, seed=0)
        >>> len(chosen), chosen[:4], chosen[-4:], {499, 500, 501} <= set(chosen)
        (16, [0, 1, 2, 3], [996, 997, 998, 999], True)
        >>> chosen == choose_prefixes(1000, [0, 500], 16, seed=0)
        True
    """
    if limit is None or count <= limit:
        return list(range(count))
    rng = random.Random(seed)
    head = min(_EDGE, (limit + 1) // 2)
    tail = min(_EDGE, limit - head)
    chosen = set(range(head)) | set(range(count - tail, count))
    around = sorted({i for b in boundaries for i in (b - 1, b, b + 1) if 0 <= i < count} - chosen)
    chosen.update(_spread(around, limit - len(chosen), rng))
    rest = [i for i in range(count) if i not in chosen]
    chosen.update(_spread(rest, limit - len(chosen), rng))
    return sorted(chosen)


def _spread(items: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """``k`` of ``items`` (all when there are not more), one from each of ``k`` equal slices."""
    if k <= 0:
        return []
    if len(items) <= k:
        return list(items)
    bounds = [len(items) * j // k for j in range(k + 1)]
    return [items[rng.randrange(bounds[j], bounds[j + 1])] for j in range(k)]


def _is_non_deterministic(outcome: object) -> bool:
    return isinstance(outcome, Failed) and outcome.error.error_type == _NON_DETERMINISTIC


def _check_prefix(
    workflow: Callable[..., Any],
    input_value: Any,
    state: tuple[Operation, ...],
    index: int,
    trace: dict[str, tuple[OperationType, str | None, str | None]],
    known_updates: set[tuple[Any, ...]],
    arn: str,
) -> list[str]:
    where = f"history prefix #{index} ({len(state)} operations)"
    first = probe(workflow, input_value, state, execution_arn=arn)
    second = probe(workflow, input_value, state, execution_arn=arn)
    found: list[str] = []
    if first != second:
        differs = _difference(first, second)
        found.append(f"{where}: replaying the same history twice differed: {differs}")
    if _is_non_deterministic(first.outcome):
        assert isinstance(first.outcome, Failed)
        found.append(f"{where}: {first.outcome.error.error_message}")
    by_id = {op.id: op for op in state}
    # After an at-most-once attempt that this state shows interrupted, the replay fails it
    # and may go another way than the recorded run did (a handler, a failed context): that
    # is the path a crash in this state takes, so only the operations in the state compare.
    interrupted = {u.id for u in first.updates if _interrupted(u, by_id.get(u.id))}
    diverged = False
    for y in first.yields:
        if diverged and y.op_id not in by_id:
            continue
        diverged = diverged or y.op_id in interrupted
        recorded = trace.get(y.op_id)
        if recorded is None:
            if y.virtual or y.op_id in by_id:
                continue  # a virtual child checkpoints nothing of its own
            found.append(f"{where}: replay yielded {_label(y)} that the recorded run never had")
        elif recorded[0] is not y.op_type or recorded[2] != y.name:
            found.append(
                f"{where}: at {y.path} #{y.position} the run recorded "
                f"{describe(recorded[0], recorded[1], recorded[2])}, the replay yielded {_label(y)}"
            )
    for update in first.updates:
        if _interrupted(update, by_id.get(update.id)):
            break  # what a crash at this point would make the next invocation send
        if update.type is not OperationType.EXECUTION and _update_key(update) not in known_updates:
            found.append(
                f"{where}: replay sent {update.action.value} for "
                f"{describe(update.type, update.sub_type, update.name)} (id {update.id[:12]}...) "
                "that the recorded run never sent"
            )
    for step in first.runs:
        op = by_id.get(step.op_id)
        if op is not None and op.is_terminal:
            found.append(f"{where}: replay would run completed step {step.op_id} again")
        elif op is not None and step.at_most_once and op.status is OperationStatus.STARTED:
            found.append(f"{where}: replay would re-run interrupted at-most-once step {step.op_id}")
    return found


def _difference(first: ProbeResult, second: ProbeResult) -> str:
    for a, b in zip(first.yields, second.yields, strict=False):
        if a != b:
            return f"{a.path} #{a.position} was {_label(a)}, then {_label(b)}"
    if len(first.yields) != len(second.yields):
        return f"{len(first.yields)} operations yielded, then {len(second.yields)}"
    return f"outcome {first.outcome!r}, then {second.outcome!r}"


def _interrupted(update: OperationUpdate, recorded: Operation | None) -> bool:
    """Whether ``update`` closes an at-most-once attempt that this state shows interrupted."""
    return (
        recorded is not None
        and recorded.type is OperationType.STEP
        and recorded.status is OperationStatus.STARTED
        and update.error is not None
        and update.error.error_type == "StepInterruptedError"
    )


def _label(y: Yielded) -> str:
    return f"{describe(y.op_type, y.sub_type, y.name)} (id {y.op_id[:12]}...)"


def _mutations(
    workflow: Callable[..., Any], input_value: Any, state: tuple[Operation, ...], arn: str
) -> list[tuple[str, list[Operation]]]:
    """Detectable mutations of ``state``: each must make the replay non-deterministic."""
    replay: ProbeResult = probe(workflow, input_value, state, execution_arn=arn)
    by_id = {op.id: op for op in state}
    reached = [y for y in replay.yields if y.op_id in by_id]
    out: list[tuple[str, list[Operation]]] = []
    ops = list(state)

    def replaced(op_id: str, new: Operation | None) -> list[Operation]:
        result = (
            [o for o in ops if o.id != op_id]
            if new is None
            else [new if o.id == op_id else o for o in ops]
        )
        return result

    for y in reached[:3]:
        op = by_id[y.op_id]
        renamed = attrs.evolve(op, name=(op.name or "") + "-renamed")
        out.append(
            (f"renamed {y.path} #{y.position} to {renamed.name!r}", replaced(op.id, renamed))
        )
        if op.type is OperationType.WAIT:
            other = attrs.evolve(op, type=OperationType.STEP, sub_type=SubType.STEP.value)
        else:
            other = attrs.evolve(op, type=OperationType.WAIT, sub_type=SubType.WAIT.value)
        out.append((f"changed the type of {y.path} #{y.position}", replaced(op.id, other)))

    by_position = {(y.path, y.position): y for y in reached}
    for y in reached:
        successor = by_position.get((y.path, y.position + 1))
        if successor is None:
            continue
        out.append(
            (f"removed {y.path} #{y.position} (it has a successor)", replaced(y.op_id, None))
        )
        a, b = by_id[y.op_id], by_id[successor.op_id]
        if (a.type, a.sub_type, a.name) != (b.type, b.sub_type, b.name):
            swapped_a = attrs.evolve(b, id=a.id, parent_id=a.parent_id)
            swapped_b = attrs.evolve(a, id=b.id, parent_id=b.parent_id)
            swapped = [swapped_a if o.id == a.id else swapped_b if o.id == b.id else o for o in ops]
            out.append((f"swapped {y.path} #{y.position} and #{y.position + 1}", swapped))
        break

    if replay.outcome is not None and not isinstance(replay.outcome, Failed):
        root = [y for y in replay.yields if y.path == "the workflow"]
        extra_id = operation_id(None, len(root) + 1)
        extra = Operation(
            id=extra_id,
            type=OperationType.WAIT,
            status=OperationStatus.SUCCEEDED,
            sub_type=SubType.WAIT.value,
            name="added",
        )
        out.append(("added a WAIT after the workflow's last operation", [*ops, extra]))
    return out
