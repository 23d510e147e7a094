"""The reference SDK's Map/Parallel fixes and quirks (sdk-1.1-changes.md), pinned one by one.

Every concurrency, map and parallel item of the 1.0 -> 1.1 series, of its concurrency-engine
notes (§1.2 "map", "parallel", "Concurrency engine"), of §1.6 (CompletionConfig and
BatchResult) and of the scenarios of §5.3, §5.9 and §5.11 has a test here; each test's
docstring names the item it pins and says what orchestra does (the fixed behaviour, or
orchestra's documented choice where it deliberately differs from the reference SDK).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

import pytest

from orchestra import (
    AllSettled,
    ChildContextError,
    Completion,
    Invoke,
    Map,
    Nesting,
    Parallel,
    Race,
    RetryPolicy,
    Step,
    Wait,
)
from orchestra.interpreter.ids import operation_id
from orchestra.results import BatchResult, ItemStatus
from orchestra.serde import JsonSerde
from orchestra.service.local.engine import LocalService
from orchestra.testing import CrashPoint, LocalRunner, World, check_replay_determinism
from orchestra.wire.models import (
    CheckpointResponse,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

#: The checkpoint payload limit for a context result (characters of the serialized text).
LIMIT = 256 * 1024


class Recording(LocalService):
    """The emulator, recording the updates of every checkpoint call in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[OperationUpdate]] = []

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls.append(list(updates))
        return super().checkpoint(arn, token, updates)

    @property
    def updates(self) -> list[OperationUpdate]:
        return [u for call in self.calls for u in call]


def echo(x: Any, index: int) -> Any:
    return x


def nothing(x: Any, index: int) -> None:
    return None


def fail_on_odd(x: int, index: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


def check_even(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


def once_on_odd(x: int, index: int) -> Generator[Any, Any, int]:
    """Like ``fail_on_odd`` with a single attempt (a plain item function retries by default)."""
    return (yield Step(check_even, x, name=f"check-{index}", retry=RetryPolicy.none()))


def statuses(result: BatchResult[Any]) -> list[str]:
    return [item.status.value for item in result.items]


# --- §1.2 map: empty input, item batching, summary generators --------------------------------


def test_map_over_no_items_is_an_empty_all_completed_result():
    """§5.11 / §1.2 map quirk: ``map([])`` fails in 1.1.0 (``ThreadPoolExecutor(0)``).

    Fixed: an empty ALL_COMPLETED BatchResult; the Map CONTEXT SUCCEEDs; an empty Parallel
    and an empty AllSettled do the same; the replay reads it back.
    """

    def workflow() -> Generator[Any, Any, Any]:
        results = [
            (yield Map([], echo, name="empty map")),
            (yield Parallel(name="empty parallel")),
            (yield AllSettled(name="empty settled")),
            (yield Map([], echo, max_concurrency=1, completion=Completion.all_completed())),
        ]
        yield Wait(1)  # replays every one of them from its checkpoint
        return [[r.total_count, r.completion_reason.value, r.status] for r in results]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [[0, "ALL_COMPLETED", "SUCCEEDED"]] * 4
    assert run.operation("empty map").status is OperationStatus.SUCCEEDED
    assert run.operation("empty parallel").status is OperationStatus.SUCCEEDED


def test_a_one_step_item_over_the_limit_fails_clearly_not_in_a_summary_generator():
    """§5.11 / §1.2 map quirk: in 1.1.0 an item result over 256 KB under the default config
    fails the item with ``AttributeError: 'str' object has no attribute 'total_count'`` (the
    *map* summary generator applied to the item). Orchestra: a plain-function item is one
    step, and a step result over the limit cannot be checkpointed at all, so the run fails
    with a PayloadTooLargeError that names the step (as any step's would)."""

    def big(x: int, index: int) -> str:
        return "x" * (LIMIT + 10)

    def workflow() -> Generator[Any, Any, Any]:
        yield Map([0], big, name="one big item")

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "PayloadTooLargeError"
    assert "'big'" in (run.error.error_message or "")
    assert "total_count" not in (run.error.error_message or "")


def test_an_item_whose_context_result_is_over_the_limit_replays_from_its_children():
    """§5.11 / §1.2 map quirk (item level): an item whose own result exceeds 256 KB.

    Fixed: the MapIteration SUCCEEDs with ``ReplayChildren=true`` and no payload (no
    summary generator is applied to it), the item stays SUCCEEDED, and the replay re-runs
    its body over its children's checkpoints (the steps do not run again).
    """
    runs: list[int] = []

    def chunk(index: int) -> str:
        runs.append(index)
        return "y" * (LIMIT // 2 + 1)

    def item(x: int, index: int) -> Generator[Any, Any, str]:
        a = yield Step(chunk, index, name=f"a-{index}")
        b = yield Step(chunk, index, name=f"b-{index}")
        return a + b

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([0, 1], item, name="big items")
        yield Wait(1)
        return [result.status, statuses(result), [len(v) for v in result.values()]]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["SUCCEEDED", ["SUCCEEDED"] * 2, [2 * (LIMIT // 2 + 1)] * 2]
    for i in range(2):
        op = run.operation(f"map-item-{i}")
        assert op.status is OperationStatus.SUCCEEDED
        assert op.context_details is not None and op.context_details.replay_children
        assert not op.context_details.result
    assert sorted(runs) == [0, 0, 1, 1]  # two steps per item, each run once


@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_an_aggregate_over_the_limit_is_an_envelope_and_replays_to_the_same_result(kind: str):
    """§5.11 / §1.2 map quirk: an aggregate BatchResult over 256 KB is checkpointed with
    ``ReplayChildren=true`` and, in 1.1.0, no payload at all (the summary generator is
    passed to the items instead of the map).

    Fixed: the Map/Parallel SUCCEED carries the summary envelope (``MapResult`` /
    ``ParallelResult``) and the replay rebuilds exactly the same result.
    """
    seen: list[Any] = []

    def part(x: int, index: int) -> str:
        return str(x) * 70_000

    def workflow() -> Generator[Any, Any, Any]:
        if kind == "map":
            result = yield Map([1, 2, 3, 4], part, name="agg")
        else:
            branches = [lambda i=i: part(i, i) for i in range(1, 5)]
            result = yield Parallel(*branches, name="agg")
        seen.append([(i.index, i.status, i.value) for i in result.items])
        seen.append(result.completion_reason)
        yield Wait(1)
        return result.success_count

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == 4
    details = run.operation("agg").context_details
    assert details is not None and details.replay_children
    envelope = json.loads(details.result or "")
    assert envelope["type"] == ("MapResult" if kind == "map" else "ParallelResult")
    assert envelope["totalCount"] == 4 and envelope["successCount"] == 4
    assert len(seen) == 4 and seen[0] == seen[2] and seen[1] == seen[3]


def test_an_envelope_with_started_items_replays_them_as_started_with_the_recorded_reason():
    """§1.2 map, replay with ReplayChildren: items in the started set are reported STARTED
    without reading their children; the completion reason is the recorded one, not
    re-inferred (1.1.0 re-infers it)."""
    seen: list[Any] = []

    def item(x: int, index: int) -> Generator[Any, Any, str]:
        if index >= 4:
            yield Wait(1000)
        return "z" * 70_000

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            list(range(6)), item, name="partial", completion=Completion(min_successful=4)
        )
        seen.append((statuses(result), result.completion_reason.value))
        yield Wait(1)
        return result.completion_reason.value

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "MIN_SUCCESSFUL_REACHED"
    assert run.operation("partial").context_details.replay_children
    expected = (["SUCCEEDED"] * 4 + ["STARTED"] * 2, "MIN_SUCCESSFUL_REACHED")
    assert seen == [expected, expected]


def test_map_items_are_one_branch_each_without_batching():
    """§1.2 map: item batching (``ItemBatcher``) is documented but not implemented in 1.1.0;
    each item is its own branch. Orchestra without a batch: one ``MapIteration`` per item,
    named ``map-item-<i>``, id ``hash(M, i)``, parent ``M``."""

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map(list(range(5)), echo, name="m")).values()

    run = LocalRunner(workflow).run()
    assert run.result == list(range(5))
    map_op = run.operation("m")
    items = [op for op in run.operations if op.sub_type == "MapIteration"]
    assert [op.name for op in items] == [f"map-item-{i}" for i in range(5)]
    assert [op.id for op in items] == [operation_id(map_op.id, i) for i in range(5)]
    assert {op.parent_id for op in items} == {map_op.id}


# --- §1.2 parallel ----------------------------------------------------------------------------


def test_parallel_shape_names_and_its_all_successful_default():
    """§1.2 parallel: CONTEXT ``Parallel`` with ``ParallelBranch`` children named
    ``parallel-branch-<i>``; the name is not resolved from the callables; the default
    completion is ``all_successful()`` (fail fast), and a failed branch does not fail the
    Parallel (its CONTEXT SUCCEEDs with the failure inside)."""

    def ok() -> int:
        return 1

    def boom() -> int:
        raise KeyError("boom")

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Parallel(boom, ok, ok, max_concurrency=1)
        return [result.completion_reason.value, statuses(result), result.status]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["FAILURE_TOLERANCE_EXCEEDED", ["FAILED"], "FAILED"]
    parallel = [op for op in run.operations if op.sub_type == "Parallel"]
    assert len(parallel) == 1 and parallel[0].name is None
    assert parallel[0].status is OperationStatus.SUCCEEDED
    branches = [op for op in run.operations if op.sub_type == "ParallelBranch"]
    assert [op.name for op in branches] == ["parallel-branch-0"]


# --- §1.2 concurrency engine --------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, None])
def test_branches_start_in_index_order(limit: int | None):
    """§1.2 concurrency engine: tasks are submitted in index order. The branch STARTs reach
    the wire in index order whatever the concurrency limit, even when later items finish
    first."""
    service = Recording()

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(10 - index)  # later items finish first
        return x

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map(list(range(8)), item, name="ordered", max_concurrency=limit)).values()

    run = LocalRunner(workflow, service=service).run()
    assert run.result == list(range(8))
    map_id = run.operation("ordered").id
    starts = [
        u.id
        for u in service.updates
        if u.sub_type == "MapIteration" and u.action is OperationAction.START
    ]
    assert starts == [operation_id(map_id, i) for i in range(8)]


def test_a_suspended_branch_keeps_its_slot():
    """§1.2 concurrency engine / §4.9: a branch that waits (a timer, a callback, an invoke)
    keeps its slot until it is terminal: with ``max_concurrency=2`` and items 0 and 1
    waiting 100 s, item 2 starts only after one of them has ended."""
    service = Recording()

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(100 if index < 2 else 1, name=f"wait-{index}")
        return x

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([0, 1, 2, 3], item, name="slots", max_concurrency=2)).values()

    run = LocalRunner(workflow, service=service).run()
    assert run.result == [0, 1, 2, 3]
    map_id = run.operation("slots").id
    events = [(u.id, u.action) for u in service.updates if u.sub_type == "MapIteration"]
    first_end = min(
        events.index((operation_id(map_id, i), OperationAction.SUCCEED)) for i in (0, 1)
    )
    assert events.index((operation_id(map_id, 2), OperationAction.START)) > first_end
    # on the virtual clock too: item 2's wait began once item 0's had ended
    assert run.operation("wait-2").start_timestamp >= run.operation("wait-0").end_timestamp


def test_min_successful_with_a_tolerance_does_not_hang_when_every_task_ended():
    """Patch 11: ``is_complete`` must be true once every task finished. With
    ``min_successful=2, tolerated_failure_count=1`` and one failure, 1.0 hung. Fixed: the
    batch ends ALL_COMPLETED with {0: FAILED, 1: SUCCEEDED}."""

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            [1, 2], fail_on_odd, completion=Completion(min_successful=2, tolerated_failures=1)
        )
        return [result.completion_reason.value, statuses(result)]

    run = LocalRunner(workflow).run()
    assert run.result == ["ALL_COMPLETED", ["FAILED", "SUCCEEDED"]]


def test_an_impossible_min_successful_with_no_tolerance_ends_early():
    """Patch 11 (``test_executor_terminates_quickly_when_impossible_to_succeed``): 100 items,
    concurrency 10, ``min_successful=99`` and items 0 and 1 failing, with no failure
    tolerated: fewer than 100 items run; FAILURE_TOLERANCE_EXCEEDED; 2 FAILED; fewer than 98
    SUCCEEDED. Orchestra needs the tolerance stated (``tolerated_failures=0``): with only
    ``min_successful`` set, failures are never fatal (§4.9), see the next test."""
    ran: list[int] = []

    def work(index: int) -> int:
        ran.append(index)
        if index < 2:
            raise RuntimeError(f"item {index}")
        return index

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        return (yield Step(work, index, name=f"work-{index}", retry=RetryPolicy.none()))

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            list(range(100)),
            item,
            max_concurrency=10,
            completion=Completion(min_successful=99, tolerated_failures=0),
        )
        return [result.completion_reason.value, result.failure_count, result.success_count]

    run = LocalRunner(workflow).run()
    reason, failed, succeeded = run.result
    assert reason == "FAILURE_TOLERANCE_EXCEEDED"
    assert failed <= 2 and succeeded < 98
    assert len(ran) < 100


def test_min_successful_alone_never_makes_failures_fatal():
    """§1.2 concurrency engine, patch 11: in 1.1.0 a config with no tolerance ends the batch
    at the first failure even when only ``min_successful`` is set. Orchestra (§4.9):
    ``min_successful`` is a completion criterion, not a tolerance; failures go on."""

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            [1, 3, 2, 4, 6],
            once_on_odd,
            max_concurrency=1,
            completion=Completion(min_successful=2),
        )
        return [result.completion_reason.value, statuses(result)]

    run = LocalRunner(workflow).run()
    assert run.result == ["MIN_SUCCESSFUL_REACHED", ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]]


def test_all_completed_waits_for_every_branch_whatever_fails():
    """§5.11 / §1.2 concurrency engine: ``all_completed()`` (and ``first_successful()``) set
    no tolerance in 1.1.0, so the first failure ends the batch. Fixed: ``all_completed()``
    tolerates any share of failures and runs every item (ALL_COMPLETED); so does
    ``first_successful()`` until one item succeeded."""

    def workflow() -> Generator[Any, Any, Any]:
        settled = yield Map(
            [1, 3, 5, 2, 7], fail_on_odd, max_concurrency=1, completion=Completion.all_completed()
        )
        first = yield Map(
            [1, 3, 2, 4],
            fail_on_odd,
            max_concurrency=1,
            completion=Completion.first_successful(),
        )
        return [
            settled.completion_reason.value,
            statuses(settled),
            first.completion_reason.value,
            statuses(first),
        ]

    run = LocalRunner(workflow).run()
    assert run.result == [
        "ALL_COMPLETED",
        ["FAILED", "FAILED", "FAILED", "SUCCEEDED", "FAILED"],
        "MIN_SUCCESSFUL_REACHED",
        ["FAILED", "FAILED", "SUCCEEDED"],
    ]


def test_the_default_completion_is_fail_fast_and_never_started_items_are_omitted():
    """§1.2 map / §1.6: ``CompletionConfig()`` (the Map default) is fail fast; after the
    decision no further branch starts (patch 11 cancels unstarted futures); never-started
    items are omitted from the BatchResult (so ``total_count`` counts started items)."""

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([2, 4, 5, 6, 8, 10], once_on_odd, max_concurrency=2)
        return [result.completion_reason.value, statuses(result), result.total_count]

    run = LocalRunner(workflow).run()
    reason, item_statuses, total = run.result
    assert reason == "FAILURE_TOLERANCE_EXCEEDED"
    assert total == len(item_statuses) < 6
    assert item_statuses[2] == "FAILED"
    assert len([op for op in run.operations if op.sub_type == "MapIteration"]) == total


def test_early_exit_does_not_wait_for_a_slow_running_branch():
    """Patch 73 (``test_executor_returns_before_slow_branch_completes``): with
    ``min_successful=1``, a 2-second branch does not delay the result (under 1.5 s); the
    slow branch is STARTED; MIN_SUCCESSFUL_REACHED; counts 1/0/1/2."""
    release = threading.Event()

    def fast() -> str:
        return "fast"

    def slow() -> str:
        release.wait(2)
        return "slow"

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Parallel(slow, fast, completion=Completion(min_successful=1))
        return [
            result.completion_reason.value,
            statuses(result),
            [result.success_count, result.failure_count, result.started_count, result.total_count],
        ]

    started = time.perf_counter()
    run = LocalRunner(workflow).run()
    elapsed = time.perf_counter() - started
    release.set()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["MIN_SUCCESSFUL_REACHED", ["STARTED", "SUCCEEDED"], [1, 0, 1, 2]]
    assert elapsed < 1.5, f"the Parallel waited {elapsed:.2f} s for its slow branch"


def test_nothing_of_an_orphaned_branch_is_checkpointed_after_the_parent_completes():
    """Patch 73 / §5.9 / §5.11: once the Map/Parallel has completed, a branch still running
    must checkpoint nothing more. 1.1.0 rejects only operations that had already
    checkpointed; a brand-new operation created inside an orphaned branch is still
    accepted. Fixed: no update of the loser (known or new) follows the parent's SUCCEED,
    even though the loser's running step finishes afterwards and the loser would go on
    with new operations."""
    service = Recording()
    release = threading.Event()
    finished = threading.Event()

    def slow_step() -> str:
        release.wait(5)
        finished.set()
        return "slow"

    def loser() -> Generator[Any, Any, str]:
        yield Step(str.upper, "known", name="loser known")
        value = yield Step(slow_step, name="loser slow")
        yield Step(str.upper, value, name="loser new")
        yield Wait(1, name="loser wait")
        return value

    def winner() -> Generator[Any, Any, str]:
        yield Step(str.upper, "w", name="winner step")
        return "fast"

    def let_go() -> str:
        release.set()  # the race is decided: the loser's step finishes now
        finished.wait(5)
        time.sleep(0.05)  # time for its result to reach the interpreter
        return "after"

    def workflow() -> Generator[Any, Any, Any]:
        value = yield Race(loser, winner, name="race")
        yield Step(let_go, name="after")
        yield Wait(1)
        return value

    run = LocalRunner(workflow, service=service).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "fast"
    assert finished.is_set()
    race_id = run.operation("race").id
    loser_id = operation_id(race_id, 0)
    flat = service.updates
    done = next(
        n for n, u in enumerate(flat) if u.id == race_id and u.action is OperationAction.SUCCEED
    )
    late = [u for u in flat[done:] if loser_id in (u.parent_id, u.id)]
    assert late == []
    assert run.operations_named("loser new") == []
    assert run.operations_named("loser wait") == []
    assert run.operation("loser known").status is OperationStatus.SUCCEEDED
    assert run.operation("loser slow").status is OperationStatus.STARTED


def test_a_cancelled_branch_cannot_swallow_its_cancellation():
    """Patch 73 / §5.9: ``OrphanedChildException`` is a BaseException so that a user's
    ``except Exception`` cannot swallow it. Orchestra: a losing branch that catches
    ``Exception`` around its wait is still cancelled; its handler's operations are never
    checkpointed."""

    def stubborn() -> Generator[Any, Any, str]:
        try:
            yield Wait(100, name="stubborn wait")
        except Exception:
            yield Step(str.upper, "swallowed", name="handler step")
        return "stubborn"

    def quick() -> Generator[Any, Any, str]:
        yield Wait(1)
        return "quick"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Race(stubborn, quick, name="race"))

    run = LocalRunner(workflow).run()
    assert run.result == "quick"
    assert run.operations_named("handler step") == []


def test_a_cancelled_branch_that_yields_in_finally_sends_nothing():
    """Patch 73: nothing of an orphan after its parent completes, even from a ``finally``
    block that yields an operation while the branch is being cancelled."""

    def cleanup() -> Generator[Any, Any, str]:
        try:
            yield Wait(100, name="long wait")
        finally:
            yield Step(str.upper, "cleanup", name="cleanup step")
        return "never"

    def quick() -> str:
        return "quick"

    def workflow() -> Generator[Any, Any, Any]:
        value = yield Race(cleanup, quick, name="race")
        yield Wait(1)
        return value

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == "quick"
    assert run.operations_named("cleanup step") == []


def test_replay_while_the_map_is_not_complete_reuses_the_finished_items():
    """§1.2 map: replay when the map is not complete yet: ``execute()`` runs again and the
    completed items return their cached results. Orchestra: across several invocations
    (waits in items, a crash), every item's step runs once and the result is the same as
    without the crash."""
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def work(x: int, index: int) -> int:
        with lock:
            calls[index] = calls.get(index, 0) + 1
        return 10 * x

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        value = yield Step(work, x, index, name=f"work-{index}")
        yield Wait(1 + index % 3, name=f"wait-{index}")
        return value

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(list(range(6)), item, name="resumed", max_concurrency=3)
        return result.values()

    world = World(crashes=(CrashPoint(3), CrashPoint(6, after=False)))
    run = LocalRunner(workflow, world=world).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [0, 10, 20, 30, 40, 50]
    assert run.invocations > 3
    assert calls == dict.fromkeys(range(6), 1)
    check_replay_determinism(workflow, None, world)


def test_an_invoke_in_a_branch_does_not_poll_while_siblings_run():
    """§1.2 invoke quirk: inside a map/parallel branch an invoke suspends with a delay of 0,
    so 1.1.0 re-polls it at once with an empty checkpoint each time while sibling branches
    run. Orchestra sends no empty checkpoint call."""
    service = Recording()

    def sibling() -> Generator[Any, Any, int]:
        total = 0
        for i in range(5):
            total += yield Step(abs, -i, name=f"sibling-{i}")
        return total

    def invoking() -> Generator[Any, Any, Any]:
        return (yield Invoke("pricing", 3, name="price"))

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Parallel(invoking, sibling, name="p")).values()

    run = LocalRunner(workflow, service=service, targets={"pricing": lambda n: n * 7}).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [21, 10]
    assert all(call for call in service.calls), "an empty checkpoint call"


def test_a_timed_suspension_in_a_branch_resumes_it_while_others_keep_their_results():
    """§1.2 concurrency engine: a branch that raised ``TimedSuspendExecution`` is resumed
    once its time comes; if nothing runs the map suspends until the earliest one and the
    map CONTEXT stays STARTED (the invocation returns PENDING)."""

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(5 * (index + 1), name=f"pause-{index}")
        return x

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([7, 8, 9], item, name="timed")).values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [7, 8, 9]
    assert run.invocations == 4  # the first, then one per wait ending
    history = run.history_dicts()
    completed = [e for e in history if e["EventType"] == "ContextSucceeded"]
    assert completed[-1]["Name"] == "timed"


# --- §1.2 result shape, §1.6 BatchResult, serdes (patches 4, 6, 7) -----------------------------


def test_failed_items_keep_their_raw_error_type_and_do_not_fail_the_map():
    """§1.2 concurrency engine: map/parallel never raise because items failed; item errors
    are ``CallableRuntimeError`` in 1.1.0. Orchestra keeps the raw escaping type (§4.9)
    and ``throw_if_error`` raises a ChildContextError of the first failure."""

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2], fail_on_odd, completion=Completion.all_completed())
        try:
            result.throw_if_error()
        except ChildContextError as err:
            return [result.status, err.error_type, err.message]
        return "not raised"

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["FAILED", "ValueError", "odd 1"]


def test_a_step_returning_none_is_kept_in_the_results():
    """§5.11 / §1.6 quirk: ``succeeded()`` and ``get_results()`` drop items whose result is
    ``None`` in 1.1.0 while ``success_count`` counts them. Orchestra keeps them, so
    ``values()`` lines up with ``succeeded()`` (in Map and Parallel, on replay too)."""
    seen: list[Any] = []

    def workflow() -> Generator[Any, Any, Any]:
        mapped = yield Map([1, 2, 3], nothing, name="nones")
        parallel = yield Parallel(lambda: None, lambda: 0, name="pnones")
        seen.append((mapped.values(), parallel.values()))
        yield Wait(1)
        return [mapped.values(), mapped.success_count, parallel.values(), len(mapped.succeeded())]

    run = LocalRunner(workflow).run()
    assert run.result == [[None, None, None], 3, [None, 0], 3]
    assert seen[0] == seen[1]


class Tagging(JsonSerde[Any]):
    """A JSON serde that wraps what it writes in ``{"tag": ..., "v": ...}`` and counts calls."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.serialized: list[Any] = []

    def serialize(self, value: Any) -> str:
        self.serialized.append(value)
        if isinstance(value, BatchResult):
            return json.dumps({"tag": self.tag, "v": value.encode(JsonSerde())})
        return json.dumps({"tag": self.tag, "v": value})

    def deserialize(self, data: str) -> Any:
        decoded = json.loads(data)
        assert decoded["tag"] == self.tag, decoded
        if self.tag == "batch":
            return BatchResult.decode(decoded["v"], JsonSerde())
        return decoded["v"]


def test_items_use_the_item_serde_and_the_aggregate_uses_the_serde():
    """Patches 4 and 7: map and parallel items serialize with ``item_serdes`` when set, the
    aggregate BatchResult with ``serdes`` only (it receives the BatchResult object, after
    the items)."""
    items = Tagging("item")
    batch = Tagging("batch")

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2], echo, name="serdes", serde=batch, item_serde=items)
        return result.values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [1, 2]
    assert [json.loads(run.operation(f"map-item-{i}").context_details.result) for i in (0, 1)] == [
        {"tag": "item", "v": 1},
        {"tag": "item", "v": 2},
    ]
    assert json.loads(run.operation("serdes").context_details.result)["tag"] == "batch"
    assert isinstance(batch.serialized[-1], BatchResult)


def test_the_batch_result_round_trips_with_mixed_statuses_nested_data_and_its_reason():
    """Patch 6: the default encoding of a BatchResult round-trips: mixed statuses, nested
    results, the error's type and message, and the completion reason; a replay gets a real
    BatchResult equal to the first run's."""
    seen: list[Any] = []

    def nested(x: int, index: int) -> Any:
        if x == 2:
            raise ValueError("two")
        return {"x": x, "list": [x, {"deep": [None, True, "s"]}]}

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3], nested, completion=Completion.all_completed())
        seen.append(
            (
                [(i.index, i.status, i.value) for i in result.items],
                [(e.error_type, e.message) for e in result.errors()],
                result.completion_reason,
                type(result),
            )
        )
        yield Wait(1)
        return None

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0][0][1][1] is ItemStatus.FAILED
    assert seen[0][1] == [("ValueError", "two")]
    assert seen[0][3] is BatchResult


def test_the_checkpoint_order_of_a_nested_map():
    """§4.9 / §3 (mixed operations scenario): Map START, then per item its START, its
    inner STEP updates and its SUCCEED (with ``ReplayChildren: false``), and last the Map
    SUCCEED."""
    service = Recording()

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([1], echo, name="order")).values()

    run = LocalRunner(workflow, service=service).run()
    assert run.result == [1]
    kinds = [
        (u.type.value, u.sub_type, u.action.value)
        for u in service.updates
        if u.type is not OperationType.EXECUTION
    ]
    assert kinds == [
        ("CONTEXT", "Map", "START"),
        ("CONTEXT", "MapIteration", "START"),
        ("STEP", "Step", "START"),
        ("STEP", "Step", "SUCCEED"),
        ("CONTEXT", "MapIteration", "SUCCEED"),
        ("CONTEXT", "Map", "SUCCEED"),
    ]
    item_succeed = next(
        u
        for u in service.updates
        if u.sub_type == "MapIteration" and u.action is OperationAction.SUCCEED
    )
    assert item_succeed.context_options is not None
    assert item_succeed.context_options.replay_children is False


def test_flat_branches_replay_their_bodies_without_running_steps_again():
    """§4.9 FLAT nesting: no branch START/SUCCEED/FAIL; inner operations have the Map as
    parent; on replay the bodies run again over their checkpoints (steps are not re-run)."""
    calls: list[int] = []

    def work(x: int, index: int) -> int:
        calls.append(index)
        return x

    def item(x: int, index: int) -> Generator[Any, Any, int]:
        value = yield Step(work, x, index, name=f"flat-{index}")
        yield Wait(1 + index)
        return value

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([4, 5, 6], item, name="flat", nesting=Nesting.FLAT)
        yield Wait(1)
        return result.values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [4, 5, 6]
    assert sorted(calls) == [0, 1, 2]
    map_id = run.operation("flat").id
    assert not [op for op in run.operations if op.sub_type == "MapIteration"]
    assert {run.operation(f"flat-{i}").parent_id for i in range(3)} == {map_id}
