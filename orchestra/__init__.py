"""orchestra: durable workflows for AWS Lambda, written as Python generators.

Example:
    >>> from orchestra import Step, Wait, Duration
    >>> def greet(name: str) -> str:
    ...     return f"Hello, {name}!"
    >>> def workflow(name):
    ...     yield Wait(Duration.seconds(2))
    ...     return (yield Step(greet, name))
    >>> from orchestra.testing import LocalRunner
    >>> LocalRunner(workflow).run("World").result
    'Hello, World!'
"""

from orchestra._logging import get_logger
from orchestra._steps import StepContext, step_context
from orchestra.config import Duration, Jitter, RetryDecision, RetryPolicy, StepSemantics
from orchestra.errors import (
    CheckpointError,
    ChildContextError,
    ExecutionError,
    InvocationError,
    MalformedEventError,
    NonDeterministicExecutionError,
    OperationError,
    OrchestraError,
    PayloadTooLargeError,
    SerializationError,
    StepError,
    StepInterruptedError,
    ValidationError,
    WorkflowDefinitionError,
)
from orchestra.ops import Attempt, Child, Op, Step, Wait
from orchestra.runtime.handler import lambda_handler
from orchestra.serde import JsonSerde, Serde

__all__ = [
    "Attempt",
    "CheckpointError",
    "Child",
    "ChildContextError",
    "Duration",
    "ExecutionError",
    "InvocationError",
    "Jitter",
    "JsonSerde",
    "MalformedEventError",
    "NonDeterministicExecutionError",
    "Op",
    "OperationError",
    "OrchestraError",
    "PayloadTooLargeError",
    "RetryDecision",
    "RetryPolicy",
    "Serde",
    "SerializationError",
    "Step",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "ValidationError",
    "Wait",
    "WorkflowDefinitionError",
    "get_logger",
    "lambda_handler",
    "step_context",
]
