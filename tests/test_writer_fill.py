"""``_Batch.fill`` (the writer's inline planning of a call) decides as ``take`` with
``_rough`` sizes does, item for item, whatever the queue holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.runtime import writer
from orchestra.runtime.writer import _Batch, _Item, _rough
from orchestra.wire.models import (
    ChainedInvokeOptions,
    ErrorObject,
    OperationAction,
    OperationType,
    OperationUpdate,
)

texts = st.one_of(st.none(), st.text(max_size=6))


@st.composite
def items(draw: Any, seq: int) -> _Item:
    if draw(st.integers(0, 20)) == 0:
        return _Item(seq, None, None, None, 0.0)
    kind = draw(st.sampled_from(list(OperationType)))
    update = OperationUpdate(
        id=draw(st.sampled_from(["a", "b", "c", "d"])),
        type=kind,
        action=draw(st.sampled_from(list(OperationAction))),
        parent_id=draw(texts),
        name=draw(texts),
        sub_type=draw(texts),
        payload=draw(st.one_of(st.none(), st.just("x" * draw(st.integers(0, 90_000))))),
        error=draw(st.one_of(st.none(), st.just(ErrorObject("boom", "E")))),
        chained_invoke_options=draw(
            st.one_of(st.none(), st.just(ChainedInvokeOptions(function_name="f")))
        ),
    )
    size = draw(st.one_of(st.none(), st.integers(0, 300_000)))
    return _Item(seq, update, None, None, 0.0, size)


@st.composite
def queues(draw: Any) -> list[_Item]:
    count = draw(st.integers(0, 40))
    return [draw(items(seq)) for seq in range(count)]


def _state(batch: _Batch) -> tuple[Any, ...]:
    return (
        [item.seq for item in batch.items],
        batch.updates,
        batch.size,
        dict(batch.last_action),
        batch.closed,
        batch.cut_for_size,
    )


@settings(max_examples=150, deadline=None)
@given(queue=queues(), limit=st.integers(1, 12))
def test_fill_takes_what_take_with_rough_sizes_takes(queue: list[_Item], limit: int) -> None:
    # a small update limit and large payloads reach every rule that ends a call
    original = writer.MAX_BATCH_UPDATES
    writer.MAX_BATCH_UPDATES = limit
    try:
        expected = _Batch()
        for item in queue:
            if not expected.take(item, _rough(item)):
                break
        filled = _Batch()
        filled.fill(queue)
    finally:
        writer.MAX_BATCH_UPDATES = original
    assert _state(filled) == _state(expected)
