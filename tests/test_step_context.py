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


def test_workflow_logs_are_not_repeated_by_a_replay_unless_asked(caplog):
    from orchestra import Duration, Wait

    quiet = get_logger("ctx.quiet")
    loud = get_logger("ctx.loud", log_replay=True)

    def workflow() -> Generator[Any, Any, Any]:
        quiet.info("quiet before the wait")
        loud.info("loud before the wait")
        yield Wait(Duration.seconds(5))  # the next invocation replays the lines above
        quiet.info("quiet after the wait")
        return "done"

    caplog.set_level(logging.INFO, logger="orchestra.workflow")
    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED" and run.invocations == 2
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("quiet before the wait") == 1
    assert messages.count("loud before the wait") == 2
    assert messages.count("quiet after the wait") == 1
    replayed = [r for r in caplog.records if r.getMessage() == "loud before the wait"]
    assert all(r.executionArn == run.arn for r in replayed)
