"""The real durable-execution service, through boto3's ``lambda`` client.

Every failure becomes a :class:`~orchestra.service.api.ServiceError` whose ``__cause__`` is
the botocore exception, with the answer's error code, HTTP status and RequestId:

* an error answer (``ClientError``): its code, message and status;
* no answer (a network error or a timeout): ``status=None``, retryable;
* a request botocore itself refused (``ParamValidationError``): terminal, since sending
  it again cannot help;
* an answer that does not match the service's model (a required key absent, a value of the
  wrong shape, a body botocore cannot parse): code
  :data:`~orchestra.service.api.MALFORMED`, retryable. In particular a
  ``GetDurableExecutionState`` answer without ``Operations`` is malformed, never an empty
  last page.

Example:
    >>> _request_id({"ResponseMetadata": {"HTTPHeaders": {"x-amzn-requestid": "r-9"}}})
    'r-9'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import attrs

from orchestra.service.api import MALFORMED, ServiceError
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = ["LambdaService"]

T = TypeVar("T", CheckpointResponse, ExecutionState)

_MAX_PROBLEMS = 5
_VALUE = re.compile(r", value: .*$")


def _metadata(response: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = response.get("ResponseMetadata")
    return meta if isinstance(meta, Mapping) else {}


def _request_id(response: Mapping[str, Any]) -> str | None:
    """The RequestId of a boto3 answer (or of an error answer's ``response``), if any."""
    meta = _metadata(response)
    headers = meta.get("HTTPHeaders")
    found = meta.get("RequestId") or (
        headers.get("x-amzn-requestid") if isinstance(headers, Mapping) else None
    )
    return str(found) if found else None


def _status(response: Mapping[str, Any]) -> int | None:
    status = _metadata(response).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _malformed(
    what: str, response: Mapping[str, Any] | None = None, *, status: int | None = None
) -> ServiceError:
    response = response or {}
    return ServiceError(
        MALFORMED,
        f"malformed answer: {what}",
        status=_status(response) if status is None else status,
        request_id=_request_id(response),
        retryable=True,
    )


def _problems(exc: Exception) -> str:
    """Where a parse failed, without the values (they may be payloads)."""
    import cattrs  # (on a parse failure only: importing cattrs costs a cold start ~9 ms)

    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc)
        shown = "; ".join(problems[:_MAX_PROBLEMS])
        more = len(problems) - _MAX_PROBLEMS
        return shown + (f"; and {more} more" if more > 0 else "")
    return type(exc).__name__


def _structure(response: Any, cls: type[T], required: str) -> T:
    """Structure an answer, insisting on its model-required key; stamp its RequestId.

    The converter would default an absent list to empty, so absence is checked on the raw
    dictionary first.
    """
    if not isinstance(response, Mapping):
        raise _malformed(f"expected an object, got {type(response).__name__}")
    if required not in response:
        raise _malformed(f"no {required}", response)
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    try:
        parsed = from_wire(body, cls)
    except Exception as exc:
        raise _malformed(f"does not match the model ({_problems(exc)})", response) from exc
    return attrs.evolve(parsed, request_id=_request_id(response))


def _without_values(report: str) -> str:
    """A botocore validation report without the offending values (they may be payloads).

    Example:
        >>> _without_values("Invalid type for parameter Updates[0].Payload, value: 5, type: x")
        'Invalid type for parameter Updates[0].Payload'
    """
    return "\n".join(_VALUE.sub("", line) for line in report.splitlines())


def _from_client_error(exc: Any) -> ServiceError:
    response = exc.response if isinstance(exc.response, Mapping) else {}
    err = response.get("Error") or {}
    return ServiceError(
        str(err.get("Code") or "Unknown"),
        str(err.get("Message") or ""),
        status=_status(response),
        request_id=_request_id(response),
    )


class LambdaService:
    """Checkpoints through ``CheckpointDurableExecution`` and ``GetDurableExecutionState``.

    Args:
        client: a boto3 ``lambda`` client (default: one with a 5 s connect and 50 s read
            timeout, created on first use and reused across warm invocations).
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 client."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "lambda",
                config=Config(connect_timeout=5, read_timeout=50, user_agent_extra="orchestra/0.1"),
            )
        return self._client

    def _call(self, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
        from botocore.parsers import ResponseParserError

        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            raise _from_client_error(exc) from exc
        except ParamValidationError as exc:
            message = _without_values(str(exc))
            raise ServiceError(type(exc).__name__, message, status=None, retryable=False) from exc
        except ResponseParserError as exc:
            raise _malformed("botocore could not parse the body", status=200) from exc
        except BotoCoreError as exc:
            raise ServiceError(type(exc).__name__, str(exc), status=None) from exc

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """Record ``updates``.

        Raises:
            ServiceError: the call failed, or its answer has no ``NewExecutionState`` (the
                model requires it) or does not parse. An absent ``CheckpointToken`` is
                passed on as ``None``: whether that is the end of the execution or a
                malformed answer depends on the updates sent, which the writer knows.
        """
        response = self._call(
            "checkpoint_durable_execution",
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=to_wire(list(updates)),
        )
        return _structure(response, CheckpointResponse, "NewExecutionState")

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """Read a page of operations.

        Raises:
            ServiceError: the call failed, or its answer has no ``Operations`` (the model
                requires it) or does not parse.
        """
        response = self._call(
            "get_durable_execution_state",
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Marker=marker,
            MaxItems=max_items,
        )
        return _structure(response, ExecutionState, "Operations")
