"""Map, Parallel and the combinators on the emulator: wire shape, completion, concurrency,
replay, cancellation, FLAT nesting, large results, and bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any

import pytest

from orchestra import (
    All,
    AllSettled,
    Branch,
    ChildContextError,
    Completion,
    Map,
    Nesting,
    Parallel,
    Race,
    RetryPolicy,
    Step,
    ValidationError,
    Wait,
)
from orchestra import Any as AnyOf
from orchestra.interpreter.ids import operation_id
from orchestra.results import BatchResult, ItemStatus
from orchestra.testing import LocalRunner
from orchestra.wire.models import OperationStatus, OperationType


def double(x: int, index: int) -> int:
    return 2 * x


def fail_on_odd(x: int, index: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


def test_map_gives_a_batch_result_in_index_order_with_the_reference_shape():
    def workflow(items: list[int]) -> Generator[Any, Any, Any]:
        result = yield Map(items, double, name="doubling")
        return [result.values(), result.completion_reason.value, result.status]

    run = LocalRunner(workflow).run([1, 2, 3])
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [[2, 4, 6], "ALL_COMPLETED", "SUCCEEDED"]
    map_op = run.operation("doubling")
    assert (map_op.type, map_op.sub_type) == (OperationType.CONTEXT, "Map")
    for i in range(3):
        branch = run.operation(f"map-item-{i}")
        assert branch.id == operation_id(map_op.id, i)
        assert (branch.sub_type, branch.parent_id) == ("MapIteration", map_op.id)
    steps = run.operations_named("double")
    assert {s.parent_id for s in steps} == {operation_id(map_op.id, i) for i in range(3)}


def test_map_with_a_sub_workflow_per_item_and_waits_inside():
    def item_flow(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(index + 1, name=f"pause-{index}")
        return (yield Step(double, x, index, name=f"double-{index}"))

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([5, 6, 7], item_flow, name="items")).values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [10, 12, 14]


def test_parallel_branches_with_names_and_results():
    def a() -> str:
        return "a"

    def b() -> Generator[Any, Any, str]:
        yield Wait(2)
        return "b"

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Parallel(a, Branch(b, name="slow-b"), name="pair")
        return [result.values(), [item.name for item in result.items]]

    run = LocalRunner(workflow).run()
    assert run.result == [["a", "b"], ["parallel-branch-0", "slow-b"]]
    assert run.operation("slow-b").sub_type == "ParallelBranch"


def test_failed_items_do_not_fail_the_map_and_keep_the_raw_error_type():
    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3, 4], fail_on_odd, completion=Completion.all_completed())
        errors = result.errors()
        return [
            result.values(),
            result.status,
            [e.error_type for e in errors],
            all(e.is_caused_by(ValueError) for e in errors),
        ]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [[2, 4], "FAILED", ["ValueError", "ValueError"], True]


def test_throw_if_error_raises_a_child_context_error_of_the_first_failure():
    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([2, 3], fail_on_odd, completion=Completion.all_completed())
        try:
            result.throw_if_error()
        except ChildContextError as err:
            return [err.error_type, err.message]
        return "not raised"

    assert LocalRunner(workflow).run().result == ["ValueError", "odd 3"]


def test_fail_fast_by_default_stops_starting_items_after_a_failure():
    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([2, 3, 4, 6, 8], fail_on_odd, max_concurrency=1)
        return [result.completion_reason.value, [i.status.value for i in result.items]]

    run = LocalRunner(workflow).run()
    assert run.result == ["FAILURE_TOLERANCE_EXCEEDED", ["SUCCEEDED", "FAILED"]]
    steps = [op for op in run.operations_named("fail_on_odd") if op.type is OperationType.STEP]
    assert len(steps) == 2  # items 2..4 never started


def test_min_successful_reached_cancels_the_rest_and_is_read_back_on_replay():
    def slow(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(10 * (index + 1))
        return x

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3, 4], slow, completion=Completion(min_successful=2))
        yield Wait(1)  # replay the Map from its checkpoint
        return [result.completion_reason.value, [i.status.value for i in result.items]]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    reason, statuses = run.result
    assert reason == "MIN_SUCCESSFUL_REACHED"
    assert statuses == ["SUCCEEDED", "SUCCEEDED", "STARTED", "STARTED"]


def test_max_concurrency_bounds_items_in_flight_including_waiting_ones():
    live = [0]
    peak = [0]
    lock = threading.Lock()

    def enter(x: int) -> int:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.01)
        return x

    def leave(x: int) -> int:
        with lock:
            live[0] -= 1
        return x

    def item_flow(x: int, index: int) -> Generator[Any, Any, int]:
        yield Step(enter, x, name=f"enter-{index}")
        yield Wait(3)  # suspended: keeps its slot
        return (yield Step(leave, x, name=f"leave-{index}"))

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map(list(range(7)), item_flow, max_concurrency=2)).values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == list(range(7))
    assert peak[0] <= 2


def test_flat_nesting_records_no_branch_contexts():
    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([1, 2], double, name="flat", nesting=Nesting.FLAT)).values()

    run = LocalRunner(workflow).run()
    assert run.result == [2, 4]
    map_op = run.operation("flat")
    assert not [op for op in run.operations if op.sub_type == "MapIteration"]
    assert {s.parent_id for s in run.operations_named("double")} == {map_op.id}
    assert {s.id for s in run.operations_named("double")} == {
        operation_id(operation_id(map_op.id, i), 1) for i in range(2)
    }


def test_all_gives_values_or_raises_the_first_failure():
    def ok() -> int:
        return 1

    def boom() -> int:
        raise KeyError("nope")

    def workflow() -> Generator[Any, Any, Any]:
        values = yield All(ok, ok, name="both")
        try:
            yield All(ok, boom, name="one fails")
        except ChildContextError as err:
            return [values, err.error_type]
        return "not raised"

    assert LocalRunner(workflow).run().result == [[1, 1], "KeyError"]


def test_any_gives_the_first_success_and_race_the_first_to_finish():
    def fast() -> Generator[Any, Any, str]:
        yield Wait(1)
        return "fast"

    def slow() -> Generator[Any, Any, str]:
        yield Wait(100)
        return "slow"

    def explode() -> str:
        raise RuntimeError("broken")

    def broken() -> Generator[Any, Any, str]:  # fails at once: no retry delays to race
        return (yield Step(explode, retry=RetryPolicy.none()))

    def workflow() -> Generator[Any, Any, Any]:
        first_ok = yield AnyOf(broken, slow, fast, name="any")
        winner = yield Race(slow, fast, name="race")
        try:
            yield Race(broken, slow, name="race-fail")
        except ChildContextError as err:
            lost = err.error_type
        settled = yield AllSettled(fast, broken, name="settled")
        return [first_ok, winner, lost, settled.success_count, settled.failure_count]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == ["fast", "fast", "StepError", 1, 1]  # a generator branch let it escape


def test_the_losers_of_a_race_send_nothing_after_the_winner():
    def fast() -> str:
        return "fast"

    def slow() -> Generator[Any, Any, str]:
        yield Wait(50, name="slow-wait")
        yield Step(str.upper, "late", name="late step")
        return "slow"

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Race(fast, slow, name="race"))

    run = LocalRunner(workflow).run()
    assert run.result == "fast"
    assert run.operations_named("late step") == []


def test_an_empty_map_returns_an_empty_batch_result():
    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([], double)
        return [result.total_count, result.completion_reason.value, result.values()]

    assert LocalRunner(workflow).run().result == [0, "ALL_COMPLETED", []]


def test_a_large_batch_result_is_stored_as_an_envelope_and_rebuilt_on_replay():
    def big(x: int, index: int) -> str:
        return "x" * 70_000

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3, 4, 5], big, name="big map")
        yield Wait(1)  # the replay rebuilds the result from the children
        return [len(v) for v in result.values()]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [70_000] * 5
    details = run.operation("big map").context_details
    assert details.replay_children
    assert '"MapResult"' in (details.result or "")


def test_item_namer_names_branches():
    def workflow() -> Generator[Any, Any, Any]:
        yield Map(["a", "b"], double, item_namer=lambda item, i: f"item-{item}")

    run = LocalRunner(workflow).run()
    assert {op.name for op in run.operations if op.sub_type == "MapIteration"} == {
        "item-a",
        "item-b",
    }


def test_error_mapper_translates_item_failures():
    def mapper(error: Any) -> Any:
        return ChildContextError(f"mapped: {error.message}", error_type="Mapped")

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            [1], fail_on_odd, completion=Completion.all_completed(), error_mapper=mapper
        )
        return [(e.error_type, e.message) for e in result.errors()]

    assert LocalRunner(workflow).run().result == [["Mapped", "mapped: odd 1"]]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
def test_max_concurrency_must_be_a_positive_whole_number(limit: Any):
    with pytest.raises(ValidationError, match="max_concurrency"):
        Map([1], double, max_concurrency=limit)
    with pytest.raises(ValidationError, match="max_concurrency"):
        Parallel(lambda: 1, max_concurrency=limit)


def test_min_successful_greater_than_the_item_count_is_refused():
    with pytest.raises(ValidationError, match="min_successful"):
        Map([1, 2], double, completion=Completion(min_successful=3))


@pytest.mark.parametrize("percentage", [-1, 101, float("nan")])
def test_percentages_outside_0_to_100_are_refused(percentage: float):
    with pytest.raises(ValidationError):
        Completion(tolerated_failure_percentage=percentage)


def test_items_must_be_a_list_or_tuple():
    with pytest.raises(ValidationError, match="items"):
        Map("abc", double)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="branch 0"):
        Parallel("not a function")  # type: ignore[arg-type]


def unserialisable(x: int, index: int) -> Any:
    return object()


def test_an_unserialisable_branch_result_fails_clearly():
    def workflow() -> Generator[Any, Any, Any]:
        yield Map([1], unserialisable, name="bad")

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "SerializationError"
    assert "unserialisable" in (run.error.error_message or "")


@pytest.mark.parametrize(
    ("namer", "message"),
    [(lambda item, i: 1 / 0, "raised ZeroDivisionError"), (lambda item, i: 7, "returned 7")],
)
def test_an_item_namer_that_raises_or_returns_a_non_string_fails_clearly(namer: Any, message: str):
    def workflow() -> Generator[Any, Any, Any]:
        yield Map([1], double, item_namer=namer)

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert message in (run.error.error_message or "")


def test_a_branch_that_yields_a_non_descriptor_fails_clearly():
    def bad_branch() -> Generator[Any, Any, Any]:
        yield "not an operation"

    def workflow() -> Generator[Any, Any, Any]:
        yield Parallel(bad_branch)

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "WorkflowDefinitionError"


def test_batch_result_round_trip_is_exact_on_replay():
    seen: list[Any] = []

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3], fail_on_odd, completion=Completion.all_completed())
        seen.append(
            [(i.index, i.status, i.value, i.error and i.error.error_type) for i in result.items]
        )
        yield Wait(1)
        return isinstance(result, BatchResult)

    run = LocalRunner(workflow).run()
    assert run.result is True
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0][0][1] is ItemStatus.FAILED and seen[0][1][1] is ItemStatus.SUCCEEDED


def test_map_items_are_steps_that_retry_by_their_default_policy():
    attempts: dict[int, int] = {}

    def flaky(x: int, index: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] < 2:
            raise TimeoutError("flaky")
        return x

    def workflow() -> Generator[Any, Any, Any]:
        return (yield Map([1, 2], flaky)).values()

    run = LocalRunner(workflow).run()
    assert run.result == [1, 2] and attempts == {1: 2, 2: 2}
    assert all(op.status is OperationStatus.SUCCEEDED for op in run.operations_named("flaky"))


# --- item batching ---------------------------------------------------------------------------


def test_item_batches_run_several_items_per_iteration_with_results_per_item():
    from orchestra import ItemBatch

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            [1, 2, 3, 4, 5],
            fail_on_odd,
            name="batched",
            batch=ItemBatch(max_items=2),
            completion=Completion.all_completed(),
        )
        yield Wait(1)  # replay from the batch checkpoints
        return [
            [(i.index, i.status.value) for i in result.items],
            result.values(),
            [e.error_type for e in result.errors()],
        ]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    statuses, values, errors = run.result
    assert statuses == [
        [0, "FAILED"],
        [1, "SUCCEEDED"],
        [2, "FAILED"],
        [3, "SUCCEEDED"],
        [4, "FAILED"],
    ]
    assert values == [2, 4] and errors == ["ValueError"] * 3
    iterations = [op for op in run.operations if op.sub_type == "MapIteration"]
    assert sorted(op.name for op in iterations) == ["map-batch-0", "map-batch-1", "map-batch-2"]


def test_item_batches_with_sub_workflows_and_fail_fast():
    from orchestra import ItemBatch

    def item_flow(x: int, index: int) -> Generator[Any, Any, int]:
        yield Wait(1)
        if x == 3:
            raise KeyError("three")
        return x

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([1, 2, 3, 4], item_flow, batch=ItemBatch(max_items=2), max_concurrency=1)
        return [result.completion_reason.value, [(i.index, i.status.value) for i in result.items]]

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [
        "FAILURE_TOLERANCE_EXCEEDED",
        [[0, "SUCCEEDED"], [1, "SUCCEEDED"], [2, "FAILED"], [3, "SUCCEEDED"]],
    ]


def test_item_batch_needs_a_bound():
    from orchestra import ItemBatch

    with pytest.raises(ValidationError, match="max_items or max_bytes"):
        ItemBatch()
    with pytest.raises(ValidationError, match="max_items"):
        ItemBatch(max_items=0)
    with pytest.raises(ValidationError, match="batch"):
        Map([1], double, batch=3)  # type: ignore[arg-type]


def test_a_child_error_mapper_translates_its_failure_first_run_and_replay():
    from orchestra import Child, OperationError

    class DomainError(OperationError):
        pass

    def shipping() -> Generator[Any, Any, Any]:
        yield Wait(1)
        raise LookupError("no courier")

    def workflow() -> Generator[Any, Any, Any]:
        caught = []
        for attempt in range(2):  # the second Child replays the first one's recorded failure
            try:
                yield Child(
                    shipping,
                    name=f"ship-{attempt}",
                    error_mapper=lambda e: DomainError(
                        f"shipping: {e.message}", error_type="Domain"
                    ),
                )
            except DomainError as err:
                caught.append([type(err).__name__, err.message])
            yield Wait(1)
        return caught

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [["DomainError", "shipping: no courier"]] * 2


def test_a_lambda_wrapping_a_sub_workflow_fails_with_how_to_fix_it():
    def sub(x: int) -> Generator[Any, Any, int]:
        yield Wait(1)
        return x

    def workflow() -> Generator[Any, Any, Any]:
        yield Parallel(lambda: sub(1))

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert "functools.partial" in (run.error.error_message or "")


def test_an_error_mapper_returning_another_operation_error_keeps_its_type():
    from orchestra import StepError

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(
            [1],
            fail_on_odd,
            completion=Completion.all_completed(),
            error_mapper=lambda e: StepError("nope", error_type="Declined"),
        )
        return [(e.error_type, e.message) for e in result.errors()]

    assert LocalRunner(workflow).run().result == [["Declined", "nope"]]


def test_an_item_namer_error_names_the_map():
    def workflow() -> Generator[Any, Any, Any]:
        yield Map([1], double, name="prices", item_namer=lambda item, i: None)

    run = LocalRunner(workflow).run()
    assert "Map 'prices' item 0" in (run.error.error_message or "")


def test_a_completion_predicate_that_raises_fails_clearly():
    def workflow() -> Generator[Any, Any, Any]:
        yield Map(
            [1, 2],
            double,
            name="prices",
            completion=Completion(should_complete=lambda items: 1 / 0),
        )

    run = LocalRunner(workflow).run()
    assert run.status == "FAILED"
    assert "completion policy of operation 'prices'" in (run.error.error_message or "")
    assert "ZeroDivisionError" in (run.error.error_message or "")
