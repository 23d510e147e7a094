"""Reaching an ``orchestra serve`` through a stock boto3 ``lambda`` client, as a runner does.

Example:
    >>> from datetime import UTC, datetime
    >>> wire_events([{"EventId": 1, "EventTimestamp": datetime(2025, 1, 1, tzinfo=UTC),
    ...               "WaitStartedDetails": {"Duration": 2}}])
    [{'EventId': 1, 'EventTimestamp': 1735689600000, 'WaitStartedDetails': {'Duration': 2}}]
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "HISTORY_PAGE",
    "TERMINAL",
    "fetch_history",
    "lambda_client",
    "wait_until_done",
    "wire_events",
]

#: The page size of history reads: small, so that paging is exercised on most histories.
HISTORY_PAGE = 7
#: The statuses an execution ends in.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})


def lambda_client(url: str) -> Any:
    """A boto3 ``lambda`` client for the server at ``url`` (dummy credentials, no retries)."""
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(
            connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 1}
        ),
    )


def fetch_history(client: Any, arn: str, page_size: int = HISTORY_PAGE) -> list[dict[str, Any]]:
    """Every event of ``arn`` through ``GetDurableExecutionHistory``, following NextMarker.

    Raises:
        AssertionError: a page repeats a marker (the paging would never end).
    """
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "DurableExecutionArn": arn,
        "IncludeExecutionData": True,
        "MaxItems": page_size,
    }
    seen: set[str] = set()
    while True:
        page = client.get_durable_execution_history(**kwargs)
        events.extend(page.get("Events", []))
        marker = page.get("NextMarker")
        if not marker:
            return wire_events(events)
        assert marker not in seen, f"GetDurableExecutionHistory repeated NextMarker {marker!r}"
        seen.add(marker)
        kwargs["Marker"] = marker


def wire_events(value: Any) -> Any:
    """botocore's parsed events back in the wire form: every ``datetime`` as epoch ms."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: wire_events(item) for key, item in value.items()}
    if isinstance(value, list):
        return [wire_events(item) for item in value]
    return value


def wait_until_done(client: Any, arn: str, timeout: float) -> dict[str, Any]:
    """Poll ``GetDurableExecution`` until the execution ends; its last answer.

    Returns after ``timeout`` seconds at the latest, whatever the status then.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        answer: dict[str, Any] = client.get_durable_execution(DurableExecutionArn=arn)
        if answer["Status"] in TERMINAL or time.monotonic() >= deadline:
            return answer
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
