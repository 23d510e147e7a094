"""The single cattrs converter between wire models and the service's dictionaries.

Keys are PascalCase, ``None`` fields are omitted, unknown keys are tolerated, and
timestamps are epoch milliseconds on the way out (the invocation event's format) and
either epoch milliseconds or ``datetime`` (as boto3 returns them) on the way in. Unknown
values of the service's enumerations (:class:`~orchestra.wire.models.WireEnum`) become
unknown members instead of failing the parse; :class:`OperationAction`, which only orchestra
writes, stays strict. Fields marked :data:`~orchestra.wire.models.NOT_ON_WIRE` are neither
read nor written.

The models' own functions come from :mod:`orchestra.wire.codec`: built from tables when
this module is imported, they behave as the ones ``cattrs.gen`` would generate, without
compiling code the first time a model is converted. :func:`to_wire` and :func:`from_wire`
call them directly; ``converter.structure`` and ``converter.unstructure`` reach the same
functions through hook factories. ``converter`` itself (and cattrs) is built on first use:
valid wire data never needs it, and importing cattrs would cost every Lambda cold start
about 9 ms.

Example:
    >>> from orchestra.wire.models import OperationUpdate, OperationType, OperationAction
    >>> to_wire(OperationUpdate(id="a", type=OperationType.WAIT, action=OperationAction.START))
    {'Id': 'a', 'Type': 'WAIT', 'Action': 'START'}
    >>> from orchestra.wire.models import Operation
    >>> from_wire({"Id": "a", "Type": "WAIT", "Status": "PAUSED"}, Operation).status
    <OperationStatus.UNKNOWN: 'PAUSED'>
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from orchestra.wire.codec import (
    OPTIONAL_SCALARS,
    STRUCTURE,
    UNSTRUCTURE,
    datetime_from_wire,
    datetime_to_wire,
    pascal,
    wire_enum_from_wire,
)
from orchestra.wire.models import (
    Event,
    EventDetails,
    ExecutionStatus,
    InvocationStatus,
    OperationAction,
    OperationStatus,
    OperationType,
)

__all__ = ["converter", "from_wire", "pascal", "to_wire"]  # noqa: F822 (``converter``: see __getattr__)

T = TypeVar("T")

if TYPE_CHECKING:
    import cattrs


def __getattr__(name: str) -> Any:
    # ``converter`` is built on first use: reading and writing the wire models does not
    # go through it, and importing cattrs costs a Lambda cold start about 9 ms.
    if name == "converter":
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _converter() -> cattrs.Converter:
    """The cattrs converter for every wire type, with the model hooks registered."""
    import cattrs

    converter = cattrs.Converter()
    _register(converter)
    return converter


# The optional scalars, structured directly: exactly what cattrs does for them (``None``
# stays ``None``, anything else goes through the type), without its dispatch per call.
_OPTIONAL_SCALARS: dict[Any, Any] = {base | None: read for base, read in OPTIONAL_SCALARS.items()}


def _optional_scalar_factory(t: Any) -> Any:
    return _OPTIONAL_SCALARS[t]


def _is_optional_scalar(t: Any) -> bool:
    try:
        return t in _OPTIONAL_SCALARS
    except TypeError:  # an unhashable type expression
        return False


# Every wire model but Event: the table-driven functions of orchestra.wire.codec, which
# behave as the functions cattrs.gen would generate (PascalCase keys, defaults omitted,
# detailed validation errors) without generating code on first use.
# Through hook factories: registering a class directly would have cattrs resolve its
# annotations (typing.get_type_hints) at import, which these functions do not need.
def _is_wire_model(t: Any) -> bool:
    try:
        return t in STRUCTURE
    except TypeError:  # an unhashable type expression
        return False


def _structure_hook(t: Any) -> Any:
    return STRUCTURE[t]


def _unstructure_hook(t: Any) -> Any:
    return UNSTRUCTURE[t]


def _optional_model(t: Any) -> type | None:
    """The wire model ``M`` of a ``M | None`` type, else ``None``."""
    args = getattr(t, "__args__", None)
    if not args or len(args) != 2 or type(None) not in args:
        return None
    inner = args[0] if args[1] is type(None) else args[1]
    return inner if isinstance(inner, type) and inner in STRUCTURE else None


def _optional_model_factory(t: Any) -> Any:
    read = STRUCTURE[_optional_model(t)]  # type: ignore[index]

    def structure(value: Any, _: Any) -> Any:
        return None if value is None else read(value)

    return structure


def _event_to_wire(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "EventType": event.event_type,
        "EventId": event.event_id,
        "EventTimestamp": datetime_to_wire(event.event_timestamp),
    }
    for field in ("sub_type", "id", "name", "parent_id"):
        value = getattr(event, field)
        if value is not None:
            out[pascal(field)] = value
    out[f"{event.event_type}Details"] = UNSTRUCTURE[EventDetails](event.details)
    return out


def _event_from_wire(data: dict[str, Any], _: type) -> Event:
    event_type = data["EventType"]
    details = data.get(f"{event_type}Details") or {}
    return Event(
        event_type=event_type,
        event_id=int(data["EventId"]),
        event_timestamp=datetime_from_wire(data["EventTimestamp"]),
        details=STRUCTURE[EventDetails](details),
        sub_type=data.get("SubType"),
        id=data.get("Id"),
        name=data.get("Name"),
        parent_id=data.get("ParentId"),
    )


def _register(converter: cattrs.Converter) -> None:
    """Register the wire types' hooks on ``converter``."""
    converter.register_structure_hook(datetime, datetime_from_wire)
    converter.register_unstructure_hook(datetime, datetime_to_wire)
    converter.register_structure_hook_factory(_is_optional_scalar, _optional_scalar_factory)
    for wire_enum in (OperationType, OperationStatus, ExecutionStatus):
        converter.register_structure_hook(wire_enum, wire_enum_from_wire)
    for enum in (
        OperationType,
        OperationStatus,
        OperationAction,
        InvocationStatus,
        ExecutionStatus,
    ):
        converter.register_unstructure_hook(enum, lambda v: v.value)
    converter.register_structure_hook_factory(_is_wire_model, _structure_hook)
    converter.register_unstructure_hook_factory(_is_wire_model, _unstructure_hook)
    converter.register_structure_hook_factory(
        lambda t: _optional_model(t) is not None, _optional_model_factory
    )
    converter.register_unstructure_hook(Event, _event_to_wire)
    converter.register_structure_hook(Event, _event_from_wire)


def to_wire(value: Any) -> Any:
    """Unstructure a wire model (or a list of them) into the service's dictionaries."""
    write = UNSTRUCTURE.get(value.__class__)
    if write is not None:
        return write(value)
    if value.__class__ is list:
        try:
            return [UNSTRUCTURE[item.__class__](item) for item in value]
        except KeyError:  # not only wire models: cattrs unstructures each by its class
            pass
    return _converter().unstructure(value)


def from_wire(data: Any, cls: type[T]) -> T:
    """Structure the service's dictionaries into wire model ``cls``."""
    read = STRUCTURE.get(cls)
    if read is not None:
        return read(data)  # type: ignore[no-any-return]
    return _converter().structure(data, cls)
