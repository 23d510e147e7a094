"""Handlers for the ``parallel`` suite (requirements 8-x).

A branch that "returns directly" is a generator function that yields nothing (it runs in its
``ParallelBranch`` context without an inner operation); a branch that "runs a single step"
is a plain function, which orchestra runs as one step in the branch context. Most handlers
run with ``max_concurrency=1``, so that the branches, and the history, are in index order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from orchestra import (
    BatchResult,
    Branch,
    Completion,
    Duration,
    Nesting,
    Parallel,
    Wait,
)

from ._registry import requirement

SubWorkflow = Generator[Any, Any, Any]


class BranchFailed(Exception):
    """The error a failing branch raises."""


def returning(value: Any) -> Callable[[], SubWorkflow]:
    """A branch that returns ``value`` without running a durable operation."""

    def branch() -> SubWorkflow:
        yield from ()
        return value

    return branch


def failing(message: str = "branch failed") -> Callable[[], SubWorkflow]:
    """A branch that raises without running a durable operation."""

    def branch() -> SubWorkflow:
        yield from ()
        raise BranchFailed(message)

    return branch


def step_returning(value: Any) -> Callable[[], Any]:
    """A branch that runs one step returning ``value``."""

    def branch() -> Any:
        return value

    branch.__name__ = f"step_{value}"
    return branch


def projection(result: BatchResult[Any], *fields: str) -> dict[str, Any]:
    """The requirement's projection of a batch result (only the ``fields`` it asserts)."""
    every = {
        "completionReason": result.completion_reason.value,
        "status": result.status,
        "successCount": result.success_count,
        "failureCount": result.failure_count,
        "totalCount": result.total_count,
    }
    return {field: every[field] for field in fields}


FULL = ("completionReason", "status", "successCount", "failureCount", "totalCount")
NO_STATUS = ("completionReason", "successCount", "failureCount", "totalCount")


# --- 8-1 ... 8-5: shapes -------------------------------------------------------------------


@requirement("parallel/8-1")
def parallel_basic(event: Any) -> Any:
    result = yield Parallel(
        step_returning("task-1"), step_returning("task-2"), name="parallel", max_concurrency=1
    )
    return result.values()


@requirement("parallel/8-2")
def parallel_branches_only(event: Any) -> Any:
    result = yield Parallel(returning("alpha"), returning("beta"), max_concurrency=1)
    return result.values()


@requirement("parallel/8-3")
def parallel_named_branches(event: Any) -> Any:
    result = yield Parallel(
        Branch(returning("one"), name="first"),
        Branch(returning("two"), name="second"),
        name="named",
        max_concurrency=1,
    )
    return result.values()


@requirement("parallel/8-4")
def parallel_heterogeneous(event: Any) -> Any:
    result = yield Parallel(
        returning("hello"), returning(42), returning({"k": "v"}), name="hetero", max_concurrency=1
    )
    return result.values()


@requirement("parallel/8-5")
def parallel_empty(event: Any) -> Any:
    result = yield Parallel(name="empty")
    return result.values()


# --- 8-6 ... 8-10, 8-13: completion policies -------------------------------------------------


@requirement("parallel/8-6")
def parallel_fail_fast(event: Any) -> Any:
    result = yield Parallel(
        returning("ok"),
        failing(),
        returning("never"),
        name="failfast",
        max_concurrency=1,
        completion=Completion(tolerated_failures=0),
    )
    return projection(result, *FULL)


@requirement("parallel/8-7")
def parallel_throw_if_error(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        returning("never"),
        name="throwing",
        max_concurrency=1,
        completion=Completion(tolerated_failures=0),
    )
    result.throw_if_error()
    return result.values()


@requirement("parallel/8-8")
def parallel_min_successful(event: Any) -> Any:
    result = yield Parallel(
        returning("a"),
        returning("b"),
        returning("c"),
        returning("d"),
        name="min-successful",
        max_concurrency=1,
        completion=Completion(min_successful=2),
    )
    return projection(result, "completionReason", "successCount", "totalCount")


@requirement("parallel/8-9")
def parallel_tolerated_count(event: Any) -> Any:
    result = yield Parallel(
        returning("a"),
        failing(),
        returning("c"),
        name="tolerated",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    return projection(result, *FULL)


@requirement("parallel/8-10")
def parallel_tolerated_count_exceeded(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        failing(),
        returning("never"),
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    return projection(result, *NO_STATUS)


@requirement("parallel/8-11")
def parallel_concurrent(event: Any) -> Any:
    result = yield Parallel(
        returning("r0"), returning("r1"), returning("r2"), name="concurrent", max_concurrency=2
    )
    return result.values()


@requirement("parallel/8-12")
def parallel_flat(event: Any) -> Any:
    result = yield Parallel(
        step_returning("fa"),
        step_returning("fb"),
        name="flat",
        max_concurrency=1,
        nesting=Nesting.FLAT,
    )
    return result.values()


@requirement("parallel/8-13")
def parallel_tolerated_percentage_exceeded(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        failing(),
        returning("never"),
        returning("never"),
        name="tolerated-pct",
        max_concurrency=1,
        completion=Completion(tolerated_failure_percentage=25),
    )
    return projection(result, *NO_STATUS)


# --- 8-14: a branch suspends ------------------------------------------------------------------


def wait_then_return() -> SubWorkflow:
    yield Wait(Duration.seconds(2))
    return "b1"


@requirement("parallel/8-14")
def parallel_replay(event: Any) -> Any:
    result = yield Parallel(
        step_returning("b0"), wait_then_return, name="replay", max_concurrency=1
    )
    return result.values()


# --- 8-15: a custom item serde ------------------------------------------------------------------


class WrappingSerde:
    """``v`` <-> ``{"wrapped": v}`` as JSON text."""

    def serialize(self, value: Any) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, data: str) -> Any:
        return json.loads(data)["wrapped"]


@requirement("parallel/8-15")
def parallel_item_serde(event: Any) -> Any:
    result = yield Parallel(
        returning("x"),
        returning("y"),
        name="serde",
        max_concurrency=1,
        item_serde=WrappingSerde(),
    )
    return result.values()


# --- 8-16 ... 8-22 ------------------------------------------------------------------------------


@requirement("parallel/8-16")
def parallel_all_fail_tolerated(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        failing(),
        failing(),
        name="all-fail",
        max_concurrency=1,
        completion=Completion(tolerated_failures=3),
    )
    return projection(result, *FULL)


@requirement("parallel/8-17")
def parallel_min_successful_not_reached(event: Any) -> Any:
    result = yield Parallel(
        returning("a"),
        failing(),
        returning("c"),
        name="min-not-reached",
        max_concurrency=1,
        completion=Completion(min_successful=3),
    )
    return projection(result, *FULL)


@requirement("parallel/8-18")
def parallel_combined_completion(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        failing(),
        returning("never"),
        returning("never"),
        name="combined",
        max_concurrency=1,
        completion=Completion(min_successful=3, tolerated_failures=1),
    )
    return projection(result, *NO_STATUS)


@requirement("parallel/8-19")
def parallel_invalid_concurrency(event: Any) -> Any:
    result = yield Parallel(
        returning("a"), returning("b"), name="bad-concurrency", max_concurrency=0
    )
    return result.values()


@requirement("parallel/8-20")
def parallel_accessors(event: Any) -> Any:
    result = yield Parallel(
        returning("a"),
        failing(),
        returning("c"),
        name="accessors",
        max_concurrency=1,
        completion=Completion(tolerated_failures=1),
    )
    return {
        "hasFailure": result.status == "FAILED",
        "successCount": len(result.succeeded()),
        "failureCount": len(result.failed()),
        "errorCount": len(result.errors()),
    }


def inner_parallel() -> SubWorkflow:
    result = yield Parallel(
        step_returning("i1"), step_returning("i2"), name="inner", max_concurrency=1
    )
    return result.values()


@requirement("parallel/8-21")
def parallel_nested(event: Any) -> Any:
    result = yield Parallel(inner_parallel, name="outer", max_concurrency=1)
    return result.values()


@requirement("parallel/8-22")
def parallel_percentage_boundary(event: Any) -> Any:
    result = yield Parallel(
        failing(),
        returning("b"),
        returning("c"),
        returning("d"),
        name="pct-boundary",
        max_concurrency=1,
        completion=Completion(tolerated_failure_percentage=25),
    )
    return projection(result, *FULL)
