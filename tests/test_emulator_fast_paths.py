"""The emulator's fast paths give exactly what its general paths give.

Pinned here: the plain-batch check against the general rules (same acceptance, same
rejection), the direct operation constructors against ``attrs.evolve``, ``apply_update``'s
shortcuts against the general transition, the history built on read against the events
built at once, and the block-cut checkpoint tokens.
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra import Child, Map, Step, Wait
from orchestra.service.api import ServiceError
from orchestra.service.local import LocalService, history, rules, transitions
from orchestra.service.local.engine import _Tokens
from orchestra.service.local.execution import Execution
from orchestra.service.local.history import completion_event, update_event
from orchestra.service.local.sqlite_store import SQLiteStore
from orchestra.testing import LocalRunner
from orchestra.wire.converter import to_wire
from orchestra.wire.models import (
    CallbackDetails,
    ContextDetails,
    ContextOptions,
    ErrorObject,
    Event,
    EventDetails,
    EventPayload,
    ExecutionDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    RetryDetails,
    StepDetails,
    StepOptions,
    WaitDetails,
    WaitOptions,
)

A = OperationAction
T = OperationType
S = OperationStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/abc"
IDS = ["a", "b", "ctx"]
#: The payload limit while these tests run: one character more is too large.
SMALL_LIMIT = 3

ids = st.sampled_from(IDS)
parents = st.sampled_from([None, "ctx", "a", "zz"])
names = st.sampled_from([None, "n", "m"])
sub_types = st.sampled_from([None, "Step", "Other"])
payloads = st.sampled_from([None, "1", "x" * (SMALL_LIMIT + 1)])
errors = st.sampled_from([None, ErrorObject(error_message="boom", error_type="E")])

plain_updates = st.builds(
    OperationUpdate,
    id=ids,
    type=st.sampled_from([T.STEP, T.CONTEXT]),
    action=st.sampled_from([A.START, A.SUCCEED]),
    parent_id=parents,
    name=names,
    sub_type=sub_types,
    payload=payloads,
)
any_updates = st.builds(
    OperationUpdate,
    id=ids,
    type=st.sampled_from([t for t in T if t is not T.CHAINED_INVOKE]),
    action=st.sampled_from(list(A)),
    parent_id=parents,
    name=names,
    sub_type=sub_types,
    payload=payloads,
    error=errors,
    context_options=st.sampled_from([None, ContextOptions(True), ContextOptions(False)]),
    step_options=st.sampled_from([None, StepOptions(2)]),
    wait_options=st.sampled_from([None, WaitOptions(5), WaitOptions(0)]),
)
updates = st.one_of(plain_updates, plain_updates, any_updates)
stored_operations = st.lists(
    st.builds(
        Operation,
        id=ids,
        type=st.sampled_from([T.STEP, T.CONTEXT, T.WAIT]),
        status=st.sampled_from(list(S)),
        start_timestamp=st.just(NOW),
        parent_id=parents,
        name=names,
        sub_type=sub_types,
        step_details=st.sampled_from([None, StepDetails(attempt=1, result="r")]),
    )
).map(lambda ops: {op.id: op for op in ops})


def outcome(check: Any, operations: dict[str, Operation], batch: list[OperationUpdate]) -> Any:
    """What a check says of a batch: ``None`` (accepted) or the rejection's fields."""
    try:
        check(operations, batch)
    except ServiceError as exc:
        return (exc.code, exc.status, exc.message)
    return None


# --- rules ---------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(stored_operations, st.lists(updates, max_size=5))
def test_check_batch_accepts_and_rejects_as_the_general_rules(operations, batch):
    with mock.patch.object(rules, "MAX_PAYLOAD_CHARS", SMALL_LIMIT):
        general = outcome(rules._check_batch, operations, batch)
        assert outcome(rules.check_batch, operations, batch) == general
        if rules._plain_batch_accepted(operations, batch):
            assert general is None


def upd(op_id: str, type_: T, action: A, **kw: Any) -> OperationUpdate:
    return OperationUpdate(id=op_id, type=type_, action=action, **kw)


def stored(op_id: str, type_: T, status: S, **kw: Any) -> Operation:
    return Operation(id=op_id, type=type_, status=status, **kw)


PLAIN_ACCEPTED = [
    ([], [upd("s", T.STEP, A.START)]),
    ([stored("s", T.STEP, S.STARTED)], [upd("s", T.STEP, A.SUCCEED, payload="1")]),
    ([stored("s", T.STEP, S.READY)], [upd("s", T.STEP, A.START)]),
    (
        [stored("m", T.CONTEXT, S.STARTED)],
        [
            upd("c", T.CONTEXT, A.START, parent_id="m"),
            upd("s", T.STEP, A.START, parent_id="c"),
            upd("s", T.STEP, A.SUCCEED, parent_id="c", payload="1"),
            upd("c", T.CONTEXT, A.SUCCEED, parent_id="m", payload="1"),
        ],
    ),
]


@pytest.mark.parametrize(("ops", "batch"), PLAIN_ACCEPTED)
def test_common_batches_take_the_fast_check(ops, batch):
    operations = {op.id: op for op in ops}
    assert rules._plain_batch_accepted(operations, batch)
    rules._check_batch(operations, batch)


PLAIN_REJECTED = [
    ([stored("s", T.STEP, S.STARTED)], [upd("s", T.STEP, A.START)], "state to start"),
    ([stored("c", T.CONTEXT, S.STARTED)], [upd("c", T.CONTEXT, A.START)], "already exist"),
    ([stored("s", T.STEP, S.SUCCEEDED)], [upd("s", T.STEP, A.SUCCEED)], "state to close"),
    ([stored("s", T.STEP, S.STARTED)], [upd("s", T.CONTEXT, A.SUCCEED)], "operation type"),
    ([stored("s", T.STEP, S.STARTED, name="a")], [upd("s", T.STEP, A.SUCCEED, name="b")], "name"),
    ([], [upd("s", T.STEP, A.START, parent_id="nowhere")], "Invalid parent"),
    ([stored("w", T.WAIT, S.STARTED)], [upd("s", T.STEP, A.START, parent_id="w")], "parent"),
    ([], [upd("s", T.STEP, A.SUCCEED), upd("s", T.STEP, A.SUCCEED)], "same ID"),
    ([], [upd("s", T.STEP, A.START), upd("s", T.STEP, A.START)], "same ID"),
]


@pytest.mark.parametrize(("ops", "batch", "fragment"), PLAIN_REJECTED)
def test_a_refused_common_batch_gets_the_general_rejection(ops, batch, fragment):
    operations = {op.id: op for op in ops}
    assert not rules._plain_batch_accepted(operations, batch)
    with pytest.raises(ServiceError, match=fragment):
        rules.check_batch(operations, batch)
    assert outcome(rules.check_batch, operations, batch) == outcome(
        rules._check_batch, operations, batch
    )


def test_a_payload_over_the_limit_is_still_refused():
    batch = [upd("s", T.STEP, A.SUCCEED, payload="x" * (rules.MAX_PAYLOAD_CHARS + 1))]
    assert not rules._plain_batch_accepted({}, batch)
    with pytest.raises(ServiceError, match="Payload size"):
        rules.check_batch({}, batch)


# --- operations ----------------------------------------------------------------------------

details = st.sampled_from([None, ContextDetails(result="r"), ContextDetails(replay_children=True)])
step_details = st.sampled_from([None, StepDetails(attempt=2, result="r")])
operations = st.builds(
    Operation,
    id=ids,
    type=st.sampled_from(list(T)),
    status=st.sampled_from(list(S)),
    start_timestamp=st.sampled_from([None, NOW]),
    end_timestamp=st.sampled_from([None, NOW]),
    parent_id=parents,
    name=names,
    sub_type=sub_types,
    execution_details=st.sampled_from([None, ExecutionDetails(input_payload="{}")]),
    context_details=details,
    step_details=step_details,
    wait_details=st.sampled_from([None, WaitDetails(scheduled_end_timestamp=NOW)]),
    callback_details=st.sampled_from([None, CallbackDetails(callback_id="cb")]),
)


@given(
    operations,
    st.sampled_from(list(S)),
    st.sampled_from([None, NOW + timedelta(1)]),
    details,
    step_details,
)
def test_replace_is_attrs_evolve(op, status, end, context, step):
    expected = attrs.evolve(
        op, status=status, end_timestamp=end, context_details=context, step_details=step
    )
    assert transitions._replace(op, status, end, context, step) == expected


@given(any_updates, step_details)
def test_new_operation_is_the_keyword_construction(update, details):
    assert transitions.new_operation(update, NOW, step_details=details) == Operation(
        id=update.id,
        type=update.type,
        status=S.STARTED,
        start_timestamp=NOW,
        parent_id=update.parent_id,
        name=update.name,
        sub_type=update.sub_type,
        step_details=details,
    )


def execution_with(operations: dict[str, Operation]) -> Execution:
    ex = Execution(ARN, "n", "f", None)
    for op in operations.values():
        ex.store(op)
    return ex


#: Types whose transitions are deterministic (a callback draws a random id; the engine
#: starts chained invokes itself).
TRANSITION_TYPES = {T.STEP, T.CONTEXT, T.WAIT}


@st.composite
def transition_cases(draw: Any) -> tuple[dict[str, Operation], OperationUpdate]:
    """An update of a deterministic type, and operations it is likely to be accepted on."""
    update = draw(
        (any_updates | plain_updates).filter(
            lambda u: u.type in TRANSITION_TYPES and u.parent_id != u.id  # no cycles
        )
    )
    operations = {}
    if update.parent_id is not None:
        operations[update.parent_id] = Operation(
            id=update.parent_id, type=T.CONTEXT, status=S.STARTED, start_timestamp=NOW
        )
    if draw(st.booleans()):
        operations[update.id] = Operation(
            id=update.id,
            type=update.type,
            status=draw(st.sampled_from([S.STARTED, S.READY, S.PENDING])),
            start_timestamp=NOW,
            parent_id=update.parent_id,
            name=update.name,
            sub_type=update.sub_type,
            step_details=draw(step_details) if update.type is T.STEP else None,
        )
        if operations[update.id].type is T.CONTEXT:  # with a child to hide
            operations["kid"] = Operation(
                id="kid", type=T.STEP, status=S.SUCCEEDED, parent_id=update.id
            )
    return operations, update


@settings(max_examples=500, deadline=None)
@given(transition_cases())
def test_apply_update_is_the_general_transition(case):
    operations, update = case
    if outcome(rules.check_batch, operations, [update]) is not None:
        return
    fast, general = execution_with(operations), execution_with(operations)
    transitions.apply_update(fast, update, NOW)
    before = operations.get(update.id) or transitions.new_operation(update, NOW)
    expected = transitions._transition(general, before, update, NOW)
    assert fast.operations[update.id] == expected
    assert fast.hidden == general.hidden and fast.timers == general.timers
    event = (
        completion_event(expected, NOW)
        if update.action is A.CANCEL
        else update_event(update, expected, NOW)
    )
    assert event is not None
    assert fast.events == [attrs.evolve(event, event_id=1)]


# --- history ---------------------------------------------------------------------------------


@given(operations, st.sampled_from(["StepStarted", "ContextSucceeded"]))
def test_an_event_built_by_position_is_the_keyword_construction(op, kind):
    details = EventDetails(request_id="r")
    assert history._event(kind, op, NOW, details) == Event(
        event_type=kind,
        event_id=0,
        event_timestamp=NOW,
        details=details,
        sub_type=op.sub_type,
        id=op.id,
        name=op.name,
        parent_id=op.parent_id,
    )


@pytest.mark.parametrize("attempt", [None, 0, 1, 2, 63, 64, 65, 1000])
def test_shared_retry_details_equal_fresh_ones(attempt):
    assert history._retry_details(attempt) == RetryDetails(current_attempt=attempt)
    assert history._retry_details(attempt) == history._retry_details(attempt)


def test_update_events_of_every_type_and_action_carry_the_expected_fields():
    op = Operation(id="s", type=T.STEP, status=S.SUCCEEDED, name="n", sub_type="Step",
                   step_details=StepDetails(attempt=3, result="1"))  # fmt: skip
    succeeded = update_event(upd("s", T.STEP, A.SUCCEED, payload="1"), op, NOW)
    assert succeeded == Event(
        event_type="StepSucceeded",
        event_id=0,
        event_timestamp=NOW,
        details=EventDetails(
            result=EventPayload(truncated=False, payload="1"),
            retry_details=RetryDetails(current_attempt=3),
        ),
        sub_type="Step",
        id="s",
        name="n",
    )
    context = attrs.evolve(op, type=T.CONTEXT, step_details=None)
    done = update_event(upd("s", T.CONTEXT, A.SUCCEED, payload="2"), context, NOW)
    assert done is not None and done.event_type == "ContextSucceeded"
    assert done.details == EventDetails(result=EventPayload(truncated=False, payload="2"))
    started = update_event(upd("s", T.CONTEXT, A.START), context, NOW)
    assert started is not None and started.event_type == "ContextStarted"
    assert started.details == EventDetails()


def test_events_are_built_on_read_with_their_ids_in_order():
    ex = Execution(ARN, "n", "f", None)
    start = upd("s", T.STEP, A.START, sub_type="Step")
    transitions.apply_update(ex, start, NOW)
    assert ex.event_count() == 1 and not ex._events  # not built yet
    ready = Event(event_type="InvocationCompleted", event_id=0, event_timestamp=NOW,
                  details=EventDetails(request_id="r"))  # fmt: skip
    ex.append(ready)  # a ready event lands after the pending ones
    assert ex.event_count() == 2 and not ex._events  # and builds none of them
    later = NOW + timedelta(seconds=1)
    succeed = upd("s", T.STEP, A.SUCCEED, payload="1")
    transitions.apply_update(ex, succeed, later)
    assert [e.event_type for e in ex.events] == [
        "StepStarted",
        "InvocationCompleted",
        "StepSucceeded",
    ]
    assert [e.event_id for e in ex.events] == [1, 2, 3]
    assert ex.events[0] == attrs.evolve(
        update_event(start, transitions.new_operation(start, NOW), NOW), event_id=1
    )
    assert ex.events[2].event_timestamp == later
    assert ex.events[2].details.retry_details.current_attempt == 1
    ex.events = []  # a store restoring the history replaces it whole
    assert ex.event_count() == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(any_updates.filter(lambda u: u.type in TRANSITION_TYPES), max_size=12))
def test_a_history_read_at_the_end_is_the_history_built_update_by_update(sequence):
    # START and SUCCEED of a STEP or CONTEXT keep no update (a START not even its
    # operation); their events, built at the end from what is kept, are those each update
    # made at the moment it was applied
    ex = Execution(ARN, "n", "f", None)
    expected: list[Event] = []
    for number, update in enumerate(sequence):
        if update.action is A.CANCEL or update.parent_id is not None:
            continue  # (a CANCEL's event is a completion event; parents need no cycles)
        if outcome(rules.check_batch, ex.operations, [update]) is not None:
            continue
        when = NOW + timedelta(seconds=number)
        transitions.apply_update(ex, update, when)
        event = update_event(update, ex.operations[update.id], when)
        assert event is not None
        expected.append(attrs.evolve(event, event_id=len(expected) + 1))
    assert ex.events == expected


def test_readers_racing_a_writer_see_every_event_once_in_order():
    ex = Execution(ARN, "n", "f", None)
    count = 3000
    seen: list[int] = []

    def read() -> None:
        while len(seen) < 200:
            seen.append(len(ex.events))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for i in range(count):
        transitions.apply_update(ex, upd(f"s{i}", T.STEP, A.START), NOW)
    for reader in readers:
        reader.join()
    assert [e.event_id for e in ex.events] == list(range(1, count + 1))
    assert [e.id for e in ex.events] == [f"s{i}" for i in range(count)]


class TickClock:
    """A clock that moves one millisecond per reading: two runs get the same timestamps."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.moment += timedelta(milliseconds=1)
        return self.moment

    def advance_to(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


def add_one(x: int) -> int:
    return x + 1


def item(x: int, _index: int) -> int:
    return x * 2


def inner() -> Any:
    return (yield Step(add_one, 1, name="inner"))


def workflow() -> Any:
    total = yield Step(add_one, 0, name="first")
    total += yield Child(inner, name="child")
    yield Wait(30, name="nap")
    doubled = yield Map([1, 2, 3], item, max_concurrency=2)
    return total + sum(doubled.values())


class EagerReader(LocalService):
    """A service that reads the whole history after every checkpoint call."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.snapshots: list[list[dict[str, Any]]] = []

    def checkpoint(self, arn: str, token: str, batch: Any) -> Any:
        answer = super().checkpoint(arn, token, batch)
        self.snapshots.append(self.history_dicts(arn))
        return answer


def run_history(service: LocalService) -> tuple[list[dict[str, Any]], str]:
    run = LocalRunner(workflow, service=service).run()
    assert run.status == "SUCCEEDED", run
    return service.history_dicts(run.arn), run.arn


def test_a_history_read_late_is_the_history_read_as_it_grew():
    eager = EagerReader(clock=TickClock())
    history, _ = run_history(eager)
    assert len(eager.snapshots) > 3
    for snapshot in eager.snapshots:  # every earlier read is a prefix of the final history
        assert history[: len(snapshot)] == snapshot
    assert [e["EventId"] for e in history] == list(range(1, len(history) + 1))
    kinds = {e["EventType"] for e in history}
    assert {"StepSucceeded", "ContextSucceeded", "WaitSucceeded", "InvocationCompleted"} <= kinds


def test_the_sqlite_store_saves_and_reloads_the_same_history(tmp_path):
    service = LocalService(clock=TickClock(), store=SQLiteStore(tmp_path / "runs.db"))
    history, arn = run_history(service)
    service.store.close()
    again = LocalService(store=SQLiteStore(tmp_path / "runs.db"))
    assert again.history_dicts(arn) == history
    assert to_wire(again.history(arn)) == history
    again.store.close()


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_are_44_base64_characters_each_unique_across_blocks():
    tokens = _Tokens()
    drawn = [tokens() for _ in range(3 * _Tokens.PER_BLOCK + 5)]
    assert len(set(drawn)) == len(drawn)
    for token in drawn:
        assert len(token) == 44 and len(base64.b64decode(token, validate=True)) == 33


def test_tokens_drawn_by_racing_threads_are_unique():
    tokens = _Tokens()
    drawn: list[str] = []

    def draw() -> None:
        drawn.extend(tokens() for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == len(drawn) == 8000


def test_two_token_sources_share_nothing():
    first, second = _Tokens(), _Tokens()
    assert {first() for _ in range(50)}.isdisjoint(second() for _ in range(50))


def test_hiding_children_ends_on_a_cycle_of_parent_links():
    ex = Execution(ARN, "n", "f", None)
    ex.children = {"c": ["a"], "a": ["b"], "b": ["a", "c"]}  # a damaged store's links
    ex.hide_children("c")
    assert ex.hidden == {"a", "b"}
