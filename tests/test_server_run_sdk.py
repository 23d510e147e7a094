"""A handler written with the reference SDK, imported by `orchestra serve`'s worker process.

The SDK builds its own boto3 client from the environment; the worker points it at the
server (`AWS_ENDPOINT_URL_LAMBDA`). See `test_server_run.py`.
"""

from __future__ import annotations

import pytest

sdk = pytest.importorskip("aws_durable_execution_sdk_python")


@sdk.durable_step
def add(step_context, a: int, b: int) -> int:
    return a + b


@sdk.durable_execution
def handler(event, context):
    return context.step(add(event["a"], event["b"]), name="add")


def test_the_handler_is_a_lambda_handler():
    assert callable(handler)
