"""Random workflow *programs* as plain data, and a compiler to real orchestra workflows.

A :class:`Program` is a tiny workflow language: a body of statements and a :class:`Return`
that combines what the body collected. Programs are frozen attrs values, so hypothesis
generates and shrinks them (:func:`programs`), and :func:`compile_program` turns one into a
generator function that yields real ``Step``, ``Wait`` and ``Child`` descriptors.

What a body collects, in order:

* a :class:`Step` collects its value (``echo`` gives the int back, ``tag`` a string);
* a :class:`Wait` collects nothing;
* a :class:`Child` collects its sub-program's result;
* a :class:`Try` collects what its body collected and, when the body raised an
  ``OperationError`` (a step that exhausted its retries, a failed child context), a record
  of the error and then what the handler collected;
* a :class:`Raise` raises :class:`ProgramError`: it fails the enclosing child context
  (or the execution), and it is not caught by a ``Try`` directly.

Every operation gets a unique, printable-ASCII name of at most 256 characters, so that a
:class:`~orchestra.testing.World` can fail a given step's attempts by name.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Generator, Iterator
from typing import Any, Literal

import attrs
from hypothesis import strategies as st

from orchestra import ops
from orchestra.config import Duration, RetryPolicy, StepSemantics
from orchestra.errors import OperationError

__all__ = [
    "Child",
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


Statement = Step | Wait | Child | Try | Raise


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


def step_names(program: Program) -> list[str]:
    return [s.name for s in walk(program.body) if isinstance(s, Step)]


def operation_count(program: Program) -> int:
    """How many operations the program can yield (steps, waits and children)."""
    return sum(isinstance(s, Step | Wait | Child) for s in walk(program.body))


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
            else:
                raise ProgramError(stmt.message)

    root = _as_generator_function(program, run_body)

    def workflow(event: Any) -> Generator[Any, Any, Any]:
        return (yield from root())

    return workflow


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


def _maybe(strategy: st.SearchStrategy[Raise], one_in: int) -> st.SearchStrategy[tuple[Raise, ...]]:
    """``(x,)`` once in ``one_in`` draws, else ``()`` (and it shrinks to ``()``)."""
    return st.integers(1, one_in).flatmap(
        lambda n: strategy.map(lambda x: (x,)) if n == one_in else st.just(())
    )


def _compound(
    statements: st.SearchStrategy[Statement], max_body: int
) -> st.SearchStrategy[Statement]:
    block = st.lists(statements, max_size=max_body).map(tuple)

    def ending_with(raises: st.SearchStrategy[tuple[Raise, ...]]) -> st.SearchStrategy[Any]:
        return st.builds(lambda body, end: body + end, block, raises)

    child_body = st.builds(Program, ending_with(_maybe(_raises, 3)), _returns)
    child = st.builds(Child, name=_labels, program=child_body, virtual=st.booleans())
    return st.one_of(
        st.builds(Try, ending_with(_maybe(_raises, 8)), block),
        child,
        st.builds(Try, st.tuples(child), block),  # a guarded child
    )


@st.composite
def programs(
    draw: st.DrawFn,
    *,
    max_leaves: int = 10,
    max_body: int = 4,
    at_most_once: bool = True,
) -> Program:
    """Random programs; they shrink towards fewer, simpler statements.

    ``Raise`` ends some child and try bodies (a third and an eighth of them). With
    ``at_most_once=False`` every step is at-least-once.
    """
    leaves = st.one_of(_steps, _steps, _waits)
    statements = st.recursive(leaves, lambda s: _compound(s, max_body), max_leaves=max_leaves)
    body = tuple(draw(st.lists(statements, min_size=1, max_size=max_body + 1)))
    program = _number(Program(body, draw(_returns)))
    if not at_most_once:
        program = _map_steps(program, lambda s: attrs.evolve(s, at_most_once=False))
    return program


def _number(program: Program) -> Program:
    """Give every operation a unique name: ``<label>#<kind><n>``, at most 256 characters."""
    counter = iter(range(1, 10_000))

    def named(stmt: Statement) -> Statement:
        kind = {Step: "s", Wait: "w", Child: "c"}.get(type(stmt))
        if kind is None:
            return stmt
        suffix = f"#{kind}{next(counter)}"
        return attrs.evolve(stmt, name=stmt.name[: MAX_NAME - len(suffix)] + suffix)

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
            else:
                out.append(stmt)
        return tuple(out)

    return attrs.evolve(program, body=body(program.body))
