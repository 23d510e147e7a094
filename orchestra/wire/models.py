"""The durable-execution service's data model, as frozen attrs classes.

Field names are snake_case; :mod:`orchestra.wire.converter` maps them to the service's
PascalCase dictionaries. The models carry no serialisation code of their own.

**Unknown enum values.** The service may add values to its enumerations (a new
:class:`OperationStatus`, :class:`OperationType` or :class:`ExecutionStatus`). Answers that
carry one still parse: the value becomes an *unknown member* of its enumeration, made by
:meth:`WireEnum.unknown`. An unknown member

* is an instance of its enumeration whose ``value`` (and ``str``) is the raw string, so it
  is written back unchanged;
* has ``name == "UNKNOWN"`` and ``is_known == False``;
* is never identical (``is``) to, nor equal to, any known member, so it is in no set of
  known members: an operation with an unknown status is **not terminal**
  (:attr:`Operation.is_terminal` is ``False``), and an operation of an unknown type matches
  no handler.

Code that must not guess (the interpreter replaying an operation it cannot understand)
checks ``is_known`` and refuses.

Example:
    >>> op = Operation(id="a1", type=OperationType.STEP, status=OperationStatus.STARTED)
    >>> op.is_terminal
    False
    >>> paused = OperationStatus.unknown("PAUSED")
    >>> paused.is_known, paused.value, paused in TERMINAL_STATUSES
    (False, 'PAUSED', False)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Self

import attrs

#: Field metadata marking a field that is not part of the service's dictionaries (the
#: converter neither reads nor writes it), such as a response's RequestId.
NOT_ON_WIRE = "orchestra.not_on_wire"

_UNKNOWN_MEMBERS: dict[tuple[type[enum.Enum], str], enum.Enum] = {}


class WireEnum(enum.StrEnum):
    """A service enumeration that tolerates values it does not know (see the module doc).

    Example:
        >>> OperationType.unknown("TIMER") is OperationType.unknown("TIMER")
        True
        >>> OperationType.STEP.is_known, OperationType.unknown("TIMER").is_known
        (True, False)
    """

    @classmethod
    def unknown(cls, value: str) -> Self:
        """Return the member for ``value``: a known member, or an unknown one (cached).

        Args:
            value: the raw string the service sent.
        """
        known = cls._value2member_map_.get(value)
        if known is not None:
            return known  # type: ignore[return-value]
        key = (cls, value)
        member = _UNKNOWN_MEMBERS.get(key)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = "UNKNOWN"
            member._value_ = value
            _UNKNOWN_MEMBERS[key] = member
        return member  # type: ignore[return-value]

    @property
    def is_known(self) -> bool:
        """Whether this is one of the enumeration's declared members."""
        return type(self)._value2member_map_.get(self._value_) is self


class OperationType(WireEnum):
    """The kind of a checkpointed operation."""

    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationStatus(WireEnum):
    """The status of a checkpointed operation."""

    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationAction(enum.StrEnum):
    """What an update does to an operation."""

    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


class SubType(enum.StrEnum):
    """Sub-types orchestra writes (the service accepts any short string)."""

    STEP = "Step"
    WAIT_FOR_CONDITION = "WaitForCondition"
    WAIT = "Wait"
    CALLBACK = "Callback"
    CHAINED_INVOKE = "ChainedInvoke"
    CHILD = "RunInChildContext"
    WAIT_FOR_CALLBACK = "WaitForCallback"
    MAP = "Map"
    MAP_ITERATION = "MapIteration"
    PARALLEL = "Parallel"
    PARALLEL_BRANCH = "ParallelBranch"


class InvocationStatus(enum.StrEnum):
    """The status a handler returns for one invocation."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"


class ExecutionStatus(WireEnum):
    """The status of a whole durable execution."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


def _lines(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class ErrorObject:
    """An error as the service stores it."""

    error_message: str | None = None
    error_type: str | None = None
    error_data: str | None = None
    #: A tuple, so that operations (and states holding them) stay hashable values.
    stack_trace: tuple[str, ...] | None = attrs.field(default=None, converter=_lines)


@attrs.frozen
class ExecutionDetails:
    """Details of the EXECUTION operation."""

    input_payload: str | None = None


@attrs.frozen
class ContextDetails:
    """Details of a CONTEXT operation."""

    replay_children: bool | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.frozen
class StepDetails:
    """Details of a STEP operation."""

    attempt: int | None = None
    next_attempt_timestamp: datetime | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.frozen
class WaitDetails:
    """Details of a WAIT operation."""

    scheduled_end_timestamp: datetime | None = None


@attrs.frozen
class CallbackDetails:
    """Details of a CALLBACK operation."""

    callback_id: str | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.frozen
class ChainedInvokeDetails:
    """Details of a CHAINED_INVOKE operation."""

    result: str | None = None
    error: ErrorObject | None = None


@attrs.frozen
class Operation:
    """One operation of an execution's state, as the service returns it."""

    id: str
    type: OperationType
    status: OperationStatus
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    execution_details: ExecutionDetails | None = None
    context_details: ContextDetails | None = None
    step_details: StepDetails | None = None
    wait_details: WaitDetails | None = None
    callback_details: CallbackDetails | None = None
    chained_invoke_details: ChainedInvokeDetails | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the operation has reached a final status."""
        return self.status in TERMINAL_STATUSES


@attrs.frozen
class ContextOptions:
    """Options of a CONTEXT update."""

    replay_children: bool | None = None


@attrs.frozen
class StepOptions:
    """Options of a STEP RETRY update."""

    next_attempt_delay_seconds: int | None = None


@attrs.frozen
class WaitOptions:
    """Options of a WAIT START update."""

    wait_seconds: int | None = None


@attrs.frozen
class CallbackOptions:
    """Options of a CALLBACK START update."""

    timeout_seconds: int | None = None
    heartbeat_timeout_seconds: int | None = None


@attrs.frozen
class ChainedInvokeOptions:
    """Options of a CHAINED_INVOKE START update."""

    function_name: str
    tenant_id: str | None = None


@attrs.frozen
class OperationUpdate:
    """One change the SDK asks the service to record."""

    id: str
    type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    context_options: ContextOptions | None = None
    step_options: StepOptions | None = None
    wait_options: WaitOptions | None = None
    callback_options: CallbackOptions | None = None
    chained_invoke_options: ChainedInvokeOptions | None = None


@attrs.frozen
class ExecutionState:
    """A page of operations, with a marker for the next page.

    ``request_id`` is the RequestId of the ``GetDurableExecutionState`` answer this page came
    from, when known; it is not one of the page's keys.
    """

    operations: list[Operation] = attrs.field(factory=list)
    next_marker: str | None = None
    request_id: str | None = attrs.field(default=None, eq=False, metadata={NOT_ON_WIRE: True})


@attrs.frozen
class InvocationInput:
    """The event Lambda passes to a durable function's handler."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: ExecutionState = attrs.field(factory=ExecutionState)
    updated_operation_ids: list[str] = attrs.field(factory=list)


@attrs.frozen
class InvocationOutput:
    """What a durable function's handler returns."""

    status: InvocationStatus
    result: str | None = None
    error: ErrorObject | None = None


@attrs.frozen
class CheckpointResponse:
    """The service's answer to ``CheckpointDurableExecution``.

    ``request_id`` is the answer's RequestId when the backend knows it (for logs and support
    cases); it is not one of the answer's keys.
    """

    new_execution_state: ExecutionState = attrs.field(factory=ExecutionState)
    checkpoint_token: str | None = None
    request_id: str | None = attrs.field(default=None, eq=False, metadata={NOT_ON_WIRE: True})


# --- history events (GetDurableExecutionHistory) -------------------------------------------


@attrs.frozen
class EventPayload:
    """A result or input payload in a history event."""

    truncated: bool
    payload: str | None = None


@attrs.frozen
class EventError:
    """An error in a history event."""

    payload: ErrorObject | None
    truncated: bool


@attrs.frozen
class RetryDetails:
    """Attempt information on StepSucceeded / StepFailed events."""

    current_attempt: int | None = None
    next_attempt_delay_seconds: int | None = None


@attrs.frozen
class EventDetails:
    """Every details field an event may carry; each event fills the ones of its type."""

    input: EventPayload | None = None
    result: EventPayload | None = None
    error: EventError | None = None
    retry_details: RetryDetails | None = None
    execution_timeout: int | None = None
    duration: int | None = None
    scheduled_end_timestamp: datetime | None = None
    callback_id: str | None = None
    timeout: int | None = None
    heartbeat_timeout: int | None = None
    function_name: str | None = None
    tenant_id: str | None = None
    executed_version: str | None = None
    durable_execution_arn: str | None = None
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None
    request_id: str | None = None


@attrs.frozen
class Event:
    """One GetDurableExecutionHistory event.

    The details are held in one :class:`EventDetails`; the converter writes them under the
    key ``<EventType>Details``, as the service does.
    """

    event_type: str
    event_id: int
    event_timestamp: datetime
    details: EventDetails
    sub_type: str | None = None
    id: str | None = None
    name: str | None = None
    parent_id: str | None = None


# --- a faster __init__ for the two models built for every update -------------------------------


def _fast_init(cls: type) -> Callable[..., None]:
    """An ``__init__`` for the frozen slotted ``cls`` equal to attrs' but cheaper to call.

    attrs' ``__init__`` of a frozen slotted class sets each field with
    ``object.__setattr__(self, name, value)``, which looks the name up on the class each
    time; this one calls each slot's own descriptor (``cls.<field>.__set__``), found once
    here. Same parameters, in the same order, with the same defaults; the instance is as
    frozen as before (only ``__init__`` is replaced). A Map's thousands of updates and
    operations are built this way.

    The source is generated from the field names, as attrs generates its own; only
    classes whose fields are plain (no validator, converter, factory or setattr hook, and
    ``None`` or no default) may use it, which is checked here.
    """
    fields = attrs.fields(cls)
    params: list[str] = []
    setters: dict[str, Any] = {}
    lines: list[str] = []
    for field in fields:
        plain = (
            field.validator is None
            and field.converter is None
            and field.on_setattr is None
            and field.init
            and field.alias == field.name
            and (field.default is attrs.NOTHING or field.default is None)
        )
        if not plain or not field.name.isidentifier():  # (a model changed: remove it there)
            raise ImportError(f"{cls.__name__}.{field.name} is not plain: remove _fast_init")
        params.append(field.name if field.default is attrs.NOTHING else f"{field.name}=None")
        setters[f"_set_{field.name}"] = cls.__dict__[field.name].__set__
        lines.append(f"    _set_{field.name}(self, {field.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(setters)
    exec(compile(source, f"<orchestra fast __init__ of {cls.__name__}>", "exec"), namespace)
    init: Callable[..., None] = namespace["__init__"]
    reference = cls.__dict__["__init__"]  # attrs' own
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(reference.__annotations__)
    init.__doc__ = reference.__doc__
    return init


#: attrs' own ``__init__`` of the classes given a faster one (the tests compare the two).
ATTRS_INITS: dict[type, Callable[..., None]] = {}
for _cls in (OperationUpdate, Operation, StepDetails, ContextDetails):
    ATTRS_INITS[_cls] = _cls.__dict__["__init__"]
    setattr(_cls, "__init__", _fast_init(_cls))  # noqa: B010  # (mypy: a method, by design)
del _cls
