"""Step.with_args: the same step with other arguments, as a Map builds each item's step."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs

from orchestra import Map, RetryPolicy, Step, StepSemantics
from orchestra.serde import JsonSerde
from orchestra.testing import LocalRunner
from orchestra.wire.models import OperationType


def add(a: int, b: int, *, c: int = 0) -> int:
    return a + b + c


def test_with_args_equals_building_the_step_with_those_arguments():
    options: dict[str, Any] = {
        "name": "sum",
        "retry": RetryPolicy.none(),
        "semantics": StepSemantics.AT_MOST_ONCE_PER_RETRY,
        "serde": JsonSerde(int),
        "kwargs": {"c": 3},
    }
    built = Step(add, 1, 2, **options)
    assert built.with_args((5, 6)) == Step(add, 5, 6, **options)
    assert built.with_args((5, 6)).args == (5, 6)
    assert built.args == (1, 2)  # the original is unchanged


def test_with_args_copies_every_field_of_step():
    # a field added to Step must be copied by with_args too
    built = Step(add, 1, 2, name="n")
    copy = built.with_args((1, 2))
    for field in attrs.fields(Step):
        assert getattr(copy, field.name) == getattr(built, field.name), field.name


def test_each_map_item_runs_its_own_arguments_under_the_function_name():
    seen: list[tuple[int, int]] = []

    def item(x: int, index: int) -> int:
        seen.append((x, index))
        return x * 10

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map([4, 5, 6], item)
        return result.values()

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [40, 50, 60]
    assert sorted(seen) == [(4, 0), (5, 1), (6, 2)]
    steps = [op for op in run.operations_named("item") if op.type is OperationType.STEP]
    assert len(steps) == 3
