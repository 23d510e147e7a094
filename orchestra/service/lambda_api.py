"""The real durable-execution service, through boto3's ``lambda`` client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra.service.api import ServiceError
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import CheckpointResponse, ExecutionState, OperationUpdate

__all__ = ["LambdaService"]


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
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise ServiceError(
                str(err.get("Code", "Unknown")), str(err.get("Message", "")), status=status
            ) from exc
        except BotoCoreError as exc:
            raise ServiceError(type(exc).__name__, str(exc), status=None) from exc

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        """Record ``updates``."""
        response = self._call(
            "checkpoint_durable_execution",
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Updates=to_wire(list(updates)),
        )
        return from_wire(response, CheckpointResponse)

    def get_state(self, arn: str, token: str, marker: str, max_items: int) -> ExecutionState:
        """Read a page of operations."""
        response = self._call(
            "get_durable_execution_state",
            DurableExecutionArn=arn,
            CheckpointToken=token,
            Marker=marker,
            MaxItems=max_items,
        )
        return from_wire(response, ExecutionState)
