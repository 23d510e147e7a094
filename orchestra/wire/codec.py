"""The wire models' structure and unstructure functions, built from tables instead of code.

cattrs can generate these functions (``cattrs.gen.make_dict_structure_fn`` and friends), but
it writes and compiles Python source for every model the first time the model is converted:
several milliseconds that every Lambda cold start paid on its first event and its first
checkpoint. Here each model gets a table of its fields, read from the attrs fields'
annotations when this module is imported (plain string parsing: ``models.py`` postpones its
annotations), and two closures walk the table. Nothing is compiled and nothing is dispatched
through cattrs per field. :mod:`orchestra.wire.converter` registers the closures on its
converter.

The behaviour is the generated functions' one, error reports included:

* **structure** reads the PascalCase key of every field (fields marked
  :data:`~orchestra.wire.models.NOT_ON_WIRE` excepted), ignores unknown keys, leaves absent
  optional fields to the model's defaults, and on bad input raises what cattrs raises with
  detailed validation: a :class:`cattrs.ClassValidationError` grouping every failing field,
  each exception noted with the field (:class:`cattrs.AttributeValidationNote`) and, inside
  lists, the index (:class:`cattrs.IterableValidationNote`), so ``cattrs.transform_error``
  reports the same paths.
* **unstructure** writes a field unless it equals its default (``None``, an empty list, an
  empty state), fields without a default always.

Each structure function has two paths. The fast one handles a plain ``dict``: it walks the
dictionary's keys (a page of operations carries few of the fields it could), and it gives
up at the first exception of any kind. The exact one then starts over, field by field in
the model's order, exactly as the generated function does, and reports. Every conversion is
a pure function of its input, so the two paths agree whenever the fast one finishes, and a
malformed input is reported once, by the exact path.

Example:
    >>> from orchestra.wire.models import ErrorObject
    >>> STRUCTURE[ErrorObject]({"ErrorType": "E", "StackTrace": ["a"], "New": 1})
    ErrorObject(error_message=None, error_type='E', error_data=None, stack_trace=('a',))
    >>> UNSTRUCTURE[ErrorObject](ErrorObject(error_type="E"))
    {'ErrorType': 'E'}
"""

from __future__ import annotations

import builtins
import enum
import sys
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from types import NoneType, UnionType
from typing import Any

import attrs

from orchestra.wire import models
from orchestra.wire.models import NOT_ON_WIRE, Event, WireEnum

__all__ = [
    "STRUCTURE",
    "UNSTRUCTURE",
    "datetime_from_wire",
    "datetime_to_wire",
    "optional_bool",
    "optional_datetime",
    "optional_int",
    "optional_str",
    "pascal",
    "wire_enum_from_wire",
]

#: One value to another: how a field's value is read or written.
Convert = Callable[[Any], Any]


def _cattrs() -> Any:
    """The cattrs module, for its error classes: imported on the first error only.

    Reading and writing valid input never needs it, and importing cattrs costs a Lambda
    cold start about 9 ms.
    """
    import cattrs

    return cattrs


def pascal(name: str) -> str:
    """Return the service's PascalCase spelling of a snake_case field name.

    Example:
        >>> pascal("next_attempt_delay_seconds")
        'NextAttemptDelaySeconds'
    """
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# --- scalars ---------------------------------------------------------------------------------

#: Numbers below this are epoch *seconds* (as JSON APIs and the AWS CLI write them); above,
#: epoch milliseconds (as the invocation event writes them). 1e11 s is the year 5138;
#: 1e11 ms is 1973.
_SECONDS_BELOW = 1e11


def datetime_from_wire(value: Any, _: Any = None) -> datetime:
    """Read a timestamp: epoch milliseconds or seconds, ISO-8601, or a ``datetime``.

    A naive ``datetime`` or ISO string is taken as UTC.

    Args:
        value: what the service (or boto3) sent.
        _: the target type, as cattrs passes it; ignored.

    Raises:
        TypeError: for anything else.

    Example:
        >>> datetime_from_wire(1767225600000) == datetime_from_wire(1767225600.0)
        True
        >>> datetime_from_wire("2026-01-01T00:00:00Z").isoformat()
        '2026-01-01T00:00:00+00:00'
    """
    kind = value.__class__
    if kind is int or kind is float:  # the common case first; the same as the test below
        seconds = value if abs(value) < _SECONDS_BELOW else value / 1000
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value if abs(value) < _SECONDS_BELOW else value / 1000
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(
        f"expected epoch milliseconds, epoch seconds, ISO-8601 or a datetime, "
        f"got {type(value).__name__}"
    )


def datetime_to_wire(value: datetime) -> int:
    """Write a timestamp as epoch milliseconds.

    Example:
        >>> datetime_to_wire(datetime(2026, 1, 1, tzinfo=UTC))
        1767225600000
    """
    return int(value.timestamp() * 1000)


def wire_enum_from_wire(value: Any, cls: type[WireEnum]) -> WireEnum:
    """Read a service enumeration: a known member, or an unknown one for a new value.

    Raises:
        TypeError: when ``value`` is not a string.

    Example:
        >>> from orchestra.wire.models import OperationStatus
        >>> wire_enum_from_wire("PAUSED", OperationStatus).is_known
        False
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    return cls.unknown(value)


def optional_str(value: Any, _: Any = None) -> str | None:
    """``None``, or ``value`` as a string (cattrs' reading of ``str | None``).

    Example:
        >>> optional_str(None), optional_str(5)
        (None, '5')
    """
    return value if value is None or type(value) is str else str(value)


def optional_int(value: Any, _: Any = None) -> int | None:
    """``None``, or ``value`` as an integer (cattrs' reading of ``int | None``).

    Example:
        >>> optional_int("7")
        7
    """
    return value if value is None or type(value) is int else int(value)


def optional_bool(value: Any, _: Any = None) -> bool | None:
    """``None``, or ``value`` as a boolean (cattrs' reading of ``bool | None``).

    Example:
        >>> optional_bool(1)
        True
    """
    return value if value is None or type(value) is bool else bool(value)


def optional_datetime(value: Any, _: Any = None) -> datetime | None:
    """``None``, or ``value`` read by :func:`datetime_from_wire`.

    Example:
        >>> optional_datetime(None) is None
        True
    """
    return None if value is None else datetime_from_wire(value)


#: The readers of the optional scalars; the same functions the converter registers.
OPTIONAL_SCALARS: dict[Any, Convert] = {
    str: optional_str,
    int: optional_int,
    bool: optional_bool,
    datetime: optional_datetime,
}


def _wire_enum(cls: type[WireEnum]) -> Convert:
    members = cls._value2member_map_.get

    def structure(value: Any) -> Any:
        if value.__class__ is str:
            member = members(value)
            if member is not None:
                return member
        return wire_enum_from_wire(value, cls)

    return structure


def _strict_enum(cls: type[enum.Enum]) -> Convert:
    members = cls._value2member_map_.get

    def structure(value: Any) -> Any:
        if value.__class__ is str:
            member = members(value)
            if member is not None:
                return member
        return cls(value)  # raises ValueError for a value it does not know

    return structure


def _datetime(value: Any) -> datetime:
    return datetime_from_wire(value)


_enum_value = attrgetter("value")


# --- containers ------------------------------------------------------------------------------


class _Lazy:
    """A field's annotation evaluated only when a report needs it (never on success)."""

    __slots__ = ("arg", "cls", "name")

    def __init__(self, cls: type, name: str, arg: bool = False) -> None:
        self.cls = cls
        self.name = name
        self.arg = arg  # the non-None member of an optional annotation, not the union

    def get(self) -> Any:
        hints = _HINTS.get(self.cls)
        if hints is None:
            hints = _HINTS[self.cls] = typing.get_type_hints(self.cls, include_extras=True)
        found = hints[self.name]
        if self.arg:
            found = next(a for a in typing.get_args(found) if a is not NoneType)
        return found


_HINTS: dict[type, dict[str, Any]] = {}


def _sequence(element: Convert, declared: _Lazy, to_tuple: bool) -> Convert:
    """Read an iterable of ``element`` into a list (or a tuple), as cattrs does."""

    def exact(value: Any) -> Any:
        errors: list[Exception] = []
        out = []
        index = 0
        for item in value:
            try:
                out.append(element(item))
            except Exception as exc:
                kind = declared.get()
                note = _cattrs().IterableValidationNote(
                    f"Structuring {kind} @ index {index}", index, typing.get_args(kind)[0]
                )
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
            finally:
                index += 1
        if errors:
            kind = declared.get()
            raise _cattrs().IterableValidationError(f"While structuring {kind!r}", errors, kind)
        return tuple(out) if to_tuple else out

    def structure(value: Any) -> Any:
        if value.__class__ is list:
            try:
                out = [element(item) for item in value]
            except Exception:
                return exact(value)
            return tuple(out) if to_tuple else out
        return exact(value)

    return structure


def _optional(inner: Convert) -> Convert:
    def structure(value: Any) -> Any:
        return None if value is None else inner(value)

    return structure


def _each(element: Convert | None) -> Convert:
    if element is None:
        return list

    def unstructure(value: Any) -> list[Any]:
        return [element(item) for item in value]

    return unstructure


def _optional_out(inner: Convert) -> Convert:
    def unstructure(value: Any) -> Any:
        return None if value is None else inner(value)

    return unstructure


# --- annotations -----------------------------------------------------------------------------


def _parse(annotation: Any, namespace: Mapping[str, Any]) -> tuple[bool, str | None, Any]:
    """Split a field annotation into (optional, container, element type).

    The forms the models use: ``T``, ``T | None``, ``list[T]``, ``tuple[T, ...] | None``,
    as postponed strings or as evaluated types.

    Example:
        >>> _parse("tuple[str, ...] | None", {})
        (True, 'tuple', <class 'str'>)
        >>> _parse(list[int], {})
        (False, 'list', <class 'int'>)
    """
    if isinstance(annotation, str):
        text = annotation.strip()
        optional = text.endswith("| None")
        if optional:
            text = text[: -len("| None")].strip()
        container = None
        if text.endswith("]"):
            head, _, inner = text[:-1].partition("[")
            if head == "tuple" and inner.endswith(", ..."):
                container, text = "tuple", inner[: -len(", ...")].strip()
            elif head == "list":
                container, text = "list", inner.strip()
            else:
                raise TypeError(f"unsupported wire annotation {annotation!r}")
        if text in namespace:
            return optional, container, namespace[text]
        if isinstance(getattr(builtins, text, None), type):
            return optional, container, getattr(builtins, text)
        raise TypeError(f"unsupported wire annotation {annotation!r}")
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (UnionType, typing.Union):
        others = [a for a in args if a is not NoneType]
        if len(others) != 1 or len(args) != 2:
            raise TypeError(f"unsupported wire annotation {annotation!r}")
        optional, annotation = True, others[0]
        args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is list and len(args) == 1:
        return optional, "list", args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return optional, "tuple", args[0]
    if isinstance(annotation, type) and origin is None:
        return optional, None, annotation
    raise TypeError(f"unsupported wire annotation {annotation!r}")


# --- models ----------------------------------------------------------------------------------

#: The structure function of every wire model (except :class:`Event`, whose shape is its
#: own): ``STRUCTURE[cls](data)``, or ``STRUCTURE[cls](data, cls)`` as cattrs calls a hook.
STRUCTURE: dict[type, Callable[..., Any]] = {}
#: The unstructure function of every wire model (except :class:`Event`).
UNSTRUCTURE: dict[type, Convert] = {}

_ALWAYS, _UNLESS_NONE, _UNLESS_DEFAULT = 0, 1, 2


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and attrs.has(cls) and cls.__module__ == models.__name__


def _element_in(base: Any) -> Convert:
    """How a value of the (non-optional, non-container) type ``base`` is read."""
    if _is_model(base):
        return _structure_of(base)
    if isinstance(base, type) and issubclass(base, WireEnum):
        return _wire_enum(base)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return _strict_enum(base)
    if base is datetime:
        return _datetime
    if base in (str, int, bool, float):
        return base  # type: ignore[no-any-return]
    raise TypeError(f"no wire reading for {base!r}")


def _element_out(base: Any) -> Convert | None:
    """How a value of ``base`` is written; ``None`` when it is written as it is."""
    if _is_model(base):
        return _unstructure_of(base)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return _enum_value
    if base is datetime:
        return datetime_to_wire
    if base in (str, int, bool, float):
        return None
    raise TypeError(f"no wire writing for {base!r}")


def _wire_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [f for f in attrs.fields(cls) if f.init and not f.metadata.get(NOT_ON_WIRE)]


def _reader(cls: type, field: attrs.Attribute[Any], namespace: Mapping[str, Any]) -> Convert:
    optional, container, base = _parse(field.type, namespace)
    if container is None:
        if optional and base in OPTIONAL_SCALARS:
            return OPTIONAL_SCALARS[base]
        read = _element_in(base)
    else:
        read = _sequence(_element_in(base), _Lazy(cls, field.name, optional), container == "tuple")
    return _optional(read) if optional else read


def _writer(field: attrs.Attribute[Any], namespace: Mapping[str, Any]) -> Convert | None:
    optional, container, base = _parse(field.type, namespace)
    write = _element_out(base)
    if container is not None:
        write = _each(write)
    return _optional_out(write) if optional and write is not None else write


def _structure_of(cls: type) -> Callable[..., Any]:
    found = STRUCTURE.get(cls)
    if found is not None:
        return found
    namespace = vars(sys.modules[cls.__module__])
    fields = _wire_fields(cls)
    # (key, keyword, reader, required, field name) in the model's order.
    table = [
        (
            pascal(f.name),
            f.alias or f.name,
            _reader(cls, f, namespace),
            f.default is attrs.NOTHING,
            f.name,
        )
        for f in fields
    ]
    by_key = {key: (keyword, read) for key, keyword, read, _, _ in table}
    lookup = by_key.get
    name = cls.__name__
    failed = f"While structuring {name}"

    def exact(data: Any) -> Any:
        # The order of operations of cattrs' generated function, so that the same input
        # fails the same way: a required key is read inside the try, an optional one is
        # looked for outside it.
        out: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, keyword, read, required, attribute in table:
            if required or key in data:
                try:
                    out[keyword] = read(data[key])
                except Exception as exc:
                    note = _cattrs().AttributeValidationNote(
                        f"Structuring class {name} @ attribute {attribute}",
                        attribute,
                        _Lazy(cls, attribute).get(),
                    )
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                    errors.append(exc)
        if errors:
            raise _cattrs().ClassValidationError(failed, errors, cls)
        try:
            return cls(**out)
        except Exception as exc:
            raise _cattrs().ClassValidationError(failed, [exc], cls)  # noqa: B904 (as cattrs does)

    def structure(data: Any, _: Any = None) -> Any:
        if data.__class__ is dict:
            try:
                out = {}
                for key, value in data.items():
                    entry = lookup(key)
                    if entry is not None:
                        out[entry[0]] = entry[1](value)
                return cls(**out)  # a missing required field fails here: reported below
            except Exception:
                pass
        return exact(data)

    structure.__qualname__ = f"structure_{name}"
    STRUCTURE[cls] = structure
    return structure


def _unstructure_of(cls: type) -> Convert:
    found = UNSTRUCTURE.get(cls)
    if found is not None:
        return found
    namespace = vars(sys.modules[cls.__module__])
    fields = _wire_fields(cls)
    table = []
    for f in fields:
        default: Any = f.default
        if default is attrs.NOTHING:
            mode, compared = _ALWAYS, None
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                raise TypeError(f"{cls.__name__}.{f.name}: a self-taking default")
            # cattrs compares with a fresh default each time; this one is never handed out.
            mode, compared = _UNLESS_DEFAULT, default.factory()
        elif default is None:
            mode, compared = _UNLESS_NONE, None
        else:
            mode, compared = _UNLESS_DEFAULT, default
        table.append((pascal(f.name), _writer(f, namespace), mode, compared))
    if not fields:
        values: Callable[[Any], tuple[Any, ...]] = lambda _: ()  # noqa: E731
    elif len(fields) == 1:
        one = attrgetter(fields[0].name)
        values = lambda instance: (one(instance),)  # noqa: E731
    else:
        values = attrgetter(*(f.name for f in fields))
    rows = tuple(table)

    def unstructure(instance: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (key, write, mode, compared), value in zip(rows, values(instance), strict=False):
            # cattrs compares with ``!=``; against None, ``is not`` answers the same.
            if mode == _ALWAYS or (
                value is not None if mode == _UNLESS_NONE else value != compared
            ):
                out[key] = value if write is None else write(value)
        return out

    unstructure.__qualname__ = f"unstructure_{cls.__name__}"
    UNSTRUCTURE[cls] = unstructure
    return unstructure


# --- hand-written writers for the models written most ---------------------------------------
#
# A table walk costs a loop turn per field, present or not; these four are written for
# every checkpointed update and every operation the emulator hands out, so they are spelt
# out field by field, as cattrs would generate them. _build checks that their field lists
# still match the models, and the property tests that they write what the tables would.


def _error_object_out(error: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if error.error_message is not None:
        out["ErrorMessage"] = error.error_message
    if error.error_type is not None:
        out["ErrorType"] = error.error_type
    if error.error_data is not None:
        out["ErrorData"] = error.error_data
    if error.stack_trace is not None:
        out["StackTrace"] = list(error.stack_trace)
    return out


def _step_details_out(details: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if details.attempt is not None:
        out["Attempt"] = details.attempt
    if details.next_attempt_timestamp is not None:
        out["NextAttemptTimestamp"] = datetime_to_wire(details.next_attempt_timestamp)
    if details.result is not None:
        out["Result"] = details.result
    if details.error is not None:
        out["Error"] = _error_object_out(details.error)
    return out


def _operation_out(op: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": op.id, "Type": op.type.value, "Status": op.status.value}
    if op.start_timestamp is not None:
        out["StartTimestamp"] = datetime_to_wire(op.start_timestamp)
    if op.end_timestamp is not None:
        out["EndTimestamp"] = datetime_to_wire(op.end_timestamp)
    if op.parent_id is not None:
        out["ParentId"] = op.parent_id
    if op.name is not None:
        out["Name"] = op.name
    if op.sub_type is not None:
        out["SubType"] = op.sub_type
    if op.execution_details is not None:
        out["ExecutionDetails"] = UNSTRUCTURE[models.ExecutionDetails](op.execution_details)
    if op.context_details is not None:
        out["ContextDetails"] = UNSTRUCTURE[models.ContextDetails](op.context_details)
    if op.step_details is not None:
        out["StepDetails"] = _step_details_out(op.step_details)
    if op.wait_details is not None:
        out["WaitDetails"] = UNSTRUCTURE[models.WaitDetails](op.wait_details)
    if op.callback_details is not None:
        out["CallbackDetails"] = UNSTRUCTURE[models.CallbackDetails](op.callback_details)
    if op.chained_invoke_details is not None:
        out["ChainedInvokeDetails"] = UNSTRUCTURE[models.ChainedInvokeDetails](
            op.chained_invoke_details
        )
    return out


def _operation_update_out(update: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": update.id,
        "Type": update.type.value,
        "Action": update.action.value,
    }
    if update.parent_id is not None:
        out["ParentId"] = update.parent_id
    if update.name is not None:
        out["Name"] = update.name
    if update.sub_type is not None:
        out["SubType"] = update.sub_type
    if update.payload is not None:
        out["Payload"] = update.payload
    if update.error is not None:
        out["Error"] = _error_object_out(update.error)
    if update.context_options is not None:
        out["ContextOptions"] = UNSTRUCTURE[models.ContextOptions](update.context_options)
    if update.step_options is not None:
        out["StepOptions"] = UNSTRUCTURE[models.StepOptions](update.step_options)
    if update.wait_options is not None:
        out["WaitOptions"] = UNSTRUCTURE[models.WaitOptions](update.wait_options)
    if update.callback_options is not None:
        out["CallbackOptions"] = UNSTRUCTURE[models.CallbackOptions](update.callback_options)
    if update.chained_invoke_options is not None:
        out["ChainedInvokeOptions"] = UNSTRUCTURE[models.ChainedInvokeOptions](
            update.chained_invoke_options
        )
    return out


#: The hand-written writers, with the fields (in order) each was written for.
_HAND_WRITTEN: dict[str, tuple[Convert, tuple[str, ...]]] = {
    "ErrorObject": (
        _error_object_out,
        ("error_message", "error_type", "error_data", "stack_trace"),
    ),
    "StepDetails": (
        _step_details_out,
        ("attempt", "next_attempt_timestamp", "result", "error"),
    ),
    "Operation": (
        _operation_out,
        (
            "id",
            "type",
            "status",
            "start_timestamp",
            "end_timestamp",
            "parent_id",
            "name",
            "sub_type",
            "execution_details",
            "context_details",
            "step_details",
            "wait_details",
            "callback_details",
            "chained_invoke_details",
        ),
    ),
    "OperationUpdate": (
        _operation_update_out,
        (
            "id",
            "type",
            "action",
            "parent_id",
            "name",
            "sub_type",
            "payload",
            "error",
            "context_options",
            "step_options",
            "wait_options",
            "callback_options",
            "chained_invoke_options",
        ),
    ),
}


def _build() -> None:
    for value in vars(models).values():
        if _is_model(value) and value is not Event:
            _structure_of(value)
            _unstructure_of(value)
    for name, (write, names) in _HAND_WRITTEN.items():
        cls = getattr(models, name)
        fields = _wire_fields(cls)
        required = [f.name for f in fields if f.default is attrs.NOTHING]
        if tuple(f.name for f in fields) != names or any(
            f.default is not None for f in fields if f.name not in required
        ):
            raise TypeError(f"the fields of {name} changed: update its writer in {__name__}")
        UNSTRUCTURE[cls] = write


_build()
