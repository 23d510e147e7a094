"""Handlers for the ``map`` suite (requirements 9-x).

A map function that "returns directly" is a generator function that yields nothing (each
``MapIteration`` context then holds no operation); one that "runs a single step" is a plain
function, which orchestra runs as one step per item. Most handlers run with
``max_concurrency=1``, so that the items, and the history, are in index order.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from orchestra import (
    BatchItem,
    BatchResult,
    Completion,
    CompletionReason,
    Duration,
    Map,
    Nesting,
    Step,
    Wait,
)

from ._registry import requirement
from .parallel import FULL, NO_STATUS, projection

SubWorkflow = Generator[Any, Any, Any]

#: The size of one 9-16 item result: four of them exceed the 256 KB checkpoint limit.
LARGE_ITEM_CHARS = 70 * 1024


class ItemFailed(Exception):
    """The error a failing item raises."""


def item_itself(item: Any, index: int) -> SubWorkflow:
    """Return the item directly, or fail for the item ``"fail"``."""
    yield from ()
    if item == "fail":
        raise ItemFailed(f"item {index} failed")
    return item


def upper(item: str, index: int) -> SubWorkflow:
    yield from ()
    return item.upper()


# --- 9-1 ... 9-4: shapes -------------------------------------------------------------------


def greet(item: str, index: int) -> str:
    return f"Hello, {item}!"


@requirement("map/9-1")
def map_basic(event: Any) -> Any:
    result = yield Map(event, greet, name="map", max_concurrency=1)
    return result.values()


def double(item: int, index: int) -> SubWorkflow:
    yield from ()
    return item * 2


@requirement("map/9-2")
def map_items_only(event: Any) -> Any:
    result = yield Map(event, double, max_concurrency=1)
    return result.values()


def add_index(item: int, index: int) -> SubWorkflow:
    yield from ()
    return item + index


@requirement("map/9-3")
def map_with_index(event: Any) -> Any:
    result = yield Map(event, add_index, name="indexed", max_concurrency=1)
    return result.values()


@requirement("map/9-4")
def map_empty(event: Any) -> Any:
    result = yield Map(event, item_itself, name="empty")
    return result.values()


# --- 9-5 ... 9-10: completion policies -------------------------------------------------------


@requirement("map/9-5")
def map_fail_fast(event: Any) -> Any:
    result = yield Map(
        ["ok", "fail", "never"],
        item_itself,
        name="failfast",
        max_concurrency=1,
        completion=Completion(tolerated_failures=0),
    )
    return projection(result, *FULL)


@requirement("map/9-6")
def map_throw_if_error(event: Any) -> Any:
    result = yield Map(
        ["fail", "never"],
        item_itself,
        name="throwing",
        max_concurrency=1,
        completion=Completion(tolerated_failures=0),
    )
    result.throw_if_error()
    return result.values()


@requirement("map/9-7")
def map_min_successful(event: Any) -> Any:
    result = yield Map(
        ["a", "b", "c", "d"],
        item_itself,
        name="min-successful",
        max_concurrency=1,
        completion=Completion(min_successful=2),
    )
    return projection(result, "completionReason", "successCount", "totalCount")


@requirement("map/9-8")
def map_tolerated_count(event: Any) -> Any:
    result = yield Map(
        ["a", "fail", "c"],
        item_itself,
        name="tolerated",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    return projection(result, *FULL)


@requirement("map/9-9")
def map_tolerated_count_exceeded(event: Any) -> Any:
    result = yield Map(
        ["fail", "fail", "never"],
        item_itself,
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    return projection(result, *NO_STATUS)


@requirement("map/9-10")
def map_tolerated_percentage_exceeded(event: Any) -> Any:
    result = yield Map(
        ["fail", "fail", "never", "never"],
        item_itself,
        name="tolerated-pct",
        max_concurrency=1,
        completion=Completion(tolerated_failure_percentage=25),
    )
    return projection(result, *NO_STATUS)


# --- 9-11 ... 9-14 ----------------------------------------------------------------------------


@requirement("map/9-11")
def map_concurrent(event: Any) -> Any:
    result = yield Map(["r0", "r1", "r2"], item_itself, name="concurrent", max_concurrency=2)
    return result.values()


def return_item(item: Any, index: int) -> Any:
    return item


@requirement("map/9-12")
def map_flat(event: Any) -> Any:
    result = yield Map(
        ["fa", "fb"], return_item, name="flat", max_concurrency=1, nesting=Nesting.FLAT
    )
    return result.values()


def times_ten(item: int, index: int) -> SubWorkflow:
    yield from ()
    return item * 10


@requirement("map/9-13")
def map_item_namer(event: Any) -> Any:
    result = yield Map(
        event,
        times_ten,
        name="named-items",
        max_concurrency=1,
        item_namer=lambda item, index: f"item-{item}",
    )
    return result.values()


class PrefixSerde:
    """A string as ``wrapped:<string>``; read back by removing the prefix."""

    PREFIX = "wrapped:"

    def serialize(self, value: str) -> str:
        return self.PREFIX + value

    def deserialize(self, data: str) -> str:
        if not data.startswith(self.PREFIX):
            raise ValueError(f"not a wrapped value: {data!r}")
        return data[len(self.PREFIX) :]


@requirement("map/9-14")
def map_item_serde(event: Any) -> Any:
    result = yield Map(
        ["x", "y"], upper, name="item-serde", max_concurrency=1, item_serde=PrefixSerde()
    )
    return result.values()


# --- 9-15 ... 9-18: replay -----------------------------------------------------------------------


def return_value(value: Any) -> Any:
    return value


def step_after_wait_in_second(item: str, index: int) -> SubWorkflow:
    if index == 1:
        yield Wait(Duration.seconds(1))
    return (yield Step(return_value, item))


@requirement("map/9-15")
def map_wait_inside(event: Any) -> Any:
    result = yield Map(
        ["r0", "r1"], step_after_wait_in_second, name="wait-inside", max_concurrency=1
    )
    return result.values()


def large_string(item: str, index: int) -> SubWorkflow:
    yield from ()
    return item * LARGE_ITEM_CHARS


@requirement("map/9-16")
def map_large_result(event: Any) -> Any:
    result = yield Map(["a", "b", "c", "d"], large_string, name="large", max_concurrency=1)
    return {"successCount": result.success_count, "totalCount": result.total_count}


@requirement("map/9-17")
def map_then_wait(event: Any) -> Any:
    result = yield Map(["a", "b"], upper, name="then-wait", max_concurrency=1)
    yield Wait(Duration.seconds(1))
    return result.values()


@requirement("map/9-18")
def map_failure_then_wait(event: Any) -> Any:
    result = yield Map(
        ["ok", "fail"],
        item_itself,
        name="fail-then-wait",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    yield Wait(Duration.seconds(1))
    return projection(result, *FULL)


# --- 9-19, 9-20: an operation-level serde ----------------------------------------------------------


class ResultSerde:
    """A batch of strings as ``OPSERDE:<values joined by commas>``, read back as a batch."""

    PREFIX = "OPSERDE:"

    def serialize(self, value: BatchResult[str]) -> str:
        return self.PREFIX + ",".join(value.values())

    def deserialize(self, data: str) -> BatchResult[str]:
        if not data.startswith(self.PREFIX):
            raise ValueError(f"not an OPSERDE payload: {data!r}")
        body = data[len(self.PREFIX) :]
        values = body.split(",") if body else []
        items = tuple(BatchItem.success(i, value) for i, value in enumerate(values))
        return BatchResult(items, CompletionReason.ALL_COMPLETED)


@requirement("map/9-19")
def map_operation_serde(event: Any) -> Any:
    result = yield Map(["x", "y"], upper, name="op-serde", max_concurrency=1, serde=ResultSerde())
    return result.values()


@requirement("map/9-20")
def map_operation_serde_replay(event: Any) -> Any:
    result = yield Map(
        ["x", "y"], upper, name="op-serde-replay", max_concurrency=1, serde=ResultSerde()
    )
    yield Wait(Duration.seconds(1))
    return result.values()
