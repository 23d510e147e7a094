"""Payload codecs: how values become checkpoint payloads and back.

orchestra writes plain JSON. The default :class:`JsonSerde` unstructures values with a
cattrs converter (attrs classes, dataclasses, enums, datetimes, UUIDs, decimals, bytes,
sets), and *structures* them back into the declared type, so a step annotated
``-> Order`` replays as an ``Order``, not a dict. Anything else raises a
:class:`~orchestra.errors.SerializationError` that names the value's type.

A custom codec is any object with ``serialize(value) -> str`` and ``deserialize(str)``;
its output is stored verbatim.

Example:
    >>> import attrs
    >>> @attrs.frozen
    ... class Point:
    ...     x: int
    ...     y: int
    >>> codec = JsonSerde(Point)
    >>> codec.serialize(Point(1, 2))
    '{"x":1,"y":2}'
    >>> codec.deserialize('{"x":1,"y":2}')
    Point(x=1, y=2)
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any, Generic, Protocol, TypeVar, final, runtime_checkable

import cattrs

from orchestra.errors import SerializationError

__all__ = ["PLAIN_TYPES", "JsonSerde", "Serde", "payload_converter"]

T = TypeVar("T")

payload_converter = cattrs.Converter()
payload_converter.register_unstructure_hook(datetime, datetime.isoformat)
payload_converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
payload_converter.register_unstructure_hook(date, date.isoformat)
payload_converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
payload_converter.register_unstructure_hook(uuid.UUID, str)
payload_converter.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(v))
payload_converter.register_unstructure_hook(Decimal, str)
payload_converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))
payload_converter.register_unstructure_hook(bytes, lambda v: base64.b64encode(v).decode())
payload_converter.register_structure_hook(bytes, lambda v, _: base64.b64decode(v))
payload_converter.register_unstructure_hook(
    set, lambda v: [payload_converter.unstructure(x) for x in v]
)
payload_converter.register_unstructure_hook(
    frozenset, lambda v: [payload_converter.unstructure(x) for x in v]
)


#: Values of exactly these types are JSON as they are: no converter runs for them, and
#: their JSON reads back as an equal value of the same type.
PLAIN_TYPES = frozenset({int, str, bool, float, type(None)})

# one encoder and decoder for every call (json.dumps with options builds an encoder per call)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()


@runtime_checkable
class Serde(Protocol[T]):
    """A payload codec: ``serialize`` to a string, ``deserialize`` back."""

    def serialize(self, value: T) -> str:
        """Encode ``value`` as the checkpoint payload."""
        ...

    def deserialize(self, data: str) -> T:
        """Decode a checkpoint payload."""
        ...


def _describe(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


@final
class JsonSerde(Generic[T]):
    """Plain JSON, typed by ``type_`` on the way back (``Any``: plain JSON values).

    Example:
        >>> JsonSerde().serialize({"a": [1, 2]})
        '{"a":[1,2]}'
        >>> JsonSerde().serialize({1, 2}) in ('[1,2]', '[2,1]')
        True
    """

    __slots__ = ("type_",)

    def __init__(self, type_: Any = Any) -> None:
        self.type_ = type_

    def serialize(self, value: T) -> str:
        """Encode ``value`` as compact JSON."""
        try:
            kind = type(value)
            if kind is int:
                return int.__repr__(value)  # what the encoder writes for an int
            if kind is str:
                return encode_basestring_ascii(value)  # type: ignore[arg-type]  # (a str)
            plain = value if kind in PLAIN_TYPES else payload_converter.unstructure(value)
            return _ENCODER.encode(plain)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"cannot serialise a value of type {_describe(value)} as JSON: {exc}. "
                "Return plain data, attrs classes or dataclasses, or give the operation a serde."
            ) from exc

    def deserialize(self, data: str) -> T:
        """Decode JSON and structure it into ``type_``."""
        plain: Any
        try:
            if type(data) is str and data.isdigit() and data.isascii() and data[0] != "0":
                plain = int(data)  # a positive int, exactly as the decoder reads it (cheaper)
            else:
                plain = _DECODER.decode(data) if type(data) is str else json.loads(data)
        except ValueError as exc:
            raise SerializationError(f"payload is not valid JSON: {exc}") from exc
        if self.type_ is Any or self.type_ is None or self.type_ is type(None):
            return plain  # type: ignore[no-any-return]
        try:
            return payload_converter.structure(plain, self.type_)  # type: ignore[no-any-return]
        except Exception as exc:
            raise SerializationError(
                f"cannot read the payload as {getattr(self.type_, '__name__', self.type_)}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"JsonSerde({getattr(self.type_, '__name__', self.type_)})"
