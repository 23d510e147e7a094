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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    from orchestra.fanout import (
        All,
        AllSettled,
        Any,
        Branch,
        ItemBatch,
        Map,
        Nesting,
        Parallel,
        Race,
    )
    from orchestra.invoke import Invoke
    from orchestra.markers import Now, Patched, Uuid
    from orchestra.ops import Attempt, Child, Op, Step, Wait
    from orchestra.results import BatchItem, BatchResult, ItemStatus
    from orchestra.runtime.handler import lambda_handler
    from orchestra.serde import JsonSerde, Serde

#: Where each public name lives. Importing ``orchestra`` loads none of them: a name is
#: imported on first use, so a handler that needs ``Step`` and ``lambda_handler`` does not
#: pay for Map, callbacks or the testing tools at cold start.
_LAZY = {
    "get_logger": "orchestra._logging",
    "StepContext": "orchestra._steps",
    "step_context": "orchestra._steps",
    "Await": "orchestra.callbacks",
    "Callback": "orchestra.callbacks",
    "CallbackHandle": "orchestra.callbacks",
    "WaitForCallback": "orchestra.callbacks",
    "Completion": "orchestra.completion",
    "CompletionReason": "orchestra.completion",
    "WaitDecision": "orchestra.conditions",
    "WaitForCondition": "orchestra.conditions",
    "WaitStrategy": "orchestra.conditions",
    "Duration": "orchestra.config",
    "Jitter": "orchestra.config",
    "RetryDecision": "orchestra.config",
    "RetryPolicy": "orchestra.config",
    "StepSemantics": "orchestra.config",
    "CallbackError": "orchestra.errors",
    "CallbackExternalError": "orchestra.errors",
    "CallbackSubmitterError": "orchestra.errors",
    "CallbackTimeoutError": "orchestra.errors",
    "CheckpointError": "orchestra.errors",
    "ChildContextError": "orchestra.errors",
    "ExecutionError": "orchestra.errors",
    "InvocationError": "orchestra.errors",
    "InvokeError": "orchestra.errors",
    "MalformedEventError": "orchestra.errors",
    "NonDeterministicExecutionError": "orchestra.errors",
    "OperationError": "orchestra.errors",
    "OrchestraError": "orchestra.errors",
    "PayloadTooLargeError": "orchestra.errors",
    "SerializationError": "orchestra.errors",
    "StepError": "orchestra.errors",
    "StepInterruptedError": "orchestra.errors",
    "ValidationError": "orchestra.errors",
    "WaitForConditionError": "orchestra.errors",
    "WorkflowDefinitionError": "orchestra.errors",
    "All": "orchestra.fanout",
    "AllSettled": "orchestra.fanout",
    "Any": "orchestra.fanout",
    "Branch": "orchestra.fanout",
    "ItemBatch": "orchestra.fanout",
    "Map": "orchestra.fanout",
    "Nesting": "orchestra.fanout",
    "Parallel": "orchestra.fanout",
    "Race": "orchestra.fanout",
    "Invoke": "orchestra.invoke",
    "Now": "orchestra.markers",
    "Patched": "orchestra.markers",
    "Uuid": "orchestra.markers",
    "Attempt": "orchestra.ops",
    "Child": "orchestra.ops",
    "Op": "orchestra.ops",
    "Step": "orchestra.ops",
    "Wait": "orchestra.ops",
    "BatchItem": "orchestra.results",
    "BatchResult": "orchestra.results",
    "ItemStatus": "orchestra.results",
    "lambda_handler": "orchestra.runtime.handler",
    "JsonSerde": "orchestra.serde",
    "Serde": "orchestra.serde",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
