"""BatchItem and BatchResult: accessors, errors, the checkpoint payload and the envelope."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from orchestra.completion import CompletionReason
from orchestra.errors import (
    ChildContextError,
    OperationError,
    SerializationError,
    StepError,
    ValidationError,
    error_object,
    operation_error_from,
)
from orchestra.results import BatchItem, BatchResult, Envelope, ItemStatus, branch_error
from orchestra.serde import JsonSerde
from orchestra.wire.models import ErrorObject

ALL = CompletionReason.ALL_COMPLETED
MIN = CompletionReason.MIN_SUCCESSFUL_REACHED
TOL = CompletionReason.FAILURE_TOLERANCE_EXCEEDED


@attrs.frozen
class Point:
    x: int
    y: int


class PointSerde:
    """A custom serde with its own text format: ``"x;y"``."""

    def serialize(self, value: Point) -> str:
        return f"{value.x};{value.y}"

    def deserialize(self, data: str) -> Point:
        x, y = data.split(";")
        return Point(int(x), int(y))


def raised(exc: BaseException) -> BaseException:
    """``exc`` after being raised and caught (so it carries a traceback)."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def step_error_caused_by_value_error() -> OperationError:
    return operation_error_from(StepError, error_object(raised(ValueError("card declined"))))


def chain(error: BaseException | None) -> list[tuple[str, str, str, str | None]]:
    """The observable fields of an error and its cause chain."""
    out = []
    while error is not None:
        assert isinstance(error, OperationError)
        out.append((type(error).__name__, error.error_type, error.message, error.data))
        error = error.__cause__
    return out


def same_error(a: OperationError | None, b: OperationError | None) -> bool:
    assert a is not None and b is not None
    return chain(a) == chain(b) and a.stack_trace == b.stack_trace and a.name == b.name


def sample() -> BatchResult[int]:
    return BatchResult(
        (
            BatchItem.success(0, 10, name="a"),
            BatchItem.failure(1, raised(ValueError("bad one")), name="b"),
            BatchItem.success(2, None),
            BatchItem.started(3),
            BatchItem.failure(4, KeyError("k")),
            BatchItem.started(5, name="f"),
        ),
        TOL,
    )


# --- BatchItem --------------------------------------------------------------------------------


def test_item_constructors_and_accessors() -> None:
    ok = BatchItem.success(0, "v", name="first")
    assert (ok.index, ok.status, ok.result, ok.name) == (
        0,
        ItemStatus.SUCCEEDED,
        Success("v"),
        "first",
    )
    assert ok.value == "v" and ok.error is None
    started = BatchItem.started(1)
    assert started.status is ItemStatus.STARTED and started.result is None
    assert started.value is None and started.error is None
    bad = BatchItem.failure(2, ValueError("no"))
    assert bad.status is ItemStatus.FAILED and bad.value is None
    assert isinstance(bad.error, ChildContextError)
    assert bad.error.error_type == "ValueError" and bad.error.message == "no"


@pytest.mark.parametrize(
    ("status", "result", "message"),
    [
        (ItemStatus.SUCCEEDED, None, "SUCCEEDED, so its result must be a Success"),
        (ItemStatus.SUCCEEDED, Failure(ChildContextError("x")), "must be a Success"),
        (ItemStatus.FAILED, Success(1), "FAILED, so its result must be a Failure"),
        (ItemStatus.FAILED, None, "must be a Failure"),
        (ItemStatus.STARTED, Success(1), "STARTED, so its result must be None"),
    ],
)
def test_item_result_must_match_status(status: ItemStatus, result: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BatchItem(0, status, result)


@pytest.mark.parametrize("index", [-1, True, 1.0, "0", None])
def test_item_index_is_a_non_negative_int(index: Any) -> None:
    with pytest.raises(ValidationError, match=r"BatchItem\.index must be a non-negative int"):
        BatchItem(index, ItemStatus.STARTED, None)


def test_item_refuses_bad_status_name_and_failure_values() -> None:
    with pytest.raises(TypeError):
        BatchItem(0, "SUCCEEDED", Success(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BatchItem(0, ItemStatus.STARTED, None, name=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not an exception"):
        BatchItem(0, ItemStatus.FAILED, Failure("oops"))  # type: ignore[arg-type]


def test_a_raw_exception_keeps_its_type_and_cause_chain() -> None:
    try:
        try:
            raise KeyError("card")
        except KeyError as key:
            raise ValueError("declined") from key
    except ValueError as exc:
        error = BatchItem.failure(0, exc, name="pay").error
    assert isinstance(error, ChildContextError)
    assert (error.error_type, error.message, error.name) == ("ValueError", "declined", "pay")
    assert error.is_caused_by(ValueError) and error.is_caused_by(KeyError)
    assert error.stack_trace is not None and error.stack_trace[-1] == "ValueError: declined"


def test_an_escaping_step_error_is_the_raw_type() -> None:
    error = BatchItem.failure(0, step_error_caused_by_value_error()).error
    assert isinstance(error, ChildContextError)
    assert error.error_type == "StepError"
    assert isinstance(error.__cause__, StepError)
    assert error.__cause__.error_type == "ValueError"
    assert error.is_caused_by(StepError) and error.is_caused_by(ValueError)


def test_a_rebuilt_child_context_error_stands_for_its_raw_error() -> None:
    """A failed branch context arrives as the ChildContextError the child handler rebuilt."""
    checkpointed = error_object(raised(ValueError("boom")))
    rebuilt = operation_error_from(ChildContextError, checkpointed, operation_id="b1", name="br")
    error = BatchItem.failure(0, rebuilt, name="br").error
    assert error is not None
    assert error.error_type == "ValueError" and error.__cause__ is None
    assert error.is_caused_by(ValueError) and not error.is_caused_by(KeyError)
    assert error.stack_trace == list(checkpointed.stack_trace or ())


def test_a_checkpointed_error_object_is_accepted() -> None:
    obj = ErrorObject("no", "KeyError", "data", ("line", "Caused by: OSError: disk"))
    error = BatchItem.failure(0, obj).error
    assert error is not None
    assert chain(error) == [
        ("ChildContextError", "KeyError", "no", "data"),
        ("OperationError", "OSError", "disk", None),
    ]
    assert error.stack_trace == ["line"]


def test_a_child_context_error_raised_by_the_branch_itself() -> None:
    error = BatchItem.failure(0, ChildContextError("inner")).error
    assert error is not None
    assert (error.error_type, error.message) == ("ChildContextError", "inner")


def test_plain_exceptions_built_directly_are_normalised() -> None:
    direct = BatchItem(0, ItemStatus.FAILED, Failure(raised(ValueError("v"))), "n")  # type: ignore[arg-type]
    helper = BatchItem.failure(0, direct.error or ValueError(), "n")
    assert isinstance(direct.error, ChildContextError)
    assert (direct.error.error_type, direct.error.name) == ("ValueError", "n")
    assert same_error(direct.error, helper.error)


def test_operation_errors_built_directly_are_kept_as_given() -> None:
    class PaymentError(OperationError):
        pass

    mapped = PaymentError("declined", error_type="CardError", operation_id="b0", name="n")
    item = BatchItem(0, ItemStatus.FAILED, Failure(mapped), "n")
    assert item.error is mapped
    # stored as the error that escaped the branch; decoded as a ChildContextError
    back = BatchResult.decode(BatchResult((item,), TOL).encode(JsonSerde()), JsonSerde())
    error = back.errors()[0]
    assert isinstance(error, ChildContextError) and error.error_type == "PaymentError"
    assert error.is_caused_by("CardError") and error.name == "n"


def test_branch_error_keeps_the_operation_id_of_a_rebuilt_child_context_error() -> None:
    rebuilt = operation_error_from(
        ChildContextError, error_object(ValueError("x")), operation_id="op-7", name="b"
    )
    assert branch_error(rebuilt, name="b").operation_id == "op-7"
    assert branch_error(ValueError("x")).operation_id is None


def test_decode_maps_errors_when_asked() -> None:
    class Declined(OperationError):
        pass

    payload = BatchResult(
        (BatchItem.success(0, 1), BatchItem.failure(1, KeyError("k"), name="b")), TOL
    ).encode(JsonSerde())
    seen: list[OperationError] = []

    def mapper(error: OperationError) -> OperationError:
        seen.append(error)
        return Declined(error.message, error_type=error.error_type, name=error.name)

    back = BatchResult.decode(payload, JsonSerde(), map_error=mapper)
    assert len(seen) == 1 and isinstance(seen[0], ChildContextError)
    assert seen[0].error_type == "KeyError" and seen[0].name == "b"
    assert isinstance(back.errors()[0], Declined) and back.values() == [1]
    with pytest.raises(Declined):
        back.throw_if_error()


@given(
    st.lists(
        st.sampled_from(["ValueError", "KeyError", "StepError", "ChildContextError"]),
        min_size=1,
        max_size=5,
    ),
    st.text(max_size=20),
)
def test_branch_error_is_idempotent(types: list[str], message: str) -> None:
    # error_object never writes the same type twice in a row
    types = [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]
    links = [f"Caused by: {t}: {message}" for t in types[1:]]
    first = branch_error(ErrorObject(message or None, types[0], stack_trace=links or None))
    again = branch_error(first)
    assert chain(again) == chain(first) and again.stack_trace == first.stack_trace


# --- BatchResult ------------------------------------------------------------------------------


def test_accessors_and_counts() -> None:
    result = sample()
    assert result.values() == [10, None]  # None values are kept
    assert [item.index for item in result.succeeded()] == [0, 2]
    assert [item.index for item in result.failed()] == [1, 4]
    assert [item.index for item in result.started()] == [3, 5]
    assert [e.error_type for e in result.errors()] == ["ValueError", "KeyError"]
    assert (result.success_count, result.failure_count, result.started_count) == (2, 2, 2)
    assert result.total_count == 6
    assert result.status == "FAILED"
    assert result.completion_reason is TOL


def test_status_succeeded_without_failures() -> None:
    result = BatchResult([BatchItem.success(0, 1), BatchItem.started(1)], MIN)
    assert result.status == "SUCCEEDED"
    result.throw_if_error()
    empty: BatchResult[Any] = BatchResult((), ALL)
    assert (empty.total_count, empty.status, empty.values(), empty.errors()) == (
        0,
        "SUCCEEDED",
        [],
        [],
    )


def test_throw_if_error_raises_the_first_failure() -> None:
    with pytest.raises(ChildContextError) as info:
        sample().throw_if_error()
    assert info.value.error_type == "ValueError"
    assert info.value.message == "bad one"
    assert info.value.name == "b"
    assert info.value.is_caused_by(ValueError)


def test_items_are_the_started_branches_in_index_order() -> None:
    with pytest.raises(ValidationError, match="index order, 0 to n-1"):
        BatchResult([BatchItem.success(1, 1)], ALL)
    with pytest.raises(ValidationError, match="got index 0 at position 1"):
        BatchResult([BatchItem.success(0, 1), BatchItem.success(0, 2)], ALL)
    with pytest.raises(ValidationError, match="must hold BatchItem values"):
        BatchResult([Success(1)], ALL)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BatchResult([], "ALL_COMPLETED")  # type: ignore[arg-type]


def test_items_are_stored_as_a_tuple() -> None:
    result = BatchResult([BatchItem.success(0, 1)], ALL)
    assert isinstance(result.items, tuple)
    assert result == BatchResult((BatchItem.success(0, 1),), ALL)


# --- encode / decode --------------------------------------------------------------------------


def test_encode_format() -> None:
    result = BatchResult(
        (
            BatchItem.success(0, {"a": 1}, name="x"),
            BatchItem.failure(1, ErrorObject("no", "KeyError", "d", ("t1",))),
            BatchItem.started(2),
        ),
        ALL,
    )
    payload = result.encode(JsonSerde())
    assert " " not in payload
    assert json.loads(payload) == {
        "all": [
            {"index": 0, "status": "SUCCEEDED", "result": '{"a":1}', "name": "x"},
            {
                "index": 1,
                "status": "FAILED",
                "error": {
                    "ErrorMessage": "no",
                    "ErrorType": "KeyError",
                    "ErrorData": "d",
                    "StackTrace": ["t1"],
                },
            },
            {"index": 2, "status": "STARTED"},
        ],
        "completionReason": "ALL_COMPLETED",
    }


def test_stored_error_is_the_raw_type_with_its_causes() -> None:
    payload = BatchResult((BatchItem.failure(0, step_error_caused_by_value_error()),), TOL).encode(
        JsonSerde()
    )
    error = json.loads(payload)["all"][0]["error"]
    assert error["ErrorType"] == "StepError"
    assert error["StackTrace"][-1] == "Caused by: ValueError: card declined"
    assert not any("ChildContextError" in line for line in error["StackTrace"])


def test_round_trip_with_a_custom_serde_and_typed_errors() -> None:
    result = BatchResult(
        (
            BatchItem.success(0, Point(1, 2), name="p"),
            BatchItem.failure(1, raised(ValueError("bad")), name="q"),
            BatchItem.failure(2, step_error_caused_by_value_error()),
            BatchItem.started(3),
        ),
        MIN,
    )
    payload = result.encode(PointSerde())
    assert json.loads(payload)["all"][0]["result"] == "1;2"
    back = BatchResult.decode(payload, PointSerde())
    assert back.values() == [Point(1, 2)]
    assert back.completion_reason is MIN
    assert [(i.index, i.status, i.name) for i in back.items] == [
        (i.index, i.status, i.name) for i in result.items
    ]
    for old, new in zip(result.items, back.items, strict=True):
        if old.status is ItemStatus.FAILED:
            assert same_error(old.error, new.error)
    first, second = back.errors()
    assert isinstance(first, ChildContextError) and first.error_type == "ValueError"
    assert first.is_caused_by(ValueError) and not first.is_caused_by(KeyError)
    assert second.error_type == "StepError"
    assert second.is_caused_by(StepError) and second.is_caused_by(ValueError)
    assert back.encode(PointSerde()) == payload


def test_round_trip_with_the_typed_json_serde() -> None:
    items: tuple[BatchItem[Point | None], ...] = (
        BatchItem.success(0, Point(3, 4)),
        BatchItem.success(1, None),
    )
    result = BatchResult(items, ALL)
    payload = result.encode(JsonSerde(Point | None))
    assert BatchResult.decode(payload, JsonSerde(Point | None)) == result


def test_decode_of_nameless_items_accepts_null_names() -> None:
    payload = (
        '{"all":[{"index":0,"status":"STARTED","name":null}],"completionReason":"ALL_COMPLETED"}'
    )
    assert BatchResult.decode(payload, JsonSerde()).items == (BatchItem.started(0),)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "expected a JSON object, got list"),
        ('{"completionReason":"ALL_COMPLETED"}', "'all' must be a list, got NoneType"),
        ('{"all":[],"completionReason":"DONE"}', "completionReason must be one of"),
        ('{"all":[3],"completionReason":"ALL_COMPLETED"}', "item 0 must be an object"),
        (
            '{"all":[{"status":"STARTED"}],"completionReason":"ALL_COMPLETED"}',
            "index must be an int",
        ),
        (
            '{"all":[{"index":true,"status":"STARTED"}],"completionReason":"ALL_COMPLETED"}',
            "index must be an int",
        ),
        (
            '{"all":[{"index":0,"status":"RUNNING"}],"completionReason":"ALL_COMPLETED"}',
            "status must be SUCCEEDED, FAILED or STARTED",
        ),
        (
            '{"all":[{"index":0,"status":"SUCCEEDED"}],"completionReason":"ALL_COMPLETED"}',
            "result must be the serialised value",
        ),
        (
            '{"all":[{"index":0,"status":"SUCCEEDED","result":1}],"completionReason":"ALL_COMPLETED"}',
            "result must be the serialised value",
        ),
        (
            '{"all":[{"index":0,"status":"FAILED"}],"completionReason":"ALL_COMPLETED"}',
            "error must be an object",
        ),
        (
            '{"all":[{"index":0,"status":"FAILED","error":{"ErrorType":3}}],"completionReason":"ALL_COMPLETED"}',
            "error ErrorType must be a string",
        ),
        (
            '{"all":[{"index":0,"status":"FAILED","error":{"StackTrace":"x"}}],"completionReason":"ALL_COMPLETED"}',
            "StackTrace must be a list of strings",
        ),
        (
            '{"all":[{"index":0,"status":"STARTED","name":5}],"completionReason":"ALL_COMPLETED"}',
            "name must be a string",
        ),
        (
            '{"all":[{"index":1,"status":"STARTED"}],"completionReason":"ALL_COMPLETED"}',
            "index order",
        ),
    ],
)
def test_decode_refuses_malformed_payloads(payload: str, message: str) -> None:
    with pytest.raises(SerializationError, match="invalid batch result payload") as info:
        BatchResult.decode(payload, JsonSerde())
    assert message in str(info.value)


def test_decode_wraps_a_failing_custom_serde() -> None:
    payload = BatchResult((BatchItem.success(0, Point(1, 2)),), ALL).encode(PointSerde())
    broken = payload.replace("1;2", "oops")
    with pytest.raises(SerializationError, match="cannot deserialise the result of batch item 0"):
        BatchResult.decode(broken, PointSerde())


def test_decode_keeps_the_serdes_own_serialization_error() -> None:
    payload = (
        '{"all":[{"index":0,"status":"SUCCEEDED","result":"{"}],"completionReason":"ALL_COMPLETED"}'
    )
    with pytest.raises(SerializationError, match="payload is not valid JSON"):
        BatchResult.decode(payload, JsonSerde())


# --- the summary envelope ---------------------------------------------------------------------


def test_envelope_lists_the_started_indexes_when_fewer() -> None:
    result = BatchResult(
        (BatchItem.success(0, 1), BatchItem.failure(1, ValueError()), BatchItem.started(2)), TOL
    )
    text = result.summary_envelope("MapResult")
    assert text == (
        '{"type": "MapResult", "totalCount": 3, "completionReason": "FAILURE_TOLERANCE_EXCEEDED", '
        '"startedIndexes": [2], "startedCount": 1, "successCount": 1, "failureCount": 1, '
        '"status": "FAILED"}'
    )
    envelope = BatchResult.parse_envelope(text)
    assert envelope == Envelope(3, TOL, frozenset({2}))


def test_envelope_lists_the_completed_indexes_when_fewer() -> None:
    result = BatchResult((BatchItem.started(0), BatchItem.success(1, 1), BatchItem.started(2)), MIN)
    body = json.loads(result.summary_envelope("ParallelResult", summary="one of three"))
    assert body == {
        "type": "ParallelResult",
        "totalCount": 3,
        "completionReason": "MIN_SUCCESSFUL_REACHED",
        "completedIndexes": [1],
        "startedCount": 2,
        "successCount": 1,
        "failureCount": 0,
        "status": "SUCCEEDED",
        "summary": "one of three",
    }
    envelope = BatchResult.parse_envelope(json.dumps(body))
    assert envelope == Envelope(3, MIN, frozenset({0, 2}), "one of three")


def test_envelope_tie_lists_the_started_indexes() -> None:
    result = BatchResult((BatchItem.started(0), BatchItem.success(1, 1)), MIN)
    body = json.loads(result.summary_envelope("MapResult"))
    assert body["startedIndexes"] == [0] and "completedIndexes" not in body
    empty: BatchResult[Any] = BatchResult((), ALL)
    assert json.loads(empty.summary_envelope("MapResult"))["startedIndexes"] == []


def test_envelope_kind_and_summary_are_checked() -> None:
    with pytest.raises(ValidationError, match="kind must be one of MapResult, ParallelResult"):
        sample().summary_envelope("BatchResult")
    with pytest.raises(ValidationError, match="summary must be a str"):
        sample().summary_envelope("MapResult", summary=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{", "not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"completionReason": "ALL_COMPLETED", "startedIndexes": []}', "totalCount must be"),
        (
            '{"totalCount": -1, "completionReason": "ALL_COMPLETED", "startedIndexes": []}',
            "totalCount must be",
        ),
        (
            '{"totalCount": true, "completionReason": "ALL_COMPLETED", "startedIndexes": []}',
            "totalCount must be",
        ),
        (
            '{"totalCount": 1.0, "completionReason": "ALL_COMPLETED", "startedIndexes": []}',
            "totalCount must be",
        ),
        (
            '{"totalCount": 1, "completionReason": "SOMETHING", "startedIndexes": []}',
            "completionReason must be one of",
        ),
        ('{"totalCount": 1, "startedIndexes": []}', "completionReason must be one of"),
        (
            '{"totalCount": 1, "completionReason": "ALL_COMPLETED"}',
            "neither startedIndexes nor completedIndexes",
        ),
        (
            '{"totalCount": 1, "completionReason": "ALL_COMPLETED", "startedIndexes": 0}',
            "startedIndexes must be a list",
        ),
        (
            '{"totalCount": 1, "completionReason": "ALL_COMPLETED", "startedIndexes": [1]}',
            "ints in [0, 1)",
        ),
        (
            '{"totalCount": 2, "completionReason": "ALL_COMPLETED", "startedIndexes": [-1]}',
            "ints in [0, 2)",
        ),
        (
            '{"totalCount": 2, "completionReason": "ALL_COMPLETED", "startedIndexes": [false]}',
            "ints in [0, 2)",
        ),
        (
            '{"totalCount": 2, "completionReason": "ALL_COMPLETED", "completedIndexes": ["0"]}',
            "completedIndexes must hold ints",
        ),
        (
            '{"totalCount": 0, "completionReason": "ALL_COMPLETED", "completedIndexes": [0]}',
            "ints in [0, 0)",
        ),
        (
            '{"totalCount": 1, "completionReason": "ALL_COMPLETED", "startedIndexes": [], "summary": 1}',
            "summary must be a string",
        ),
    ],
)
def test_invalid_envelopes_are_refused(payload: str, message: str) -> None:
    with pytest.raises(SerializationError, match="invalid summary envelope") as info:
        BatchResult.parse_envelope(payload)
    assert message in str(info.value)


def test_envelope_of_the_protocol_example_parses() -> None:
    text = (
        '{"type": "MapResult", "totalCount": 2, "completionReason": "MIN_SUCCESSFUL_REACHED", '
        '"startedIndexes": [], "startedCount": 0, "successCount": 2, "failureCount": 0, '
        '"status": "SUCCEEDED"}'
    )
    assert BatchResult.parse_envelope(text) == Envelope(2, MIN, frozenset())


# --- properties -------------------------------------------------------------------------------

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
exceptions = st.builds(
    lambda cls, message: raised(cls(message)),
    st.sampled_from([ValueError, KeyError, RuntimeError, OSError, ZeroDivisionError]),
    st.text(max_size=30),
) | st.builds(
    lambda message, data: operation_error_from(
        StepError, error_object(StepError(message, error_type="TimeoutError", data=data))
    ),
    st.text(max_size=30),
    st.none() | st.text(max_size=30),
)


@st.composite
def batches(draw: st.DrawFn) -> BatchResult[Any]:
    n = draw(st.integers(0, 6))
    items: list[BatchItem[Any]] = []
    for i in range(n):
        name = draw(st.none() | st.text(max_size=10))
        kind = draw(st.sampled_from(ItemStatus))
        if kind is ItemStatus.SUCCEEDED:
            items.append(BatchItem.success(i, draw(values), name))
        elif kind is ItemStatus.FAILED:
            items.append(BatchItem.failure(i, draw(exceptions), name))
        else:
            items.append(BatchItem.started(i, name))
    return BatchResult(tuple(items), draw(st.sampled_from(CompletionReason)))


@given(batches())
def test_encode_decode_round_trip(result: BatchResult[Any]) -> None:
    payload = result.encode(JsonSerde())
    back = BatchResult.decode(payload, JsonSerde())
    assert back.completion_reason is result.completion_reason
    assert back.values() == result.values()
    assert [(i.index, i.status, i.name) for i in back.items] == [
        (i.index, i.status, i.name) for i in result.items
    ]
    for old, new in zip(result.items, back.items, strict=True):
        if old.status is ItemStatus.FAILED:
            assert same_error(old.error, new.error)
            assert new.error is not None and old.error is not None
            assert new.error.is_caused_by(old.error.error_type)
    assert back.encode(JsonSerde()) == payload


@given(batches(), st.sampled_from(["MapResult", "ParallelResult"]))
def test_envelope_round_trip(result: BatchResult[Any], kind: str) -> None:
    text = result.summary_envelope(kind)
    body = json.loads(text)
    assert body["type"] == kind
    envelope = BatchResult.parse_envelope(text)
    assert envelope.total_count == result.total_count
    assert envelope.completion_reason is result.completion_reason
    assert envelope.started == frozenset(item.index for item in result.started())
    shorter = min(result.started_count, result.total_count - result.started_count)
    listed = body.get("startedIndexes", body.get("completedIndexes"))
    assert len(listed) == shorter
    if result.started_count * 2 <= result.total_count:  # ties list the started indexes
        assert "startedIndexes" in body and "completedIndexes" not in body
    else:
        assert "completedIndexes" in body and "startedIndexes" not in body


def test_the_checked_constructor_makes_the_same_item_as_the_validating_one():
    error = ChildContextError("boom")
    for args in [
        (0, ItemStatus.SUCCEEDED, Success({"a": 1}), "x"),
        (3, ItemStatus.FAILED, Failure(error), None),
        (7, ItemStatus.STARTED, None, "y"),
    ]:
        checked = BatchItem._checked(*args)
        assert checked == BatchItem(*args)
        assert checked.value == BatchItem(*args).value


def test_a_decoded_batch_item_with_a_negative_index_is_refused():
    payload = '{"all":[{"index":-1,"status":"SUCCEEDED","result":"1"}],"completionReason":"ALL_COMPLETED"}'
    with pytest.raises(SerializationError, match="non-negative"):
        BatchResult.decode(payload, JsonSerde())


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def _batches(draw: Any) -> BatchResult[Any]:
    items = []
    for index in range(draw(st.integers(0, 6))):
        name = draw(st.none() | st.text())
        kind = draw(st.sampled_from(["success", "failure", "started"]))
        if kind == "success":
            items.append(BatchItem.success(index, draw(_json_values), name=name))
        elif kind == "failure":
            error = ErrorObject(
                error_message=draw(st.none() | st.text()),
                error_type=draw(st.none() | st.text()),
                error_data=draw(st.none() | st.text()),
                stack_trace=draw(st.none() | st.lists(st.text(), max_size=2)),
            )
            items.append(BatchItem.failure(index, error, name=name))
        else:
            items.append(BatchItem.started(index, name=name))
    return BatchResult(tuple(items), draw(st.sampled_from(list(CompletionReason))))


@given(_batches())
def test_the_payload_written_piece_by_piece_is_what_json_dumps_writes(batch):
    serde: JsonSerde[Any] = JsonSerde()
    assert batch.encode(serde) == batch._encode_general(serde)
    json.loads(batch.encode(serde))  # (and it is JSON)


def test_a_serde_that_returns_no_str_is_written_the_general_way():
    class Raw:
        def serialize(self, value: Any) -> Any:
            return {"raw": value}  # (not a str: json.dumps writes it as it is)

        def deserialize(self, data: str) -> Any:
            return data

    batch = BatchResult((BatchItem.success(0, 5),), CompletionReason.ALL_COMPLETED)
    assert batch.encode(Raw()) == (  # type: ignore[arg-type]
        '{"all":[{"index":0,"status":"SUCCEEDED","result":{"raw":5}}],'
        '"completionReason":"ALL_COMPLETED"}'
    )
