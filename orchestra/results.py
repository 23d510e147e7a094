"""The outcome of a Map or Parallel batch: :class:`BatchResult` and its checkpoint formats.

A :class:`BatchResult` holds one :class:`BatchItem` per branch that *started*, in index
order (branches never started are omitted, so ``total_count`` counts started branches, not
inputs), and the :class:`~orchestra.completion.CompletionReason`. A failed branch does not
fail the batch: the Map or Parallel operation succeeds with a result whose ``status`` is
``"FAILED"``; call :meth:`BatchResult.throw_if_error` to raise the first failure.

**Errors.** A failed item holds a :class:`~orchestra.errors.ChildContextError` whose
``error_type`` is the *raw* type that escaped the branch (``"ValueError"``, or
``"StepError"`` for a failed step the branch did not catch), with the rest of the cause
chain below it, so ``is_caused_by(ValueError)`` holds; that is what :func:`branch_error`
builds, and what :meth:`BatchResult.decode` rebuilds from the checkpoint. A
:class:`BatchItem` built with a plain exception normalises it to that form at once; an
:class:`~orchestra.errors.OperationError` (such as the output of an error mapper) is kept as
given, and stored as the error that escaped the branch.

**Checkpoint formats.** :meth:`BatchResult.encode` writes the compact JSON that the Map or
Parallel CONTEXT stores; each value is stored as its item serde's output string (so any
serde works) and each error as the service's error object. When that is too large, the
operation stores the plain :meth:`BatchResult.summary_envelope` instead, read back with
:meth:`BatchResult.parse_envelope`.

Example:
    >>> from returns.result import Success
    >>> from orchestra.completion import CompletionReason
    >>> from orchestra.serde import JsonSerde
    >>> result = BatchResult(
    ...     (BatchItem.success(0, 10), BatchItem.failure(1, ValueError("bad")),
    ...      BatchItem.started(2)),
    ...     CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
    ... )
    >>> result.values(), result.status, result.started_count
    ([10], 'FAILED', 1)
    >>> result.errors()[0].error_type, result.errors()[0].is_caused_by(ValueError)
    ('ValueError', True)
    >>> payload = result.encode(JsonSerde())
    >>> payload[:53]
    '{"all":[{"index":0,"status":"SUCCEEDED","result":"10"'
    >>> BatchResult.decode(payload, JsonSerde()).values()
    [10]
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Generic, Literal, TypeVar, final

import attrs
from returns.result import Failure, Result, Success

from orchestra.completion import CompletionReason
from orchestra.errors import (
    ChildContextError,
    OperationError,
    SerializationError,
    ValidationError,
    describe_value,
    error_object,
    operation_error_from,
)
from orchestra.serde import Serde
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import ErrorObject

__all__ = ["BatchItem", "BatchResult", "Envelope", "ItemStatus", "branch_error"]

T = TypeVar("T")

_CAUSE_PREFIX = "Caused by: "
_MAX_TYPE_CHARS = 256
_ENVELOPE_KINDS = ("MapResult", "ParallelResult")


class ItemStatus(enum.Enum):
    """The state of one branch of a batch."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


#: Each status as a payload writes it (``status.value`` without the enum's descriptor).
_STATUS_TEXT = {status: status.value for status in ItemStatus}


# --- errors ----------------------------------------------------------------------------------


def _raw_error_object(error: BaseException) -> ErrorObject:
    """The error object of the *escaping* error that ``error`` stands for.

    A :class:`ChildContextError` stands for the error that escaped its body: its
    ``error_type`` (the first link of its cause chain) becomes the object's type, and that
    link is taken off the stack trace. Any other error is the escaping error itself.
    """
    obj = error_object(error)
    if not isinstance(error, ChildContextError) or error.error_type == "ChildContextError":
        return obj
    lines = list(obj.stack_trace or ())
    start = len(lines)
    while start > 0 and lines[start - 1].startswith(_CAUSE_PREFIX):
        start -= 1
    if start < len(lines):  # the link naming error.error_type
        del lines[start]
    raw_type = error.error_type
    if len(raw_type) > _MAX_TYPE_CHARS:
        raw_type = raw_type[: _MAX_TYPE_CHARS - 1] + "…"
    return attrs.evolve(obj, error_type=raw_type, stack_trace=lines or None)


def branch_error(error: BaseException | ErrorObject, *, name: str | None = None) -> OperationError:
    """The :class:`ChildContextError` a failed branch is reported as.

    ``error`` is what escaped the branch (any exception), a :class:`ChildContextError` that
    already stands for it (as a failed child context is rebuilt; its ``operation_id`` is
    kept), or the raw error object checkpointed for the branch. The result is what
    :meth:`BatchResult.decode` rebuilds from the checkpoint.

    Example:
        >>> err = branch_error(KeyError("card"), name="charge-1")
        >>> err, err.name, err.is_caused_by(LookupError)
        (ChildContextError("'card'", error_type='KeyError'), 'charge-1', True)
        >>> branch_error(err).error_type  # idempotent
        'KeyError'
    """
    if isinstance(error, ErrorObject):
        return operation_error_from(ChildContextError, error, name=name)
    operation_id = error.operation_id if isinstance(error, OperationError) else None
    return operation_error_from(
        ChildContextError, _raw_error_object(error), operation_id=operation_id, name=name
    )


_RESULT_TYPES: dict[ItemStatus, type[Any]] = {
    ItemStatus.SUCCEEDED: Success,
    ItemStatus.FAILED: Failure,
    ItemStatus.STARTED: type(None),
}


# --- items -----------------------------------------------------------------------------------


def _check_index(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"BatchItem.{attribute.name} must be a non-negative int, got {describe_value(value)}"
        )


@final
@attrs.frozen
class BatchItem(Generic[T]):
    """One branch of a batch: its index, state and outcome.

    Attributes:
        index: the branch's index (the item's position for a Map).
        status: SUCCEEDED, FAILED, or STARTED (started but not ended when the batch ended).
        result: ``Success(value)``, ``Failure(error)``, or ``None`` while STARTED. A
            failure with an exception that is not an :class:`OperationError` is normalised
            with :func:`branch_error`; an :class:`OperationError` is kept as given.
        name: the branch's name, if it has one.

    Example:
        >>> BatchItem.success(0, "a").value, BatchItem.started(1).value
        ('a', None)
        >>> BatchItem(0, ItemStatus.SUCCEEDED, None)
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: BatchItem 0 is SUCCEEDED, so its result must be a Success, got NoneType None
    """  # noqa: E501

    index: int = attrs.field(validator=_check_index)
    status: ItemStatus = attrs.field(validator=attrs.validators.instance_of(ItemStatus))
    result: Result[T, OperationError] | None = attrs.field()
    name: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )

    def __attrs_post_init__(self) -> None:
        expected = _RESULT_TYPES[self.status]
        if not isinstance(self.result, expected):
            what = "None" if expected is type(None) else f"a {expected.__name__}"
            raise ValidationError(
                f"BatchItem {self.index} is {self.status.value}, so its result must be "
                f"{what}, got {describe_value(self.result)}"
            )
        if isinstance(self.result, Failure):
            error = self.result.failure()
            if not isinstance(error, BaseException):
                raise ValidationError(
                    f"BatchItem {self.index} failed with {describe_value(error)}, not an exception"
                )
            if not isinstance(error, OperationError):
                object.__setattr__(self, "result", Failure(branch_error(error, name=self.name)))

    @classmethod
    def _checked(
        cls,
        index: int,
        status: ItemStatus,
        result: Result[T, OperationError] | None,
        name: str | None,
    ) -> BatchItem[T]:
        """An item whose fields orchestra already checked (a Map's own bookkeeping).

        The caller guarantees what the validators would: ``index`` a non-negative int,
        ``result`` of the status's kind with an :class:`OperationError` in a ``Failure``,
        ``name`` a str or ``None``. A Map makes two per item, so the checks are not paid again.
        """
        item: BatchItem[T] = object.__new__(cls)
        setter = object.__setattr__
        setter(item, "index", index)
        setter(item, "status", status)
        setter(item, "result", result)
        setter(item, "name", name)
        return item

    @classmethod
    def success(cls, index: int, value: T, name: str | None = None) -> BatchItem[T]:
        """A branch that succeeded with ``value``."""
        return cls(index, ItemStatus.SUCCEEDED, Success(value), name)

    @classmethod
    def failure(
        cls, index: int, error: BaseException | ErrorObject, name: str | None = None
    ) -> BatchItem[Any]:
        """A branch that failed with ``error`` (see :func:`branch_error`).

        Example:
            >>> BatchItem.failure(3, ValueError("no")).error
            ChildContextError('no', error_type='ValueError')
        """
        failure = branch_error(error, name=name)
        return cls(index, ItemStatus.FAILED, Failure(failure), name)

    @classmethod
    def started(cls, index: int, name: str | None = None) -> BatchItem[Any]:
        """A branch that started but had not ended when the batch ended."""
        return cls(index, ItemStatus.STARTED, None, name)

    @property
    def value(self) -> T | None:
        """The value of a succeeded branch, else ``None``."""
        if isinstance(self.result, Success):
            return self.result.unwrap()  # type: ignore[no-any-return]
        return None

    @property
    def error(self) -> OperationError | None:
        """The error of a failed branch, else ``None``."""
        if isinstance(self.result, Failure):
            return self.result.failure()  # type: ignore[no-any-return]
        return None


# --- the envelope ----------------------------------------------------------------------------


@final
@attrs.frozen
class Envelope:
    """What the summary envelope of a large batch records (see :meth:`BatchResult.parse_envelope`).

    Attributes:
        total_count: the number of branches that started (indexes ``0`` to ``total - 1``).
        completion_reason: why the batch ended.
        started: the indexes of the branches still STARTED when it ended.
        summary: the user's summary text, if one was written.
    """

    total_count: int
    completion_reason: CompletionReason
    started: frozenset[int]
    summary: str | None = None


# --- the batch -------------------------------------------------------------------------------


def _as_items(items: Iterable[BatchItem[T]]) -> tuple[BatchItem[T], ...]:
    return tuple(items)


def _check_items(_: Any, __: attrs.Attribute[Any], items: tuple[Any, ...]) -> None:
    for position, item in enumerate(items):
        if not isinstance(item, BatchItem):
            raise ValidationError(
                f"BatchResult.items must hold BatchItem values, got {describe_value(item)}"
            )
        if item.index != position:
            raise ValidationError(
                "BatchResult.items must be the started branches in index order, 0 to n-1 "
                f"(branches start in index order), got index {item.index} at position {position}"
            )


@final
@attrs.frozen
class BatchResult(Generic[T]):
    """The outcome of a Map or Parallel batch.

    Attributes:
        items: one item per started branch, in index order (``items[i].index == i``).
        completion_reason: why the batch ended.

    Example:
        >>> result = BatchResult((BatchItem.success(0, None), BatchItem.success(1, 2)),
        ...                      CompletionReason.ALL_COMPLETED)
        >>> result.values(), result.success_count, result.status
        ([None, 2], 2, 'SUCCEEDED')
    """

    items: tuple[BatchItem[T], ...] = attrs.field(converter=_as_items, validator=_check_items)
    completion_reason: CompletionReason = attrs.field(
        validator=attrs.validators.instance_of(CompletionReason)
    )

    def values(self) -> list[T]:
        """The values of the succeeded branches, in index order.

        A branch that returned ``None`` contributes ``None`` (unlike the reference SDK,
        which skips them), so ``len(values()) == success_count`` and values line up with
        :meth:`succeeded`.
        """
        return [item.value for item in self.succeeded()]  # type: ignore[misc]

    def errors(self) -> list[OperationError]:
        """The errors of the failed branches, in index order."""
        return [item.error for item in self.failed() if item.error is not None]

    def succeeded(self) -> list[BatchItem[T]]:
        """The succeeded branches (``None`` values included), in index order."""
        return [item for item in self.items if item.status is ItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[T]]:
        """The failed branches, in index order."""
        return [item for item in self.items if item.status is ItemStatus.FAILED]

    def started(self) -> list[BatchItem[T]]:
        """The branches still running when the batch ended, in index order."""
        return [item for item in self.items if item.status is ItemStatus.STARTED]

    @property
    def success_count(self) -> int:
        """The number of succeeded branches."""
        return len(self.succeeded())

    @property
    def failure_count(self) -> int:
        """The number of failed branches."""
        return len(self.failed())

    @property
    def started_count(self) -> int:
        """The number of branches still running when the batch ended."""
        return len(self.started())

    @property
    def total_count(self) -> int:
        """The number of branches that started (not the number of inputs)."""
        return len(self.items)

    @property
    def status(self) -> Literal["SUCCEEDED", "FAILED"]:
        """``"FAILED"`` if any branch failed, else ``"SUCCEEDED"``."""
        return "FAILED" if self.failure_count else "SUCCEEDED"

    def throw_if_error(self) -> None:
        """Raise the first failed branch's error (a :class:`ChildContextError`), if any.

        Example:
            >>> BatchResult((BatchItem.failure(0, KeyError("k")),),
            ...             CompletionReason.FAILURE_TOLERANCE_EXCEEDED).throw_if_error()
            Traceback (most recent call last):
            ...
            orchestra.errors.ChildContextError: 'k'
        """
        for error in self.errors():
            raise error

    # --- the checkpoint payload ---------------------------------------------------------------

    def encode(self, item_serde: Serde[Any]) -> str:
        """The compact JSON payload of the batch, each value written by ``item_serde``.

        Example:
            >>> from orchestra.serde import JsonSerde
            >>> BatchResult((BatchItem.started(0, name="b"),),
            ...             CompletionReason.MIN_SUCCESSFUL_REACHED).encode(JsonSerde())
            '{"all":[{"index":0,"status":"STARTED","name":"b"}],"completionReason":"MIN_SUCCESSFUL_REACHED"}'
        """
        # Written piece by piece, exactly as json.dumps(body, separators=(",", ":")) would
        # write {"all": [entry, ...], "completionReason": reason} (a Map's thousands of
        # entries cost half as much); a serde that returns no str goes the general way.
        pieces: list[str] = []
        append = pieces.append
        serialize = item_serde.serialize
        text = encode_basestring_ascii
        for item in self.items:
            result = item.result
            status = item.status
            piece = f'{{"index":{int.__repr__(item.index)},"status":"{_STATUS_TEXT[status]}"'
            if isinstance(result, Success):
                payload = serialize(result.unwrap())
                if type(payload) is not str:
                    return self._encode_general(item_serde)
                piece += ',"result":' + text(payload)
            elif isinstance(result, Failure):
                error = to_wire(_raw_error_object(result.failure()))
                piece += ',"error":' + json.dumps(error, separators=(",", ":"))
            if item.name is not None:
                piece += ',"name":' + text(item.name)
            append(piece + "}")
        reason = text(self.completion_reason.value)
        return '{"all":[' + ",".join(pieces) + '],"completionReason":' + reason + "}"

    def _encode_general(self, item_serde: Serde[Any]) -> str:
        """:meth:`encode` through ``json.dumps`` (the reference the fast way matches)."""
        entries: list[dict[str, Any]] = []
        for item in self.items:
            result = item.result
            entry: dict[str, Any] = {"index": item.index, "status": item.status.value}
            if isinstance(result, Success):
                entry["result"] = item_serde.serialize(result.unwrap())
            elif isinstance(result, Failure):
                entry["error"] = to_wire(_raw_error_object(result.failure()))
            if item.name is not None:
                entry["name"] = item.name
            entries.append(entry)
        body = {"all": entries, "completionReason": self.completion_reason.value}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(
        cls,
        payload: str,
        item_serde: Serde[Any],
        *,
        map_error: Callable[[OperationError], OperationError] | None = None,
    ) -> BatchResult[Any]:
        """Read back :meth:`encode`'s payload, each value read by ``item_serde``.

        Each failed item's error is rebuilt with :func:`branch_error` (a
        :class:`ChildContextError` carrying the raw type, named after the item), then passed
        through ``map_error`` if given.

        Raises:
            SerializationError: the payload is not such a batch (the message says why).

        Example:
            >>> from orchestra.serde import JsonSerde
            >>> BatchResult.decode('{"all":[]}', JsonSerde())
            Traceback (most recent call last):
            ...
            orchestra.errors.SerializationError: invalid batch result payload: completionReason must be one of ALL_COMPLETED, MIN_SUCCESSFUL_REACHED, FAILURE_TOLERANCE_EXCEEDED, got NoneType None
        """  # noqa: E501
        try:
            body = json.loads(payload)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"invalid batch result payload: not JSON: {exc}") from exc
        try:
            if not isinstance(body, dict):
                raise _Invalid(f"expected a JSON object, got {describe_value(body)}")
            reason = _reason(body.get("completionReason"), "completionReason")
            entries = body.get("all")
            if not isinstance(entries, list):
                raise _Invalid(f"'all' must be a list, got {describe_value(entries)}")
            items = [
                _decode_item(entry, position, item_serde, map_error)
                for position, entry in enumerate(entries)
            ]
            return cls(tuple(items), reason)
        except _Invalid as exc:
            raise SerializationError(f"invalid batch result payload: {exc}") from None
        except ValidationError as exc:
            raise SerializationError(f"invalid batch result payload: {exc}") from exc

    # --- the summary envelope -----------------------------------------------------------------

    def summary_envelope(self, kind: str, summary: str | None = None) -> str:
        """The plain JSON envelope stored instead of a batch too large to checkpoint.

        It lists the indexes of the STARTED branches (``startedIndexes``) or of the ended
        ones (``completedIndexes``), whichever list is shorter (``startedIndexes`` on a
        tie), and the counts; a replay reads each ended branch from its own checkpoint.

        Args:
            kind: ``"MapResult"`` or ``"ParallelResult"``.
            summary: the user's summary text, if any.

        Example:
            >>> BatchResult((BatchItem.success(0, 1), BatchItem.success(1, 2)),
            ...             CompletionReason.MIN_SUCCESSFUL_REACHED).summary_envelope("MapResult")
            '{"type": "MapResult", "totalCount": 2, "completionReason": "MIN_SUCCESSFUL_REACHED", "startedIndexes": [], "startedCount": 0, "successCount": 2, "failureCount": 0, "status": "SUCCEEDED"}'
        """  # noqa: E501
        if kind not in _ENVELOPE_KINDS:
            raise ValidationError(
                f"summary envelope kind must be one of {', '.join(_ENVELOPE_KINDS)}, "
                f"got {describe_value(kind)}"
            )
        if summary is not None and not isinstance(summary, str):
            raise ValidationError(f"summary must be a str or None, got {describe_value(summary)}")
        started = [item.index for item in self.started()]
        completed = [item.index for item in self.items if item.status is not ItemStatus.STARTED]
        envelope: dict[str, Any] = {
            "type": kind,
            "totalCount": self.total_count,
            "completionReason": self.completion_reason.value,
        }
        if len(started) <= len(completed):
            envelope["startedIndexes"] = started
        else:
            envelope["completedIndexes"] = completed
        envelope.update(
            startedCount=self.started_count,
            successCount=self.success_count,
            failureCount=self.failure_count,
            status=self.status,
        )
        if summary is not None:
            envelope["summary"] = summary
        return json.dumps(envelope)

    @staticmethod
    def parse_envelope(payload: str) -> Envelope:
        """Read a summary envelope back.

        It is valid only if ``totalCount`` is a non-negative int, ``completionReason`` a
        known reason, and ``startedIndexes`` (else ``completedIndexes``) a list of ints in
        ``[0, totalCount)``; the counts and status are not needed and not checked.

        Raises:
            SerializationError: the payload is not a valid envelope.

        Example:
            >>> envelope = BatchResult.parse_envelope(
            ...     '{"totalCount": 3, "completionReason": "ALL_COMPLETED", "completedIndexes": [0]}')
            >>> sorted(envelope.started)
            [1, 2]
        """  # noqa: E501
        try:
            body = json.loads(payload)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"invalid summary envelope: not JSON: {exc}") from exc
        try:
            if not isinstance(body, dict):
                raise _Invalid(f"expected a JSON object, got {describe_value(body)}")
            total = body.get("totalCount")
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise _Invalid(
                    f"totalCount must be a non-negative int, got {describe_value(total)}"
                )
            reason = _reason(body.get("completionReason"), "completionReason")
            summary = body.get("summary")
            if summary is not None and not isinstance(summary, str):
                raise _Invalid(f"summary must be a string, got {describe_value(summary)}")
            if "startedIndexes" in body:
                started = _indexes(body["startedIndexes"], "startedIndexes", total)
            elif "completedIndexes" in body:
                completed = _indexes(body["completedIndexes"], "completedIndexes", total)
                started = frozenset(range(total)) - completed
            else:
                raise _Invalid("neither startedIndexes nor completedIndexes is present")
        except _Invalid as exc:
            raise SerializationError(f"invalid summary envelope: {exc}") from None
        return Envelope(total, reason, started, summary)


class _Invalid(Exception):
    """A payload is malformed (turned into a SerializationError with context)."""


def _reason(value: Any, what: str) -> CompletionReason:
    if isinstance(value, str) and value in CompletionReason.__members__:
        return CompletionReason[value]
    known = ", ".join(CompletionReason.__members__)
    raise _Invalid(f"{what} must be one of {known}, got {describe_value(value)}")


def _indexes(value: Any, what: str, total: int) -> frozenset[int]:
    if not isinstance(value, list):
        raise _Invalid(f"{what} must be a list, got {describe_value(value)}")
    for index in value:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
            raise _Invalid(f"{what} must hold ints in [0, {total}), got {describe_value(index)}")
    return frozenset(value)


_ERROR_FIELDS = ("ErrorMessage", "ErrorType", "ErrorData")


def _decode_error(value: Any, where: str) -> ErrorObject:
    if not isinstance(value, Mapping):
        raise _Invalid(f"{where}: error must be an object, got {describe_value(value)}")
    for key in _ERROR_FIELDS:
        field = value.get(key)
        if field is not None and not isinstance(field, str):
            raise _Invalid(f"{where}: error {key} must be a string, got {describe_value(field)}")
    trace = value.get("StackTrace")
    if trace is not None and (
        not isinstance(trace, list) or not all(isinstance(line, str) for line in trace)
    ):
        raise _Invalid(f"{where}: error StackTrace must be a list of strings")
    return from_wire(dict(value), ErrorObject)


def _decode_item(
    entry: Any,
    position: int,
    item_serde: Serde[Any],
    map_error: Callable[[OperationError], OperationError] | None,
) -> BatchItem[Any]:
    where = f"item {position}"
    if not isinstance(entry, Mapping):
        raise _Invalid(f"{where} must be an object, got {describe_value(entry)}")
    index = entry.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise _Invalid(f"{where}: index must be an int, got {describe_value(index)}")
    status_text = entry.get("status")
    if not isinstance(status_text, str) or status_text not in ItemStatus.__members__:
        raise _Invalid(
            f"{where}: status must be SUCCEEDED, FAILED or STARTED, "
            f"got {describe_value(status_text)}"
        )
    status = ItemStatus[status_text]
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise _Invalid(f"{where}: name must be a string, got {describe_value(name)}")
    if status is ItemStatus.SUCCEEDED:
        text = entry.get("result")
        if not isinstance(text, str):
            raise _Invalid(
                f"{where}: result must be the serialised value (a string), "
                f"got {describe_value(text)}"
            )
        try:
            value = item_serde.deserialize(text)
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot deserialise the result of batch item {index} with {item_serde!r}: {exc}"
            ) from exc
        if index < 0:
            raise _Invalid(f"{where}: index must be a non-negative int, got {index}")
        return BatchItem._checked(index, status, Success(value), name)
    if status is ItemStatus.FAILED:
        error = branch_error(_decode_error(entry.get("error"), where), name=name)
        return BatchItem(index, status, Failure(map_error(error) if map_error else error), name)
    return BatchItem.started(index, name)
