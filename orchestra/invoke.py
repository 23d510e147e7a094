"""Chained invoke: call another Lambda function durably and wait for its result.

``result = yield Invoke("billing-service", {"order": "A-1"})`` asks the service to invoke
the function; the workflow suspends (no compute billed) until the callee finishes, and
the result is checkpointed, so a replay never invokes it again. A callee failure is thrown
at the ``yield`` as :class:`~orchestra.errors.InvokeError` carrying the callee's error
type, message and data.

Example:
    >>> Invoke("arn:aws:lambda:eu-west-1:123456789012:function:billing:live", 1).function_name
    'arn:aws:lambda:eu-west-1:123456789012:function:billing:live'
    >>> Invoke("no spaces allowed")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.errors.ValidationError: Invoke: function_name 'no spaces allowed' is not a ...
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, final

import attrs

from orchestra.errors import ValidationError, describe_value
from orchestra.ops import Op, check_name, check_serde, op_label
from orchestra.serde import Serde
from orchestra.wire.models import OperationType, SubType

__all__ = ["Invoke"]

T = TypeVar("T")

#: The service model's pattern for a function name, partial ARN or full ARN (+ qualifier).
FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
TENANT_ID = re.compile(r"[a-zA-Z0-9\._:\/=+\-@ ]+")


def _check_function_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what}: function_name must be a str, got {describe_value(value)}")
    if not 1 <= len(value) <= 256 or FUNCTION_NAME.fullmatch(value) is None:
        raise ValidationError(
            f"{what}: function_name {value!r} is not a function name, partial ARN or ARN "
            "(1-256 characters, e.g. 'billing', 'billing:live' or "
            "'arn:aws:lambda:eu-west-1:123456789012:function:billing')"
        )
    return value


def _check_tenant(value: object, what: str) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 256
        or TENANT_ID.fullmatch(value) is None
    ):
        raise ValidationError(
            f"{what}: tenant_id must be 1-256 characters of letters, digits and ._:/=+-@ "
            f"or space, got {describe_value(value)}"
        )
    return value


@final
@attrs.frozen(init=False, repr=False)
class Invoke(Op[Any]):
    """Invoke ``function_name`` with ``payload``; the ``yield`` gives its result.

    Args:
        function_name: a function name, partial ARN or ARN, with an optional qualifier.
        payload: the input, encoded as plain JSON by default.
        name: the operation name.
        tenant_id: the tenant to invoke for (a function with per-tenant isolation).
        serde: decodes the callee's result (default: plain JSON).
        payload_serde: encodes the payload (default: plain JSON).
    """

    function_name: str
    payload: Any
    name: str | None
    tenant_id: str | None
    serde: Serde[Any] | None
    payload_serde: Serde[Any] | None

    op_type = OperationType.CHAINED_INVOKE
    sub_type = SubType.CHAINED_INVOKE.value

    def __init__(
        self,
        function_name: str,
        payload: Any = None,
        /,
        *,
        name: str | None = None,
        tenant_id: str | None = None,
        serde: Serde[Any] | None = None,
        payload_serde: Serde[Any] | None = None,
    ) -> None:
        checked = check_name(name, "Invoke")
        what = op_label("Invoke", checked)
        check_serde(serde, what)
        check_serde(payload_serde, what)
        self.__attrs_init__(
            _check_function_name(function_name, what),
            payload,
            checked,
            _check_tenant(tenant_id, what),
            serde,
            payload_serde,
        )

    @property
    def op_name(self) -> str | None:
        """The operation's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Invoke({self.function_name!r}{', ' + repr(self.name) if self.name else ''})"
