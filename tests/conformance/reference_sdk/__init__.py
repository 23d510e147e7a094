"""Workflows written with the reference Python SDK (``aws-durable-execution-sdk-python``).

One per requirement of the step, wait and child suites, each doing what its requirement's
``handler``/``invocations`` prose describes with the SDK's own API (``DurableContext.step``,
``wait``, ``run_in_child_context``, its retry strategies, step semantics and serdes).
:data:`HANDLERS` maps ``"<suite>/<id>"`` to the undecorated workflow ``f(event, context)``;
``test_reference_sdk.py`` wraps each with the SDK's ``durable_execution`` (handing it a
boto3 client of the server) and registers it with an ``orchestra serve`` as a Lambda
handler. Without the SDK installed, importing this package skips.
"""

from __future__ import annotations

import pytest

pytest.importorskip(
    "aws_durable_execution_sdk_python",
    reason="the reference SDK (aws-durable-execution-sdk-python, the interop extra) "
    "is not installed",
)

from . import child, step, wait
from ._registry import HANDLERS, SUITES

__all__ = ["HANDLERS", "SUITES", "child", "step", "wait"]
