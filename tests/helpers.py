"""Helpers for driving a workflow on the emulator through a chosen service wrapper."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from orchestra import lambda_handler
from orchestra.service.local.engine import Execution, LocalService


def run_on(
    workflow: Callable[..., Any], service: Any, inner: LocalService, value: Any = None
) -> Execution:
    """Run ``workflow`` on ``inner`` with checkpoints going through ``service``."""
    arn = inner.start_execution("fn", json.dumps(value))
    inner.run(arn, lambda_handler(workflow, service=service))
    return inner.execution(arn)
