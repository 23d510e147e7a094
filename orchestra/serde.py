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
import functools
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, final, runtime_checkable

from orchestra.errors import SerializationError

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "PLAIN_TYPES",
    "JsonSerde",
    "Serde",
    "payload_converter",  # noqa: F822 (built on first use: see __getattr__)
]

T = TypeVar("T")


def __getattr__(name: str) -> Any:
    # ``payload_converter`` (and cattrs) is built on first use: plain values never need
    # it, and importing cattrs would cost every Lambda cold start about 9 ms.
    if name == "payload_converter":
        return _payload_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _payload_converter() -> cattrs.Converter:
    """The cattrs converter for payloads, with the hooks for the standard types."""
    import cattrs

    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
    converter.register_unstructure_hook(uuid.UUID, str)
    converter.register_structure_hook(uuid.UUID, lambda v, _: uuid.UUID(v))
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))
    converter.register_unstructure_hook(bytes, lambda v: base64.b64encode(v).decode())
    converter.register_structure_hook(bytes, lambda v, _: base64.b64decode(v))
    converter.register_unstructure_hook(set, lambda v: [converter.unstructure(x) for x in v])
    converter.register_unstructure_hook(frozenset, lambda v: [converter.unstructure(x) for x in v])
    return converter


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
            plain = value if kind in PLAIN_TYPES else _payload_converter().unstructure(value)
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
        wanted = self.type_
        if wanted is Any or wanted is None or wanted is type(None) or type(plain) is wanted:
            return plain  # type: ignore[no-any-return]  # (as it is: cattrs would keep it)
        try:
            return _payload_converter().structure(plain, wanted)  # type: ignore[no-any-return]
        except Exception as exc:
            raise SerializationError(
                f"cannot read the payload as {getattr(self.type_, '__name__', self.type_)}: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"JsonSerde({getattr(self.type_, '__name__', self.type_)})"
