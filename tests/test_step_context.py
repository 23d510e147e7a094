"""What a running step learns about itself: its StepContext and the fields of its logs."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

from orchestra import Map, Step, get_logger, step_context
from orchestra.interpreter.ids import operation_id
from orchestra.testing import LocalRunner

log = get_logger("ctx")
seen: list[dict[str, Any]] = []


def look(tag: str, _: int = 0) -> str:
    ctx = step_context()
    assert ctx is not None
    seen.append(
        {
            "tag": tag,
            "id": ctx.operation_id,
            "name": ctx.name,
            "attempt": ctx.attempt,
            "arn": ctx.execution_arn,
            "now": ctx.now().year,
        }
    )
    log.info("inside %s", tag)
    return tag


def test_a_step_sees_its_context_and_its_logs_carry_its_fields(caplog):
    seen.clear()

    def workflow() -> Generator[Any, Any, Any]:
        log.info("in the workflow")
        yield Step(look, "alone", name="solo")  # the only work: runs on the invocation thread
        batch = yield Map(["a", "b"], look, name="m")  # concurrent: on the pool
        return batch.values()

    caplog.set_level(logging.INFO, logger="orchestra.workflow")
    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    solo = run.operation("solo")
    assert seen[0] == {
        "tag": "alone",
        "id": solo.id,
        "name": "solo",
        "attempt": 1,
        "arn": run.arn,
        "now": seen[0]["now"],
    }
    assert seen[0]["now"] >= 2024  # the service's clock, not a missing one
    assert sorted(s["tag"] for s in seen[1:]) == ["a", "b"]
    map_id = run.operation("m").id
    for entry in seen[1:]:
        assert entry["name"] == "look" and entry["attempt"] == 1

    records = {r.getMessage(): r for r in caplog.records}
    outside = records["in the workflow"]
    assert outside.executionArn == run.arn
    assert not hasattr(outside, "operationId")
    inside = records["inside alone"]
    assert (inside.operationId, inside.operationName, inside.attempt) == (solo.id, "solo", 1)
    assert inside.executionArn == run.arn
    item = records["inside a"]
    assert item.parentId == operation_id(map_id, 0)  # the item's context


def test_outside_a_step_there_is_no_step_context():
    assert step_context() is None
