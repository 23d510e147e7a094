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
from orchestra.callbacks import Await, Callback, CallbackHandle, WaitForCallback
from orchestra.completion import Completion, CompletionReason
from orchestra.conditions import WaitDecision, WaitForCondition, WaitStrategy
from orchestra.config import Duration, Jitter, RetryDecision, RetryPolicy, StepSemantics
from orchestra.errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    CheckpointError,
    ChildContextError,
    ExecutionError,
    InvocationError,
    InvokeError,
    MalformedEventError,
    NonDeterministicExecutionError,
    OperationError,
    OrchestraError,
    PayloadTooLargeError,
    SerializationError,
    StepError,
    StepInterruptedError,
    ValidationError,
    WaitForConditionError,
    WorkflowDefinitionError,
)
from orchestra.fanout import All, AllSettled, Any, Branch, ItemBatch, Map, Nesting, Parallel, Race
from orchestra.invoke import Invoke
from orchestra.markers import Now, Patched, Uuid
from orchestra.ops import Attempt, Child, Op, Step, Wait
from orchestra.results import BatchItem, BatchResult, ItemStatus
from orchestra.runtime.handler import lambda_handler
from orchestra.serde import JsonSerde, Serde

__all__ = [
    "All",
    "AllSettled",
    "Any",
    "Attempt",
    "Await",
    "BatchItem",
    "BatchResult",
    "Branch",
    "Callback",
    "CallbackError",
    "CallbackExternalError",
    "CallbackHandle",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "Child",
    "ChildContextError",
    "Completion",
    "CompletionReason",
    "Duration",
    "ExecutionError",
    "InvocationError",
    "Invoke",
    "InvokeError",
    "ItemBatch",
    "ItemStatus",
    "Jitter",
    "JsonSerde",
    "MalformedEventError",
    "Map",
    "Nesting",
    "NonDeterministicExecutionError",
    "Now",
    "Op",
    "OperationError",
    "OrchestraError",
    "Parallel",
    "Patched",
    "PayloadTooLargeError",
    "Race",
    "RetryDecision",
    "RetryPolicy",
    "Serde",
    "SerializationError",
    "Step",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "Uuid",
    "ValidationError",
    "Wait",
    "WaitDecision",
    "WaitForCallback",
    "WaitForCondition",
    "WaitForConditionError",
    "WaitStrategy",
    "WorkflowDefinitionError",
    "get_logger",
    "lambda_handler",
    "step_context",
]
