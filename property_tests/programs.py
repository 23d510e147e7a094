"""Random workflow *programs* as plain data, and a compiler to real orchestra workflows.

A :class:`Program` is a tiny workflow language: a body of statements and a :class:`Return`
that combines what the body collected. Programs are frozen attrs values, so hypothesis
generates and shrinks them (:func:`programs`), and :func:`compile_program` turns one into a
generator function that yields real ``Step``, ``Wait``, ``Child``, ``Callback`` (and its
await), ``WaitForCallback``, ``Invoke``, ``WaitForCondition``, ``Uuid``, ``Patched`` and
``Now`` descriptors.

What a body collects, in order:

* a :class:`Step` collects its value (``echo`` gives the int back, ``tag`` a string);
* a :class:`Wait` collects nothing;
* a :class:`Child` collects its sub-program's result;
* a :class:`Try` collects what its body collected and, when the body raised an
  ``OperationError`` (a step that exhausted its retries, a failed child context), a record
  of the error and then what the handler collected;
* a :class:`Raise` raises :class:`ProgramError`: it fails the enclosing child context
  (or the execution), and it is not caught by a ``Try`` directly;
* a :class:`Callback` creates a callback, runs its body, then (when ``awaited``) collects
  the callback's result, or raises its ``CallbackError`` at the await;
* a :class:`WaitForCallback` collects the callback's result (its submitter is a step named
  ``"<name> submitter"``, which a world can fail);
* an :class:`Invoke` collects what the invoked function returned (raises ``InvokeError``);
* a :class:`Condition` polls a counter from 0 until it reaches ``until`` and collects it
  (raises ``WaitForConditionError`` when ``max_attempts`` polls are not enough, or when
  the world fails the first poll);
* a :class:`Marker` collects ``36`` (the length of a ``Uuid``), ``True`` (``Patched``) or
  nothing (``Now``): their values differ between executions, not their shape;
* a :class:`Fan` (a ``Map`` over its branch programs, or a ``Parallel`` of them, NESTED or
  FLAT) collects ``[reason, [[status, value or error type], ...]]``. Its completion policy
  and ``max_concurrency`` are drawn so that the outcome does not depend on the order in
  which concurrent branches finish: ``all_completed`` with any limit, or any policy (fail
  fast, ``min_successful``, ``tolerated_failures``) with one branch in flight at a time.

Callbacks are answered, and invoked functions played, by the run's
:class:`~orchestra.testing.World` (see :func:`callback_names`, :data:`FUNCTIONS`).

Every operation gets a unique, printable-ASCII name of at most 256 characters, so that a
:class:`~orchestra.testing.World` can fail a given step's attempts by name.
"""

from __future__ import annotations

import functools
import operator
import string
from collections.abc import Callable, Generator, Iterator
from typing import Any, Literal

import attrs
from hypothesis import strategies as st

import orchestra
from orchestra import ops
from orchestra.config import Duration, RetryPolicy, StepSemantics
from orchestra.errors import OperationError

__all__ = [
    "FUNCTIONS",
    "Callback",
    "Child",
    "Condition",
    "Fan",
    "Invoke",
    "Marker",
    "WaitForCallback",
    "callback_names",
    "callbacks_of",
    "condition_names",
    "Program",
    "ProgramError",
    "Raise",
    "Return",
    "Statement",
    "Step",
    "Try",
    "Wait",
    "compile_program",
    "operation_count",
    "programs",
    "step_names",
    "walk",
]

MAX_NAME = 256


class ProgramError(Exception):
    """What a :class:`Raise` statement raises inside the workflow."""


# --- step functions (module level, deterministic) -------------------------------------------


def echo(value: int) -> int:
    return value


def tag(value: int) -> str:
    return f"v{value}"


STEP_FUNCTIONS: dict[str, Callable[[int], Any]] = {"echo": echo, "tag": tag}


def submit(callback_id: str, value: int) -> None:
    """A WaitForCallback submitter: hands the id over (to nobody: the world answers)."""


def count(state: int) -> int:
    """A WaitForCondition check: one more poll."""
    return state + 1


#: The functions an :class:`Invoke` may call; a world plays the first two, ``missing`` is
#: never registered (the invoke fails with ``ResourceNotFoundException``).
FUNCTIONS = ("pricing", "billing", "missing")


# --- the language --------------------------------------------------------------------------


@attrs.frozen
class Step:
    name: str
    value: int
    max_attempts: int = 1
    at_most_once: bool = False
    fn: Literal["echo", "tag"] = "echo"


@attrs.frozen
class Wait:
    name: str
    seconds: int = 1


@attrs.frozen
class Raise:
    message: str = "boom"


@attrs.frozen
class Try:
    body: tuple[Statement, ...]
    handler: tuple[Statement, ...] = ()


@attrs.frozen
class Return:
    """How a body's collected values become its result."""

    mode: Literal["list", "count", "last"] = "list"

    def combine(self, collected: list[Any]) -> Any:
        if self.mode == "count":
            return {"count": len(collected), "items": collected}
        if self.mode == "last":
            return collected[-1] if collected else None
        return collected


@attrs.frozen
class Program:
    body: tuple[Statement, ...]
    returns: Return = Return()


@attrs.frozen
class Child:
    name: str
    program: Program
    virtual: bool = False


@attrs.frozen
class Callback:
    """``handle = yield Callback(...)``, the body, then ``yield handle`` when awaited."""

    name: str
    timeout: int = 0
    heartbeat: int = 0
    body: tuple[Statement, ...] = ()
    awaited: bool = True


@attrs.frozen
class WaitForCallback:
    name: str
    timeout: int = 0
    heartbeat: int = 0
    max_attempts: int = 1
    value: int = 0


@attrs.frozen
class Invoke:
    name: str
    function: str = "pricing"
    value: int = 0


@attrs.frozen
class Condition:
    """Poll ``count`` from 0 while the state is below ``until``, at most ``max_attempts``."""

    name: str
    until: int = 1
    max_attempts: int = 3
    interval: int = 1


@attrs.frozen
class Marker:
    name: str
    kind: Literal["uuid", "patched", "now"] = "uuid"


@attrs.frozen
class Fan:
    """``yield Map(range(n), ...)`` or ``yield Parallel(...)`` over ``branches`` (programs).

    ``policy``: ``"all_completed"``, ``"fail_fast"`` (the default of the operation),
    ``"min_successful"`` (``Completion(min_successful=count)``) or ``"tolerated"``
    (``Completion(tolerated_failures=count)``); ``limit`` is ``max_concurrency``.
    """

    name: str
    kind: Literal["map", "parallel"]
    branches: tuple[Program, ...]
    policy: Literal["all_completed", "fail_fast", "min_successful", "tolerated"] = "all_completed"
    count: int = 0
    limit: int | None = None
    flat: bool = False

    def completion(self) -> orchestra.Completion | None:
        if self.policy == "all_completed":
            return orchestra.Completion.all_completed()
        if self.policy == "min_successful":
            return orchestra.Completion(min_successful=self.count)
        if self.policy == "tolerated":
            return orchestra.Completion(tolerated_failures=self.count)
        return None


Statement = (
    Step
    | Wait
    | Child
    | Try
    | Raise
    | Callback
    | WaitForCallback
    | Invoke
    | Condition
    | Marker
    | Fan
)


# --- inspection ----------------------------------------------------------------------------


def walk(body: tuple[Statement, ...]) -> Iterator[Statement]:
    """Every statement of ``body``, nested ones included, in source order."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, Child):
            yield from walk(stmt.program.body)
        elif isinstance(stmt, Try):
            yield from walk(stmt.body)
            yield from walk(stmt.handler)
        elif isinstance(stmt, Callback):
            yield from walk(stmt.body)
        elif isinstance(stmt, Fan):
            for branch in stmt.branches:
                yield from walk(branch.body)


def step_names(program: Program) -> list[str]:
    """The names of the steps a world may fail: steps, submitters and condition checks."""
    names: list[str] = []
    for s in walk(program.body):
        if isinstance(s, Step | Condition):
            names.append(s.name)
        elif isinstance(s, WaitForCallback):
            names.append(f"{s.name} submitter")
    return names


def callbacks_of(program: Program) -> list[Callback | WaitForCallback]:
    return [s for s in walk(program.body) if isinstance(s, Callback | WaitForCallback)]


def callback_names(program: Program) -> list[str]:
    """The names a world answers callbacks by (a WaitForCallback's stands for its callback)."""
    return [s.name for s in callbacks_of(program)]


def condition_names(program: Program) -> list[str]:
    return [s.name for s in walk(program.body) if isinstance(s, Condition)]


#: How many checkpointed operations a statement yields at most (a WaitForCallback: its
#: context, callback and submitter; a condition: one per poll).
def _operations(stmt: Statement) -> int:
    if isinstance(stmt, Step | Wait | Child | Callback | Invoke):
        return 1
    if isinstance(stmt, WaitForCallback):
        return 3
    if isinstance(stmt, Fan):
        return 1 + len(stmt.branches)
    if isinstance(stmt, Condition):
        return stmt.max_attempts
    if isinstance(stmt, Marker):
        return 0 if stmt.kind == "uuid" else 1
    return 0


def operation_count(program: Program) -> int:
    """About how many checkpoint calls the program can make (one per operation or poll)."""
    return sum(_operations(s) for s in walk(program.body))


def has_at_most_once(program: Program) -> bool:
    return any(isinstance(s, Step) and s.at_most_once for s in walk(program.body))


# --- the compiler --------------------------------------------------------------------------


def compile_program(program: Program) -> Callable[..., Generator[Any, Any, Any]]:
    """The workflow generator function that runs ``program``."""
    compiled: dict[int, Callable[[], Generator[Any, Any, Any]]] = {}

    def sub_workflow(child: Child) -> Callable[[], Generator[Any, Any, Any]]:
        key = id(child)
        if key not in compiled:
            compiled[key] = _as_generator_function(child.program, run_body)
        return compiled[key]

    def run_body(body: tuple[Statement, ...], out: list[Any]) -> Generator[Any, Any, None]:
        for stmt in body:
            if isinstance(stmt, Step):
                value = yield ops.Step(
                    STEP_FUNCTIONS[stmt.fn],
                    stmt.value,
                    name=stmt.name,
                    retry=RetryPolicy.fixed(Duration(1), max_attempts=stmt.max_attempts),
                    semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
                    if stmt.at_most_once
                    else StepSemantics.AT_LEAST_ONCE_PER_RETRY,
                )
                out.append(value)
            elif isinstance(stmt, Wait):
                yield ops.Wait(stmt.seconds, name=stmt.name)
            elif isinstance(stmt, Child):
                value = yield ops.Child(sub_workflow(stmt), name=stmt.name, virtual=stmt.virtual)
                out.append(value)
            elif isinstance(stmt, Try):
                try:
                    yield from run_body(stmt.body, out)
                except OperationError as err:
                    out.append(
                        {
                            "caught": type(err).__name__,
                            "error_type": err.error_type,
                            "message": err.message,
                        }
                    )
                    yield from run_body(stmt.handler, out)
            elif isinstance(stmt, Callback):
                handle = yield orchestra.Callback(
                    name=stmt.name,
                    timeout=stmt.timeout or None,
                    heartbeat_timeout=stmt.heartbeat or None,
                )
                yield from run_body(stmt.body, out)
                if stmt.awaited:
                    out.append((yield handle))
            elif isinstance(stmt, WaitForCallback):
                value = yield orchestra.WaitForCallback(
                    submit,
                    stmt.value,
                    name=stmt.name,
                    timeout=stmt.timeout or None,
                    heartbeat_timeout=stmt.heartbeat or None,
                    retry=RetryPolicy.fixed(Duration(1), max_attempts=stmt.max_attempts),
                )
                out.append(value)
            elif isinstance(stmt, Invoke):
                out.append((yield orchestra.Invoke(stmt.function, stmt.value, name=stmt.name)))
            elif isinstance(stmt, Condition):
                strategy = orchestra.WaitStrategy.fixed(
                    functools.partial(operator.gt, stmt.until),  # state < until
                    stmt.interval,
                    max_attempts=stmt.max_attempts,
                )
                out.append((yield orchestra.WaitForCondition(count, 0, strategy, name=stmt.name)))
            elif isinstance(stmt, Marker):
                if stmt.kind == "uuid":
                    out.append(len(str((yield orchestra.Uuid()))))
                elif stmt.kind == "patched":
                    out.append((yield orchestra.Patched(stmt.name)))
                else:
                    yield orchestra.Now(name=stmt.name)
            elif isinstance(stmt, Fan):
                out.append(batch_summary((yield fan_out(stmt))))
            else:
                raise ProgramError(stmt.message)

    def fan_out(fan: Fan) -> ops.Op[Any]:
        bodies = [_as_generator_function(b, run_body) for b in fan.branches]
        nesting = orchestra.Nesting.FLAT if fan.flat else orchestra.Nesting.NESTED
        options: dict[str, Any] = {
            "name": fan.name,
            "max_concurrency": fan.limit,
            "completion": fan.completion(),
            "nesting": nesting,
        }
        if fan.kind == "parallel":
            return orchestra.Parallel(*bodies, **options)

        def item(index: int, _: int) -> Generator[Any, Any, Any]:
            return (yield from bodies[index]())

        return orchestra.Map(list(range(len(bodies))), item, **options)

    root = _as_generator_function(program, run_body)

    def workflow(event: Any) -> Generator[Any, Any, Any]:
        return (yield from root())

    return workflow


def batch_summary(result: orchestra.BatchResult[Any]) -> list[Any]:
    """What a :class:`Fan` collects: the reason, and each started item's status and value
    (or its error's type)."""
    items = [
        [item.status.value, item.error.error_type if item.error is not None else item.value]
        for item in result.items
    ]
    return [result.completion_reason.value, items]


def _as_generator_function(
    program: Program,
    run_body: Callable[[tuple[Statement, ...], list[Any]], Generator[Any, Any, None]],
) -> Callable[[], Generator[Any, Any, Any]]:
    def body() -> Generator[Any, Any, Any]:
        out: list[Any] = []
        yield from run_body(program.body, out)
        return program.returns.combine(out)

    return body


# --- the strategy --------------------------------------------------------------------------

_PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
_labels = st.one_of(
    st.text(string.ascii_lowercase, max_size=3),
    st.text(_PRINTABLE, max_size=12),
    st.text(_PRINTABLE, min_size=240, max_size=250),  # near the 256-character limit
)
_returns = st.builds(Return, st.sampled_from(["list", "count", "last"]))

_steps = st.builds(
    Step,
    name=_labels,
    value=st.integers(min_value=-(2**31), max_value=2**31),
    max_attempts=st.integers(min_value=1, max_value=3),
    at_most_once=st.booleans(),
    fn=st.sampled_from(["echo", "tag"]),
)
_waits = st.builds(Wait, name=_labels, seconds=st.integers(min_value=1, max_value=3600))
_raises = st.builds(Raise, st.text(_PRINTABLE, min_size=1, max_size=20))

#: Callback timers: none, or 1 to 100 virtual seconds (answers come after 0 to 100).
_timeouts = st.one_of(st.just(0), st.integers(min_value=1, max_value=100))


@st.composite
def _timers(draw: st.DrawFn) -> tuple[int, int]:
    """``(timeout, heartbeat timeout)``: the heartbeat timeout is at most the timeout."""
    timeout = draw(_timeouts)
    heartbeat = draw(st.one_of(st.just(0), st.integers(1, timeout or 100)))
    return timeout, heartbeat


def _callback(body: st.SearchStrategy[tuple[Statement, ...]]) -> st.SearchStrategy[Callback]:
    return st.builds(
        lambda name, timers, body, awaited: Callback(name, *timers, body, awaited),
        _labels,
        _timers(),
        body,
        st.sampled_from([True, True, True, False]),
    )


_wait_for_callbacks = st.builds(
    lambda name, timers, attempts, value: WaitForCallback(name, *timers, attempts, value),
    _labels,
    _timers(),
    st.integers(min_value=1, max_value=2),
    st.integers(min_value=-100, max_value=100),
)
_invokes = st.builds(
    Invoke, _labels, st.sampled_from(FUNCTIONS), st.integers(min_value=-100, max_value=100)
)
_conditions = st.builds(
    Condition,
    _labels,
    until=st.integers(min_value=0, max_value=3),
    max_attempts=st.integers(min_value=1, max_value=3),
    interval=st.integers(min_value=1, max_value=60),
)
_markers = st.builds(Marker, _labels, st.sampled_from(["uuid", "patched", "now"]))


def _maybe(strategy: st.SearchStrategy[Raise], one_in: int) -> st.SearchStrategy[tuple[Raise, ...]]:
    """``(x,)`` once in ``one_in`` draws, else ``()`` (and it shrinks to ``()``)."""
    return st.integers(1, one_in).flatmap(
        lambda n: strategy.map(lambda x: (x,)) if n == one_in else st.just(())
    )


@st.composite
def _fans(draw: st.DrawFn, branch: st.SearchStrategy[Program]) -> Fan:
    """A Map or Parallel whose outcome does not depend on the branches' completion order."""
    branches = tuple(draw(st.lists(branch, max_size=3)))
    policy = draw(st.sampled_from(["all_completed", "fail_fast", "min_successful", "tolerated"]))
    if policy == "min_successful" and not branches:
        policy = "all_completed"  # min_successful must not exceed the number of items
    count = 0
    if policy == "min_successful":
        count = draw(st.integers(1, len(branches)))
    elif policy == "tolerated":
        count = draw(st.integers(0, 2))
    # only all_completed runs every branch whatever the order; the others stop on a
    # decision, which with several branches in flight depends on which finished first
    limit = draw(st.one_of(st.none(), st.integers(1, 3))) if policy == "all_completed" else 1
    return Fan(
        draw(_labels),
        draw(st.sampled_from(["map", "parallel"])),
        branches,
        policy,
        count,
        limit,
        draw(st.booleans()),
    )


def _compound(
    statements: st.SearchStrategy[Statement], max_body: int, new_operations: bool
) -> st.SearchStrategy[Statement]:
    block = st.lists(statements, max_size=max_body).map(tuple)

    def ending_with(raises: st.SearchStrategy[tuple[Raise, ...]]) -> st.SearchStrategy[Any]:
        return st.builds(lambda body, end: body + end, block, raises)

    child_body = st.builds(Program, ending_with(_maybe(_raises, 3)), _returns)
    child = st.builds(Child, name=_labels, program=child_body, virtual=st.booleans())
    compound = [
        st.builds(Try, ending_with(_maybe(_raises, 8)), block),
        child,
        st.builds(Try, st.tuples(child), block),  # a guarded child
    ]
    if new_operations:
        small = st.lists(statements, max_size=2).map(tuple)
        compound.append(_callback(small))  # a callback awaited after a body
        compound.append(st.builds(Try, st.tuples(_callback(small)), block))  # guarded
        compound.append(_fans(child_body))  # a Map or Parallel of sub-programs
    return st.one_of(*compound)


@functools.cache
def _statements(
    max_leaves: int, max_body: int, new_operations: bool
) -> st.SearchStrategy[Statement]:
    """The statement strategy, built once per shape (building it is slower than drawing)."""
    kinds = [_steps, _steps, _waits]
    if new_operations:
        kinds += [_wait_for_callbacks, _invokes, _conditions, _markers]
    return st.recursive(
        st.one_of(*kinds),
        lambda s: _compound(s, max_body, new_operations),
        max_leaves=max_leaves,
    )


@st.composite
def programs(
    draw: st.DrawFn,
    *,
    max_leaves: int = 10,
    max_body: int = 4,
    at_most_once: bool = True,
    new_operations: bool = True,
) -> Program:
    """Random programs; they shrink towards fewer, simpler statements.

    ``Raise`` ends some child and try bodies (a third and an eighth of them). With
    ``at_most_once=False`` every step is at-least-once. With ``new_operations`` (the
    default) they also hold callbacks, WaitForCallbacks, invokes, conditions, markers and
    fan-outs (Map and Parallel of sub-programs, which may nest).
    """
    statements = _statements(max_leaves, max_body, new_operations)
    body = tuple(draw(st.lists(statements, min_size=1, max_size=max_body + 1)))
    program = _number(Program(body, draw(_returns)))
    if not at_most_once:
        program = _map_steps(program, lambda s: attrs.evolve(s, at_most_once=False))
    return program


def _number(program: Program) -> Program:
    """Give every operation a unique name: ``<label>#<kind><n>``, at most 256 characters.

    A WaitForCallback's name leaves room for the callback's ``" create callback id"``; a
    marker's (a Patched change id) is at most 200 characters.
    """
    counter = iter(range(1, 10_000))
    room = {WaitForCallback: len(" create callback id"), Marker: MAX_NAME - 200}

    def named(stmt: Statement) -> Statement:
        kind = {
            Step: "s",
            Wait: "w",
            Child: "c",
            Callback: "k",
            WaitForCallback: "f",
            Invoke: "i",
            Condition: "q",
            Marker: "m",
            Fan: "p",
        }.get(type(stmt))
        if kind is None:
            return stmt
        suffix = f"#{kind}{next(counter)}"
        keep = MAX_NAME - len(suffix) - room.get(type(stmt), 0)
        return attrs.evolve(stmt, name=stmt.name[:keep] + suffix)

    return _map_statements(program, named)


def _map_steps(program: Program, fn: Callable[[Step], Step]) -> Program:
    return _map_statements(program, lambda s: fn(s) if isinstance(s, Step) else s)


def _map_statements(program: Program, fn: Callable[[Statement], Statement]) -> Program:
    """Apply ``fn`` to every statement, outer before inner, in program order."""

    def body(stmts: tuple[Statement, ...]) -> tuple[Statement, ...]:
        out: list[Statement] = []
        for original in stmts:
            stmt = fn(original)
            if isinstance(stmt, Child):
                inner = attrs.evolve(stmt.program, body=body(stmt.program.body))
                out.append(attrs.evolve(stmt, program=inner))
            elif isinstance(stmt, Try):
                out.append(Try(body(stmt.body), body(stmt.handler)))
            elif isinstance(stmt, Callback):
                out.append(attrs.evolve(stmt, body=body(stmt.body)))
            elif isinstance(stmt, Fan):
                branches = tuple(attrs.evolve(b, body=body(b.body)) for b in stmt.branches)
                out.append(attrs.evolve(stmt, branches=branches))
            else:
                out.append(stmt)
        return tuple(out)

    return attrs.evolve(program, body=body(program.body))
