"""Operation ids: the same algorithm as the reference SDK, so histories interchange.

The id of the ``n``-th operation (counting from 1) of a context whose prefix is ``p`` is the
first 64 hex characters of BLAKE2b-512 of ``"p-n"`` (or of ``"n"`` at the root). Branch ``i``
(0-based) of a Map/Parallel ``M`` is ``operation_id(M, i)``.

Example:
    >>> operation_id(None, 1)
    '1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97'
    >>> operation_id(operation_id(None, 1), 1)
    '974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4'
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["operation_id"]


def operation_id(prefix: str | None, n: int) -> str:
    """The id of operation number ``n`` in the context with id prefix ``prefix``."""
    raw = f"{prefix}-{n}" if prefix else str(n)
    return blake2b(raw.encode()).hexdigest()[:64]
