"""Encoding and decoding operation payloads, with errors that name the operation.

The default codec of a step or child is JSON typed by its function's return annotation
(``-> Order``; for a sub-workflow ``-> Generator[Any, Any, Order]``).

Example:
    >>> def make() -> int:
    ...     return 1
    >>> serde_for({}, make, None).deserialize("2")
    2
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, get_args, get_origin, get_type_hints

from orchestra.errors import PayloadTooLargeError, SerializationError
from orchestra.interpreter.signals import ExecutionFailure, label
from orchestra.ops import is_generator_function
from orchestra.serde import PLAIN_TYPES, JsonSerde, Serde

__all__ = ["ANY_SERDE", "decode", "encode", "encode_checked", "serde_for"]

ANY_SERDE: JsonSerde[Any] = JsonSerde()


def _return_type(fn: Callable[..., Any]) -> Any:
    try:
        hints = get_type_hints(fn)
    except Exception:
        return Any
    return_type = hints.get("return", Any)
    if is_generator_function(fn):
        args = get_args(return_type)
        return args[2] if get_origin(return_type) is Generator and len(args) == 3 else Any
    return return_type


def serde_for(
    cache: dict[Any, Serde[Any]], fn: Callable[..., Any], explicit: Serde[Any] | None
) -> Serde[Any]:
    """The codec for ``fn``'s result: ``explicit`` if given, else JSON typed by annotation."""
    if explicit is not None:
        return explicit
    try:
        serde = cache.get(fn)
    except TypeError:  # an unhashable callable: no caching
        return _typed_serde(fn)
    if serde is None:
        serde = _typed_serde(fn)
        cache[fn] = serde
    return serde


def _typed_serde(fn: Callable[..., Any]) -> Serde[Any]:
    return_type = _return_type(fn)
    return ANY_SERDE if return_type is Any else JsonSerde(return_type)


def decode(serde: Serde[Any], payload: str | None, op_id: str, name: str | None) -> Any:
    """Decode a checkpointed payload (``None`` stays ``None``)."""
    if payload is None:
        return None
    try:
        return serde.deserialize(payload)
    except Exception as exc:
        raise ExecutionFailure(
            SerializationError(f"cannot decode the result of {label(op_id, name)}: {exc}")
        ) from exc


def encode(
    serde: Serde[Any],
    value: Any,
    op_id: str,
    name: str | None,
    limit: int | None,
    what: str,
) -> str:
    """Encode ``value``; fail the execution if it cannot be, or is over ``limit`` bytes."""
    try:
        payload = serde.serialize(value)
    except Exception as exc:
        raise ExecutionFailure(
            SerializationError(f"cannot serialise the {what} of {label(op_id, name)}: {exc}")
        ) from exc
    if not isinstance(payload, str):
        raise ExecutionFailure(
            SerializationError(
                f"the serde of {label(op_id, name)} returned {type(payload).__name__}, not str"
            )
        )
    if limit is not None and len(payload) * 4 > limit:  # UTF-8: at most 4 bytes a character
        size = len(payload.encode())
        if size > limit:
            raise ExecutionFailure(
                PayloadTooLargeError(
                    f"the {what} of {label(op_id, name)} is {size} bytes once serialised; "
                    f"the limit is {limit} bytes. Store large data elsewhere (S3, a "
                    "database) and return a reference to it."
                )
            )
    return payload


def encode_checked(
    serde: Serde[Any],
    value: Any,
    op_id: str,
    name: str | None,
    limit: int | None,
    what: str,
) -> tuple[str, Any]:
    """:func:`encode` ``value``, and decode the payload back: the value a replay would see.

    Decoding fails here, before anything is checkpointed, if the payload cannot be read
    back. A plain value (``int``, ``str``, ``bool``, ``float``, ``None``) under the default
    JSON codec, untyped or typed as exactly its own type, reads back as itself: it is not
    decoded again.
    """
    payload = encode(serde, value, op_id, name, limit, what)
    if type(serde) is JsonSerde and type(value) in PLAIN_TYPES:
        wanted = serde.type_
        if wanted is Any or wanted is type(value):
            return payload, value
    return payload, decode(serde, payload, op_id, name)
