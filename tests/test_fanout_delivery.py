"""What a live Map hands its workflow equals what a replay decodes from the checkpoint.

A batch of plain values under the default codec is handed over as held; any other batch
(structured values, a failed item, a custom codec) is decoded from its payload first.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from orchestra import Map
from orchestra.interpreter import fanout
from orchestra.results import BatchResult
from orchestra.serde import JsonSerde
from orchestra.testing import LocalRunner


def plain(x: int, _: int) -> int:
    return x * 2


def untyped(x, _):  # type: ignore[no-untyped-def]
    return {"n": x, "half": x / 2} if x % 2 else x


def failing(x: int, _: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


@pytest.mark.parametrize(
    ("fn", "fast"),
    [(plain, True), (untyped, False), (failing, False)],
    ids=["plain-ints", "structured-values", "a-failed-item"],
)
def test_the_live_batch_equals_the_decoded_checkpoint(monkeypatch, fn: Any, fast: bool):
    decoded: list[int] = []
    real = fanout._decode_result

    def counting(plan: Any, payload: str) -> BatchResult[Any]:
        decoded.append(1)
        return real(plan, payload)

    monkeypatch.setattr(fanout, "_decode_result", counting)
    seen: list[BatchResult[Any]] = []

    def workflow(n: int) -> Generator[Any, Any, int]:
        result = yield Map(list(range(n)), fn, name="m")
        seen.append(result)
        return len(result.items)

    run = LocalRunner(workflow).run(5)
    assert run.status == "SUCCEEDED", run.error
    assert (not decoded) is fast  # the fast path skips decoding; the others decode
    live = seen[0]
    payload = run.operation("m").context_details.result
    again = BatchResult.decode(payload, JsonSerde())
    assert [(i.index, i.status, i.name) for i in live.items] == [
        (i.index, i.status, i.name) for i in again.items
    ]
    for mine, theirs in zip(live.items, again.items, strict=True):
        if mine.error is None:
            assert mine.value == theirs.value
            assert type(mine.value) is type(theirs.value)
        else:
            assert (mine.error.error_type, str(mine.error)) == (
                theirs.error.error_type,
                str(theirs.error),
            )


def test_the_replay_after_a_wait_sees_the_same_values_of_the_same_types():
    from orchestra import Duration, Wait

    def mixed(x: int, _: int) -> Any:
        return [x, "s", 1.5, True, None][x]

    seen: list[list[tuple[type, Any]]] = []

    def workflow() -> Generator[Any, Any, None]:
        result = yield Map(list(range(5)), mixed)
        seen.append([(type(v), v) for v in result.values()])
        yield Wait(Duration.seconds(5))  # the next invocation replays the Map

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert len(seen) == 2
    assert (
        seen[0] == seen[1] == [(int, 0), (str, "s"), (float, 1.5), (bool, True), (type(None), None)]
    )
