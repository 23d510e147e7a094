"""The single cattrs converter between wire models and the service's dictionaries.

Keys are PascalCase, ``None`` fields are omitted, unknown keys are tolerated, and
timestamps are epoch milliseconds on the way out (the invocation event's format) and
either epoch milliseconds or ``datetime`` (as boto3 returns them) on the way in. Unknown
values of the service's enumerations (:class:`~orchestra.wire.models.WireEnum`) become
unknown members instead of failing the parse; :class:`OperationAction`, which only orchestra
writes, stays strict. Fields marked :data:`~orchestra.wire.models.NOT_ON_WIRE` are neither
read nor written.

Example:
    >>> from orchestra.wire.models import OperationUpdate, OperationType, OperationAction
    >>> to_wire(OperationUpdate(id="a", type=OperationType.WAIT, action=OperationAction.START))
    {'Id': 'a', 'Type': 'WAIT', 'Action': 'START'}
    >>> from orchestra.wire.models import Operation
    >>> from_wire({"Id": "a", "Type": "WAIT", "Status": "PAUSED"}, Operation).status
    <OperationStatus.UNKNOWN: 'PAUSED'>
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from orchestra.wire.models import (
    NOT_ON_WIRE,
    Event,
    EventDetails,
    ExecutionStatus,
    InvocationStatus,
    OperationAction,
    OperationStatus,
    OperationType,
    WireEnum,
)

__all__ = ["converter", "from_wire", "pascal", "to_wire"]

T = TypeVar("T")

converter = cattrs.Converter()


def pascal(name: str) -> str:
    """Return the service's PascalCase spelling of a snake_case field name.

    Example:
        >>> pascal("next_attempt_delay_seconds")
        'NextAttemptDelaySeconds'
    """
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


#: Numbers below this are epoch *seconds* (as JSON APIs and the AWS CLI write them); above,
#: epoch milliseconds (as the invocation event writes them). 1e11 s is the year 5138;
#: 1e11 ms is 1973.
_SECONDS_BELOW = 1e11


def _datetime_from_wire(value: Any, _: type) -> datetime:
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


def _datetime_to_wire(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _wire_enum_from_wire(value: Any, cls: type[WireEnum]) -> WireEnum:
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {type(value).__name__}")
    return cls.unknown(value)


converter.register_structure_hook(datetime, _datetime_from_wire)


def _optional_str(value: Any, _: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _optional_int(value: Any, _: Any) -> int | None:
    return value if value is None or type(value) is int else int(value)


def _optional_bool(value: Any, _: Any) -> bool | None:
    return value if value is None or type(value) is bool else bool(value)


def _optional_datetime(value: Any, _: Any) -> datetime | None:
    return None if value is None else _datetime_from_wire(value, datetime)


# The optional scalars of the models, structured directly: exactly what cattrs does for them
# (``None`` stays ``None``, anything else goes through the type), without its dispatch per
# field and per call. A history of thousands of operations is parsed at every invocation.
_OPTIONAL_SCALARS: dict[Any, Any] = {
    str | None: _optional_str,
    int | None: _optional_int,
    bool | None: _optional_bool,
    datetime | None: _optional_datetime,
}


def _optional_scalar_factory(t: Any) -> Any:
    return _OPTIONAL_SCALARS[t]


def _is_optional_scalar(t: Any) -> bool:
    try:
        return t in _OPTIONAL_SCALARS
    except TypeError:  # an unhashable type expression
        return False


converter.register_structure_hook_factory(_is_optional_scalar, _optional_scalar_factory)
for _wire_enum in (OperationType, OperationStatus, ExecutionStatus):
    converter.register_structure_hook(_wire_enum, _wire_enum_from_wire)
for _enum in (OperationType, OperationStatus, OperationAction, InvocationStatus, ExecutionStatus):
    converter.register_unstructure_hook(_enum, lambda v: v.value)
converter.register_unstructure_hook(datetime, _datetime_to_wire)


def _override(field: attrs.Attribute[Any]) -> Any:
    if field.metadata.get(NOT_ON_WIRE):
        return override(omit=True)
    return override(rename=pascal(field.name))


def _overrides(cls: type) -> dict[str, Any]:
    return {f.name: _override(f) for f in attrs.fields(cls)}


def _unstructure_factory(cls: type) -> Any:
    overrides = _overrides(cls)
    return make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=True,
        **overrides,
    )


def _structure_factory(cls: type) -> Any:
    overrides = _overrides(cls)
    return make_dict_structure_fn(cls, converter, **overrides)


def _is_wire_model(cls: type) -> bool:
    return attrs.has(cls) and cls.__module__ == "orchestra.wire.models" and cls is not Event


converter.register_unstructure_hook_factory(_is_wire_model, _unstructure_factory)
converter.register_structure_hook_factory(_is_wire_model, _structure_factory)


def _optional_model(t: Any) -> type | None:
    """The wire model ``M`` of a ``M | None`` type, else ``None``."""
    args = getattr(t, "__args__", None)
    if not args or len(args) != 2 or type(None) not in args:
        return None
    inner = args[0] if args[1] is type(None) else args[1]
    return inner if isinstance(inner, type) and _is_wire_model(inner) else None


def _optional_model_factory(t: Any) -> Any:
    model = _optional_model(t)
    assert model is not None
    found: list[Any] = []  # the model's own hook, looked up on first use (it may be generated)

    def structure(value: Any, _: Any) -> Any:
        if value is None:
            return None
        if not found:
            found.append(converter.get_structure_hook(model))
        return found[0](value, model)

    return structure


converter.register_structure_hook_factory(
    lambda t: _optional_model(t) is not None, _optional_model_factory
)


def _event_to_wire(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "EventType": event.event_type,
        "EventId": event.event_id,
        "EventTimestamp": _datetime_to_wire(event.event_timestamp),
    }
    for field in ("sub_type", "id", "name", "parent_id"):
        value = getattr(event, field)
        if value is not None:
            out[pascal(field)] = value
    out[f"{event.event_type}Details"] = converter.unstructure(event.details, EventDetails)
    return out


def _event_from_wire(data: dict[str, Any], _: type) -> Event:
    event_type = data["EventType"]
    details = data.get(f"{event_type}Details") or {}
    return Event(
        event_type=event_type,
        event_id=int(data["EventId"]),
        event_timestamp=_datetime_from_wire(data["EventTimestamp"], datetime),
        details=converter.structure(details, EventDetails),
        sub_type=data.get("SubType"),
        id=data.get("Id"),
        name=data.get("Name"),
        parent_id=data.get("ParentId"),
    )


converter.register_unstructure_hook(Event, _event_to_wire)
converter.register_structure_hook(Event, _event_from_wire)


def to_wire(value: Any) -> Any:
    """Unstructure a wire model (or a list of them) into the service's dictionaries."""
    return converter.unstructure(value)


def from_wire(data: Any, cls: type[T]) -> T:
    """Structure the service's dictionaries into wire model ``cls``."""
    return converter.structure(data, cls)
