"""How the interpreter runs :class:`~orchestra.fanout.Map` and :class:`~orchestra.fanout.Parallel`.

The operation is a CONTEXT (``Map`` / ``Parallel``) with id ``M``; branch ``i`` runs as a
child fiber in a context with id ``hash(M, i)`` (sub-type ``MapIteration`` /
``ParallelBranch``). A coordinator, owned by the waiting fiber, starts branches in index
order, at most ``max_concurrency`` in flight (a branch that waits on a timer, a callback or
an invoke keeps its slot), and asks the completion policy after each branch's outcome is
durable. Once it decides, the branches still running are cancelled (their queued
checkpoints are withdrawn) and the BatchResult, which records which items started and the
reason, is checkpointed on the operation's SUCCEED. A replay reads that BatchResult back;
it never recomputes the decision.

NESTED branches checkpoint START (async) and SUCCEED/FAIL (sync) of their own, so a
finished branch replays from its checkpoint without running. FLAT branches checkpoint
nothing of their own: their operations report ``M`` as parent and their bodies replay.

A new NESTED branch of a Map over a plain function (its one step) runs *detached*: the
coordinator starts the step itself (:func:`~.step.run_detached`), with no fiber, context or
generator, checkpointing exactly what the branch's fiber would; a failed attempt gets that
fiber then (retries and waits are a fiber's work).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from returns.result import Failure, Result, Success

from orchestra.completion import Completion, CompletionReason
from orchestra.config import StepSemantics
from orchestra.errors import (
    ChildContextError,
    ExecutionError,
    OperationError,
    SerializationError,
    StepError,
    WorkflowDefinitionError,
    error_object,
)
from orchestra.errors import operation_error_from as rebuild
from orchestra.fanout import Map, Nesting, Parallel
from orchestra.interpreter.child import CHECKPOINT_PAYLOAD_LIMIT
from orchestra.interpreter.fiber import Context, FiberState
from orchestra.interpreter.ids import operation_id
from orchestra.interpreter.payloads import ANY_SERDE, decode, encode_checked, serde_for
from orchestra.interpreter.signals import BLOCKED, ExecutionFailure, label
from orchestra.interpreter.step import run_detached
from orchestra.ops import Child, Step, is_generator_function
from orchestra.results import BatchItem, BatchResult, ItemStatus
from orchestra.serde import PLAIN_TYPES, JsonSerde, Serde
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

if TYPE_CHECKING:
    from orchestra.interpreter.fiber import Fiber
    from orchestra.interpreter.kernel import Kernel

__all__ = ["handle_map", "handle_parallel"]

Body = Callable[[], Generator[Any, Any, Any]]


class Bodies(Protocol):
    """The branches' bodies, by index: a tuple, or bodies made on demand (:class:`_ItemSteps`)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Body: ...


#: A NESTED branch's SUCCEED options: its result stored, or too large (replay its children).
_STORED = ContextOptions(replay_children=False)
_REPLAY_CHILDREN = ContextOptions(replay_children=True)
Outcome = Result[Any, OperationError]


class _Plan:
    """What one Map or Parallel runs: its branches and how to record and read them.

    (A plain class: the interpreter defines it when a workflow first yields a Map, inside
    that run, where an attrs class would cost its code generation.)
    """

    __slots__ = (
        "_branch_ids",
        "bodies",
        "branch_serde",
        "branch_sub_type",
        "groups",
        "item_names",
        "item_serde",
        "kind",
        "names",
        "op",
        "op_id",
        "steps",
    )

    def __init__(
        self,
        op: Map[Any] | Parallel,
        op_id: str,
        kind: str,
        branch_sub_type: str,
        names: tuple[str | None, ...],
        bodies: Bodies,
        item_serde: Serde[Any],
        branch_serde: Serde[Any] = ANY_SERDE,
        groups: tuple[tuple[int, ...], ...] | None = None,
        item_names: tuple[str | None, ...] = (),
        *,
        steps: _ItemSteps | None = None,
    ) -> None:
        self.op = op
        self.op_id = op_id
        self.kind = kind  # "MapResult" | "ParallelResult"
        self.branch_sub_type = branch_sub_type
        self.names = names
        self.bodies = bodies
        self.item_serde = item_serde
        #: Encodes a branch's result (the item serde, or JSON for a batch's entries).
        self.branch_serde = branch_serde
        #: With an ItemBatch: the item indexes each branch runs (else one item per branch).
        self.groups = groups
        self.item_names = item_names
        #: For a Map over a plain function: its items' steps (which may run detached).
        self.steps = steps
        self._branch_ids: dict[int, str] = {}

    @property
    def total(self) -> int:
        return len(self.bodies)

    @property
    def item_total(self) -> int:
        return len(self.item_names) if self.groups is not None else len(self.bodies)

    def members(self, branch: int) -> tuple[int, ...]:
        return self.groups[branch] if self.groups is not None else (branch,)

    def item_name(self, item: int) -> str | None:
        return self.item_names[item] if self.groups is not None else self.names[item]

    def branch_id(self, index: int) -> str:
        """The id of branch ``index``'s context, hashed once per branch and remembered."""
        ids = self._branch_ids
        found = ids.get(index)
        if found is None:
            found = ids[index] = operation_id(self.op_id, index)
        return found


def handle_map(
    k: Kernel, fiber: Fiber, op: Map[Any], op_id: str, recorded: Operation | None
) -> object:
    """Replay or run a Map."""
    names = tuple(_item_name(op, i, item) for i, item in enumerate(op.items))
    item_serde = op.item_serde or serde_for(k.serdes, op.fn, None)
    if op.batch is not None:
        groups = op.batch.groups(op.items)
        plan = _Plan(
            op,
            op_id,
            "MapResult",
            "MapIteration",
            tuple(f"map-batch-{b}" for b in range(len(groups))),
            tuple(_batch_body(op, group, names, item_serde) for group in groups),
            item_serde,
            ANY_SERDE,
            groups,
            names,
        )
        return _run(k, fiber, plan, recorded)
    steps: _ItemSteps | None = None
    bodies: Bodies
    if is_generator_function(op.fn):
        bodies = tuple(_map_body(op, i, item) for i, item in enumerate(op.items))
    else:
        bodies = steps = _ItemSteps(op.fn, op.items)
    plan = _Plan(
        op, op_id, "MapResult", "MapIteration", names, bodies, item_serde, item_serde, steps=steps
    )
    return _run(k, fiber, plan, recorded)


def handle_parallel(
    k: Kernel, fiber: Fiber, op: Parallel, op_id: str, recorded: Operation | None
) -> object:
    """Replay or run a Parallel."""
    names = tuple(b.name or f"parallel-branch-{i}" for i, b in enumerate(op.branches))
    bodies = tuple(_parallel_body(b.fn) for b in op.branches)
    serde = op.item_serde or ANY_SERDE
    plan = _Plan(op, op_id, "ParallelResult", "ParallelBranch", names, bodies, serde, serde)
    return _run(k, fiber, plan, recorded)


# --- branch bodies -----------------------------------------------------------------------


def _item_name(op: Map[Any], index: int, item: Any) -> str:
    if op.item_namer is None:
        return f"map-item-{index}"
    where = f"Map {op.name!r} item {index}" if op.name else f"Map item {index}"
    try:
        name = op.item_namer(item, index)
    except Exception as exc:
        raise ExecutionFailure(
            ExecutionError(f"the item_namer of {where} raised {type(exc).__name__}: {exc}")
        ) from exc
    if not isinstance(name, str) or not name:
        raise ExecutionFailure(
            ExecutionError(
                f"the item_namer of {where} returned {name!r}; it must return a non-empty str"
            )
        )
    return name


class _ItemSteps:
    """The one-step bodies of a Map over a plain function: ``Step(fn, item, index)`` each.

    The first body to run builds (and so checks) the step once; the others copy it with
    their own arguments, as ``Step(fn, item, index)`` would make it, without checking the
    same function again for each item. If building it fails, each body fails the same way.
    A body is made when a branch asks for it (most run detached, without one).
    """

    __slots__ = ("fn", "items", "step_serde", "template")

    def __init__(self, fn: Callable[..., Any], items: Sequence[Any]) -> None:
        self.fn = fn
        self.items = items
        self.template: Step[Any] | None = None
        self.step_serde: Serde[Any] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Body:
        item = self.items[index]
        return lambda: _single_step(self.step(item, index))

    def step(self, item: Any, index: int) -> Step[Any]:
        return self.checked(item, index).with_args((item, index))

    def checked(self, item: Any, index: int) -> Step[Any]:
        """The step built and checked once (with the first item's arguments)."""
        template = self.template
        if template is None:
            template = self.template = Step(self.fn, item, index)
        return template

    def serde(self, k: Kernel) -> Serde[Any]:
        """The serde of the steps' results (the same for every item: found once)."""
        found = self.step_serde
        if found is None:
            assert self.template is not None  # (asked for once a step was built)
            found = self.step_serde = serde_for(k.serdes, self.fn, self.template.serde)
        return found


def _map_body(op: Map[Any], index: int, item: Any) -> Body:
    if is_generator_function(op.fn):
        return lambda: _generator(op.fn, item, index)
    return lambda: _single_step(Step(op.fn, item, index))


def _batch_body(
    op: Map[Any], group: tuple[int, ...], names: tuple[str | None, ...], item_serde: Serde[Any]
) -> Body:
    def body() -> Generator[Any, Any, Any]:
        entries: list[dict[str, Any]] = []
        for index in group:
            item = op.items[index]
            if is_generator_function(op.fn):
                work: Any = Child(op.fn, item, index, name=names[index], virtual=True)
            else:
                work = Step(op.fn, item, index)
            outcome = yield work.attempt()
            if isinstance(outcome, Success):
                entries.append({"index": index, "result": item_serde.serialize(outcome.unwrap())})
            else:
                err: OperationError = outcome.failure()
                raw = ErrorObject(err.message or None, err.error_type, err.data, err.stack_trace)
                entries.append({"index": index, "error": to_wire(raw)})
        return entries

    return body


def _parallel_body(fn: Callable[[], Any]) -> Body:
    if is_generator_function(fn):
        return lambda: _generator(fn)
    return lambda: _single_step(Step(fn))


class _OneStepFailed(Exception):
    """A plain-function branch's step gave up; carries the function's own error."""

    def __init__(self, error: StepError) -> None:
        super().__init__(error.message)
        self.error = error


def _raw_error(error: BaseException) -> ErrorObject:
    """The error a failed item records: for a one-step branch, the function's raised type."""
    if isinstance(error, _OneStepFailed):
        step = error.error
        return ErrorObject(step.message or None, step.error_type, step.data, step.stack_trace)
    return error_object(error)


def _generator(fn: Callable[..., Any], *args: Any) -> Generator[Any, Any, Any]:
    gen = fn(*args)
    if not inspect.isgenerator(gen):
        raise WorkflowDefinitionError(f"{fn!r} did not return a generator")
    return gen


def _single_step(step: Step[Any]) -> Generator[Any, Any, Any]:
    try:
        return (yield step)
    except StepError as exc:
        raise _OneStepFailed(exc) from exc


# --- the operation -----------------------------------------------------------------------


def _run(k: Kernel, fiber: Fiber, plan: _Plan, recorded: Operation | None) -> object:
    op = plan.op
    if recorded is not None and recorded.status is OperationStatus.SUCCEEDED:
        details = recorded.context_details
        payload = details.result if details else None
        if details is not None and details.replay_children:
            _Coordinator(k, fiber, plan).replay_large(payload or "")
        else:
            _deliver(k, fiber, plan, _decode_result(plan, payload or ""))
        return None if fiber.state is FiberState.RUNNABLE else BLOCKED
    if recorded is not None and recorded.is_terminal:
        details = recorded.context_details
        error = rebuild(
            ChildContextError,
            details.error if details else None,
            operation_id=plan.op_id,
            name=op.name,
        )
        k.wake(fiber, None, error)
        return None
    if recorded is None:
        k.checkpoint(fiber, k.update(fiber, op, plan.op_id, OperationAction.START))
    _Coordinator(k, fiber, plan).start()
    return None if fiber.state is FiberState.RUNNABLE else BLOCKED


def _decode_result(plan: _Plan, payload: str) -> BatchResult[Any]:
    serde = plan.op.serde
    if serde is None:
        try:
            return BatchResult.decode(payload, plan.item_serde)
        except SerializationError as exc:
            raise ExecutionFailure(exc) from exc
    value = decode(serde, payload, plan.op_id, plan.op.name)
    if not isinstance(value, BatchResult):
        raise ExecutionFailure(
            SerializationError(
                f"the serde of {label(plan.op_id, plan.op.name)} decoded a "
                f"{type(value).__name__}, not a BatchResult"
            )
        )
    return value


def _reads_back_as_itself(plan: _Plan, result: BatchResult[Any]) -> bool:
    """Whether decoding ``result``'s payload would give ``result`` again, item for item.

    True when the batch has the default codec, no item failed (a failure reads back as a
    rebuilt error), and every result is a plain value (``int``, ``str``, ``bool``,
    ``float``, ``None``) that the item codec, the default JSON one untyped or typed as
    exactly that value's type, writes and reads back as itself. Then the live run hands
    over the result it holds, which equals what a replay decodes, without decoding every
    item again.
    """
    serde = plan.item_serde
    if plan.op.serde is not None or type(serde) is not JsonSerde:
        return False
    wanted = serde.type_
    for item in result.items:
        if item.status is ItemStatus.STARTED:
            continue
        if item.status is not ItemStatus.SUCCEEDED:
            return False
        kind = type(item.result.unwrap()) if isinstance(item.result, Success) else None
        if kind not in PLAIN_TYPES or (wanted is not Any and wanted is not kind):
            return False
    return True


def _deliver(k: Kernel, fiber: Fiber, plan: _Plan, result: BatchResult[Any]) -> None:
    """Wake the waiting fiber with the result, as the combinator (if any) reads it."""
    reading = plan.op.reading if isinstance(plan.op, Parallel) else None
    if reading is None:
        k.wake(fiber, result, None)
        return
    try:
        value = reading(result)
    except OperationError as exc:
        k.wake(fiber, None, exc)
        return
    k.wake(fiber, value, None)


def _replays_children(recorded: Operation) -> bool:
    """Whether a SUCCEEDED branch stored no result (too large) and rebuilds it on replay."""
    details = recorded.context_details
    return (
        recorded.status is OperationStatus.SUCCEEDED
        and details is not None
        and bool(details.replay_children)
    )


class _Tally(dict[int, BatchItem[Any]]):
    """The ended items by index, counting those that succeeded and failed as they are set."""

    succeeded = 0
    failed = 0

    def __setitem__(self, index: int, item: BatchItem[Any]) -> None:
        old = self.get(index)
        if old is not None:
            self._count(old, -1)
        super().__setitem__(index, item)
        self._count(item, 1)

    def _count(self, item: BatchItem[Any], step: int) -> None:
        if item.status is ItemStatus.SUCCEEDED:
            self.succeeded += step
        elif item.status is ItemStatus.FAILED:
            self.failed += step


def _may_end(policy: Completion, total: int, succeeded: int, failed: int) -> bool:
    """Whether ``policy.decide`` can end the batch now (a cheap superset of its conditions)."""
    return (
        policy.should_complete is not None
        or succeeded + failed >= total
        or (policy.min_successful is not None and succeeded >= policy.min_successful)
        or (failed > 0 and policy.tolerance_exceeded(total, failed))  # (none: never exceeded)
    )


class _Detached:
    """A running branch that is a detached step: its checkpoints' owner, its step id.

    Its methods are what :func:`~.step.run_detached` calls back (one slotted object per
    branch instead of closures over the branch's index: a Map starts thousands).
    """

    __slots__ = ("coordinator", "index", "op_id", "owner")

    def __init__(self, coordinator: _Coordinator, index: int, op_id: str) -> None:
        self.coordinator = coordinator
        self.index = index
        self.op_id = op_id
        self.owner = -1  # (set once run_detached returned it)

    def adopt(self, owner: int) -> Fiber:
        """The branch's fiber, made when its step's attempt failed."""
        c = self.coordinator
        fiber = c.k.adopt(c.fiber, owner, c._context(self.index), self.op_id, self.ended)
        c.running[self.index] = fiber
        return fiber

    def ended(self, value: Any, error: BaseException | None) -> None:
        """The adopted fiber's outcome."""
        if isinstance(error, StepError):  # as the one-step body reports it
            error = _OneStepFailed(error)
        self.coordinator._branch_done(self.index, value, error)

    def succeeded(self, value: Any, payload: str, serde: Serde[Any]) -> None:
        """The step's checkpointed value: the branch's too."""
        c = self.coordinator
        # the step's payload is the branch's too when both use one serde
        reuse = payload if serde is c.plan.branch_serde else None
        c._branch_done(self.index, value, None, payload=reuse)


class _Coordinator:
    """Starts branches, gathers their outcomes, and ends the operation once it is decided."""

    def __init__(self, k: Kernel, fiber: Fiber, plan: _Plan) -> None:
        self.k = k
        self.fiber = fiber
        self.plan = plan
        self.limit = plan.op.max_concurrency
        self.flat = plan.op.nesting is Nesting.FLAT
        self.next_index = 0
        self.running: dict[int, Fiber | _Detached] = {}
        self.confirming: set[int] = set()
        self.items: _Tally = _Tally()
        self.started: set[int] = set()
        self.done = False
        # (fixed for the invocation: read once, not per branch)
        self.total = len(plan.bodies)
        self.item_total = plan.item_total
        #: Whether new branches may run as detached steps (a Map over a plain function).
        self.detaching = plan.steps is not None and k.may_detach
        #: Whether the history may hold a branch this invocation did not start.
        self.prior = k.has_prior

    # --- live ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self._decide():
            self._schedule()

    def _schedule(self) -> None:
        total = self.total
        limit = self.limit
        while (
            not self.done
            and self.next_index < total
            and (limit is None or len(self.running) + len(self.confirming) < limit)
        ):
            index = self.next_index
            self.next_index += 1
            self._start_branch(index)

    def _start_branch(self, index: int) -> None:
        plan = self.plan
        branch_id = plan.branch_id(index)
        self.started.add(index)
        rebuilding = False  # a SUCCEEDED branch whose result was too large to store
        if not self.flat:
            # (without an earlier invocation, the history holds only branches started here)
            recorded = self.k.history.get(branch_id) if self.prior else None
            details = recorded.context_details if recorded is not None else None
            rebuilding = bool(
                recorded is not None
                and recorded.status is OperationStatus.SUCCEEDED
                and details is not None
                and details.replay_children
            )
            if recorded is not None and recorded.is_terminal and not rebuilding:
                self._resolved_from_history(index, recorded)
                return
            if recorded is None:
                self.k.checkpoint(self.fiber, self._update(index, OperationAction.START))
                if self.detaching and self._detached(index, branch_id):
                    return
        self._start_fiber(index, rebuilding)

    def _start_fiber(self, index: int, rebuilding: bool) -> None:
        """Run branch ``index`` in a fiber of its own (its context's body)."""
        self.k.start_context(
            self.fiber,
            self.plan.bodies[index],
            self._context(index),
            lambda v, e: self._branch_done(index, v, e, rebuilding=rebuilding),
        )
        self.running[index] = self.fiber.children[-1]

    def _context(self, index: int) -> Context:
        plan = self.plan
        branch_id = plan.branch_id(index)
        return Context(
            prefix=branch_id,
            parent_id=plan.op_id if self.flat else branch_id,
            virtual=self.flat,
            sub_type=plan.branch_sub_type,
            name=plan.names[index],
            path=f"{self.fiber.path} > {plan.names[index] or branch_id[:12]}",
        )

    def _detached(self, index: int, branch_id: str) -> bool:
        """Start a new NESTED branch that is one step without a fiber; whether it did.

        Its checkpoints, and its outcome, are those of the fiber it would otherwise run in
        (``Step(fn, item, index)`` as the context's first operation); a failed attempt is
        handed to a fiber made then (:func:`~.step.run_detached`). A step that cannot even be
        built is left to that fiber, which fails the branch with the error; so is a branch
        whose operations a damaged history records although the branch itself is not.
        """
        plan = self.plan
        op = plan.op
        assert plan.steps is not None and isinstance(op, Map)
        item = op.items[index]
        try:
            step = plan.steps.checked(item, index)
        except Exception:
            return False
        if step.semantics is not StepSemantics.AT_LEAST_ONCE_PER_RETRY:
            return False  # (its START must be durable before it runs: a fiber's work)
        step_id = operation_id(branch_id, 1)
        k = self.k
        if self.prior and (
            k.history.get(step_id) is not None
            or k.history.get(operation_id(branch_id, 2)) is not None
        ):
            return False  # a history at odds with the new branch: the fiber's checks report it

        branch = _Detached(self, index, step_id)
        branch.owner = run_detached(
            k,
            self.fiber,
            step,
            step_id,
            branch_id,
            branch.adopt,
            branch.succeeded,
            (item, index),
            plan.steps.serde(k),
        )
        self.running[index] = branch
        return True

    def _resolved_from_history(self, index: int, recorded: Operation) -> None:
        details = recorded.context_details
        name = self.plan.names[index]
        if recorded.status is OperationStatus.SUCCEEDED:
            result = details.result if details else None
            self._item(index, Success(decode(self.plan.branch_serde, result, recorded.id, name)))
        else:
            self._item(index, Failure(self._error_of(index, details.error if details else None)))

    def _branch_done(
        self,
        index: int,
        value: Any,
        error: BaseException | None,
        *,
        rebuilding: bool = False,
        payload: str | None = None,
    ) -> None:
        """A branch ended with ``value`` or ``error``: checkpoint that (NESTED), then record it.

        ``payload``: ``value`` as the branch serde writes it, when already known (a detached
        step's checkpointed result, by the same serde); it is not encoded again.
        """
        self.running.pop(index, None)
        if self.done:
            return
        plan = self.plan
        if rebuilding and error is None:  # its SUCCEED is recorded: nothing to checkpoint
            self._item(index, Success(value))
            return
        if error is not None:
            err = _raw_error(error)
            failure = self._branch_failure(index, err)
            if self.flat:
                self._item(index, Failure(failure))
                return
            self.confirming.add(index)
            update = self._update(index, OperationAction.FAIL, error=err)
            self.k.confirm(self.fiber, update, partial(self._confirmed, index, Failure(failure)))
            return
        if payload is not None:
            decoded = value  # (decoded from that payload already)
        else:
            # (the value a replay decodes; a plain value under the default codec is itself)
            payload, decoded = encode_checked(
                plan.branch_serde,
                value,
                plan.branch_id(index),
                plan.names[index],
                None,
                "branch result",
            )
        if self.flat:
            self._item(index, Success(decoded))
            return
        # (a character is at most 4 bytes of UTF-8: most payloads need no encoding to tell)
        large = (
            len(payload) > CHECKPOINT_PAYLOAD_LIMIT // 4
            and len(payload.encode()) > CHECKPOINT_PAYLOAD_LIMIT
        )
        update = self._update(
            index,
            OperationAction.SUCCEED,
            payload="" if large else payload,
            context_options=_REPLAY_CHILDREN if large else _STORED,
        )
        self.confirming.add(index)
        # (a partial, not a closure: no cells for this method's variables on every call)
        self.k.confirm(self.fiber, update, partial(self._confirmed, index, Success(decoded)))

    def _confirmed(self, index: int, outcome: Outcome) -> None:
        self.confirming.discard(index)
        if not self.done:
            self._item(index, outcome)

    def _item(self, index: int, outcome: Outcome) -> None:
        self._record(index, outcome)
        if not self._decide():
            self._schedule()

    def _record(self, branch: int, outcome: Outcome) -> None:
        """Store a branch's outcome as the outcomes of its items."""
        plan = self.plan
        if plan.groups is None:
            # (the index is the branch's own; a Failure holds the OperationError the branch
            # failure was rebuilt as: what BatchItem's validators check is known)
            status = ItemStatus.SUCCEEDED if isinstance(outcome, Success) else ItemStatus.FAILED
            self.items[branch] = BatchItem._checked(branch, status, outcome, plan.names[branch])
            return
        if not isinstance(outcome, Success):  # the whole batch failed
            for index in plan.members(branch):
                self.items[index] = BatchItem(
                    index, ItemStatus.FAILED, outcome, plan.item_name(index)
                )
            return
        for entry in outcome.unwrap():
            index = entry["index"]
            name = plan.item_name(index)
            if "error" in entry:
                error = self._map_error(
                    rebuild(
                        ChildContextError,
                        from_wire(entry["error"], ErrorObject),
                        operation_id=plan.branch_id(branch),
                        name=name,
                    )
                )
                self.items[index] = BatchItem(index, ItemStatus.FAILED, Failure(error), name)
            else:
                value = decode(plan.item_serde, entry["result"], plan.branch_id(branch), name)
                self.items[index] = BatchItem(index, ItemStatus.SUCCEEDED, Success(value), name)

    def _decide(self) -> bool:
        policy = self.plan.op.completion
        if not _may_end(policy, self.item_total, self.items.succeeded, self.items.failed):
            return False  # without building the item list: linear, not quadratic, in items
        terminal = [self.items[i] for i in sorted(self.items)]
        try:
            reason = self.plan.op.completion.decide(self.plan.item_total, terminal)
        except Exception as exc:  # a custom should_complete predicate raised
            raise ExecutionFailure(
                ExecutionError(
                    f"the completion policy of {label(self.plan.op_id, self.plan.op.name)} "
                    f"raised {type(exc).__name__}: {exc}"
                )
            ) from exc
        if reason is None:
            return False
        self._finish(reason)
        return True

    def _finish(self, reason: CompletionReason) -> None:
        self.done = True
        for child in list(self.running.values()):
            if isinstance(child, _Detached):
                self.k.cancel_detached(child.owner, child.op_id)
            elif not child.finished:
                self.k.cancel(child)
        self.running.clear()
        items = [
            self.items.get(i) or BatchItem(i, ItemStatus.STARTED, None, self.plan.item_name(i))
            for branch in sorted(self.started)
            for i in self.plan.members(branch)
        ]
        result: BatchResult[Any] = BatchResult(tuple(items), reason)
        plan = self.plan
        serde = plan.op.serde
        try:
            payload = (
                serde.serialize(result) if serde is not None else result.encode(plan.item_serde)
            )
        except Exception as exc:
            raise ExecutionFailure(
                SerializationError(
                    f"cannot serialise the result of {label(plan.op_id, plan.op.name)}: {exc}"
                )
            ) from exc
        large = len(payload.encode()) > CHECKPOINT_PAYLOAD_LIMIT
        stored = result.summary_envelope(plan.kind) if large else payload
        delivered = result if large or _reads_back_as_itself(plan, result) else None
        if delivered is None:
            delivered = _decode_result(plan, payload)
        update = self.k.update(
            self.fiber,
            plan.op,
            plan.op_id,
            OperationAction.SUCCEED,
            payload=stored,
            context_options=ContextOptions(replay_children=large),
        )
        self.k.checkpoint(self.fiber, update, lambda: _deliver(self.k, self.fiber, plan, delivered))

    # --- replay of a large result ---------------------------------------------------------

    def replay_large(self, payload: str) -> None:
        """Rebuild a BatchResult stored as an envelope from the branches' checkpoints."""
        try:
            envelope = BatchResult.parse_envelope(payload)
        except SerializationError as exc:
            raise ExecutionFailure(exc) from exc
        self.done = True  # no decision to make: it is recorded
        self.replay_reason = envelope.completion_reason
        self.replay_total = envelope.total_count
        for branch in range(self.plan.total):
            members = self.plan.members(branch)
            if members[0] >= envelope.total_count or envelope.started & set(members):
                continue  # never started, or recorded as still running
            recorded = self.k.history.get(self.plan.branch_id(branch))
            if not self.flat and recorded is not None and recorded.is_terminal:
                if _replays_children(recorded):  # its own result was too large to store
                    self._replay_flat(branch)
                else:
                    self._replayed(branch, recorded)
            elif self.flat:
                self._replay_flat(branch)
        self._maybe_deliver_replay()

    def _replayed(self, index: int, recorded: Operation) -> None:
        details = recorded.context_details
        if recorded.status is OperationStatus.SUCCEEDED:
            value = decode(
                self.plan.branch_serde,
                details.result if details else None,
                recorded.id,
                self.plan.names[index],
            )
            self._record(index, Success(value))
        else:
            self._record(index, Failure(self._error_of(index, details.error if details else None)))

    def _replay_flat(self, index: int) -> None:
        """Re-run a branch's body over its checkpoints: FLAT, or NESTED with ReplayChildren."""
        plan = self.plan
        context = Context(
            prefix=plan.branch_id(index),
            parent_id=plan.op_id if self.flat else plan.branch_id(index),
            virtual=self.flat,
            sub_type=plan.branch_sub_type,
            name=plan.names[index],
            path=f"{self.fiber.path} > {plan.names[index]}",
        )

        def done(value: Any, error: BaseException | None) -> None:
            self.running.pop(index, None)
            if error is not None:
                self._record(index, Failure(self._branch_failure(index, _raw_error(error))))
            else:
                self._record(index, Success(value))
            self._maybe_deliver_replay()

        self.k.start_context(self.fiber, plan.bodies[index], context, done)
        self.running[index] = self.fiber.children[-1]

    def _maybe_deliver_replay(self) -> None:
        if self.running:
            return
        items = [
            self.items.get(i) or BatchItem(i, ItemStatus.STARTED, None, self.plan.item_name(i))
            for i in range(self.replay_total)
        ]
        _deliver(self.k, self.fiber, self.plan, BatchResult(tuple(items), self.replay_reason))

    # --- helpers --------------------------------------------------------------------------

    def _update(
        self,
        index: int,
        action: OperationAction,
        *,
        payload: str | None = None,
        error: ErrorObject | None = None,
        context_options: ContextOptions | None = None,
    ) -> OperationUpdate:
        plan = self.plan
        return OperationUpdate(  # (by position: one per branch START and end)
            plan.branch_id(index),
            OperationType.CONTEXT,
            action,
            plan.op_id,
            plan.names[index],
            plan.branch_sub_type,
            payload,
            error,
            context_options,
        )

    def _branch_failure(self, index: int, err: ErrorObject) -> OperationError:
        """The error a failed branch is recorded with, after the error mapper."""
        plan = self.plan
        rebuilt = rebuild(
            ChildContextError, err, operation_id=plan.branch_id(index), name=plan.names[index]
        )
        return self._map_error(rebuilt)

    def _error_of(self, index: int, error: Any) -> OperationError:
        rebuilt = rebuild(
            ChildContextError,
            error,
            operation_id=self.plan.branch_id(index),
            name=self.plan.names[index],
        )
        return self._map_error(rebuilt)

    def _map_error(self, error: OperationError) -> OperationError:
        mapper = self.plan.op.error_mapper
        if mapper is None:
            return error
        try:
            mapped = mapper(error)
        except Exception as exc:
            raise ExecutionFailure(
                ExecutionError(
                    f"the error_mapper of {label(self.plan.op_id, self.plan.op.name)} raised "
                    f"{type(exc).__name__}: {exc}"
                )
            ) from exc
        if not isinstance(mapped, OperationError):
            raise ExecutionFailure(
                ExecutionError(
                    f"the error_mapper of {label(self.plan.op_id, self.plan.op.name)} returned "
                    f"{type(mapped).__name__}; it must return an OperationError"
                )
            )
        if isinstance(mapped, ChildContextError):
            return mapped
        # a branch failure is a ChildContextError carrying the type it reports
        translated = ChildContextError(
            mapped.message,
            error_type=mapped.error_type,
            data=mapped.data,
            stack_trace=mapped.stack_trace,
            operation_id=error.operation_id,
            name=error.name,
        )
        translated.__cause__ = mapped.__cause__
        return translated
