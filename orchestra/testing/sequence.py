"""``run_sequence``: unit-test a workflow's own logic, one yield at a time.

A workflow is a generator that yields descriptors and receives their results, so its logic
(branches, error handling, what it passes to each step) can be tested without running
anything: :func:`run_sequence` calls the workflow function, checks each descriptor it
yields against the next expected entry and sends back the result that entry gives. There
is no emulator, no thread, no interpreter and no history: steps do not run, waits do not
wait, and a :class:`~orchestra.Child` is not entered (test the sub-workflow with its own
sequence).

Example:
    >>> from orchestra import Step, StepError, Wait
    >>> def charge(order_id: str) -> str:
    ...     raise NotImplementedError("never runs in a sequence test")
    >>> def checkout(order_id):
    ...     try:
    ...         return (yield Step(charge, order_id))
    ...     except StepError as error:
    ...         yield Wait(60, name=f"back off after {error.error_type}")
    ...         return (yield Step(charge, order_id, name="charge again"))
    >>> run_sequence(checkout, "o-1", [(Step(charge, "o-1"), "receipt 1")])
    'receipt 1'
    >>> run_sequence(checkout, "o-1", [
    ...     (Step(charge, "o-1"), StepError("card declined", error_type="ValueError")),
    ...     (Wait, None),
    ...     (lambda op: op.name == "charge again", "receipt 2"),
    ... ])
    'receipt 2'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeAlias

from returns.result import Failure, Result, Success

from orchestra.errors import OperationError
from orchestra.ops import Attempt, Child, Op, Step, Wait, is_generator_function

__all__ = ["Expectation", "Matcher", "run_sequence"]

#: What a yielded value is checked against: a descriptor (compared by type, name, function
#: and arguments), a type (``isinstance``), or a predicate (a callable that returns truthy).
Matcher: TypeAlias = Op[Any] | type[Any] | Callable[[Any], object]
#: One expected yield and the result sent back (an :class:`~orchestra.OperationError` is
#: thrown into the workflow instead).
Expectation: TypeAlias = tuple[Matcher, Any]


def run_sequence(
    workflow: Callable[..., Any],
    input: Any,
    expected: Iterable[tuple[Any, Any]],
) -> Any:
    """Drive ``workflow`` through ``expected`` (matcher, result) pairs; return its result.

    The workflow is called with ``input`` (with no argument when it takes no parameters,
    as the interpreter does). Each value it yields is checked against the next entry's
    matcher:

    * a descriptor (``Step(charge, "o-1")``) matches a descriptor of the same type with the
      same name, function and arguments (for a :class:`~orchestra.Wait`, the same duration
      and name; for an :class:`~orchestra.Attempt`, the same wrapped descriptor). Retry
      policies, semantics and serdes are not compared;
    * a type (``Wait``) matches any instance of it;
    * any other callable is a predicate: the yielded value matches when it returns truthy.

    Then the entry's result is sent back as the value of the ``yield``. A result that is an
    :class:`~orchestra.OperationError` (``StepError``, ``ChildContextError``) is thrown in at
    the ``yield`` instead, as a failed operation is. For an ``Attempt`` (``op.attempt()``)
    the workflow receives ``Success(result)`` or ``Failure(error)``; a result that already
    is a ``returns`` ``Result`` is sent unchanged.

    Args:
        workflow: the workflow (or sub-workflow) generator function.
        input: its input.
        expected: the expected yields, in order, each with the result to send back.

    Returns:
        What the workflow returned.

    Raises:
        AssertionError: a yielded value did not match its entry (the message shows the
            position, what was expected, what was yielded, and which fields differ), the
            workflow yielded more than was expected, or it finished (returned or raised)
            before the last entry.
        TypeError: ``workflow`` is not a generator function, an entry is not a
            ``(matcher, result)`` pair, or a result is an exception that is not an
            ``OperationError`` (failures reach a workflow as ``StepError`` and the like).
        Exception: whatever the workflow raised after the last entry.

    Example:
        >>> from orchestra import Step
        >>> def greet(name: str) -> str:
        ...     return f"Hello, {name}!"
        >>> def workflow(name):
        ...     text = yield from Step(greet, name)
        ...     return text.upper()
        >>> run_sequence(workflow, "Ada", [(Step(greet, "Ada"), "Hello, Ada!")])
        'HELLO, ADA!'
        >>> run_sequence(workflow, "Ada", [(Step(greet, "Bob"), "Hello, Bob!")])
        Traceback (most recent call last):
        AssertionError: run_sequence: the workflow's yield #1 does not match the expectation
          expected: Step(greet, 'Bob', name='greet')
          got:      Step(greet, 'Ada', name='greet')
          differs:  args ('Bob',) != ('Ada',)
    """
    entries = _entries(expected)
    gen = _start(workflow, input)
    try:
        done, value = _advance(gen, lambda: next(gen), 0, entries)
        position = 0
        while not done:
            if position == len(entries):
                raise AssertionError(
                    f"run_sequence: the workflow's yield #{position + 1} is {_show(value)}, "
                    f"but {'only ' if entries else ''}{_yields(len(entries))} "
                    f"{_were(len(entries))} expected"
                )
            matcher, result = entries[position]
            _check(position, matcher, value)
            position += 1
            done, value = _advance(gen, _sender(gen, value, result, position), position, entries)
        return value
    finally:
        gen.close()


def _entries(expected: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    entries = list(expected)
    for index, entry in enumerate(entries):
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise TypeError(
                f"run_sequence: entry #{index + 1} must be a (matcher, result) pair, got {entry!r}"
            )
        result = entry[1]
        if isinstance(result, BaseException) and not isinstance(result, OperationError):
            raise TypeError(
                f"run_sequence: entry #{index + 1} gives {result!r}, but a failed operation "
                "reaches the workflow as an OperationError: use, for example, "
                f"StepError({str(result)!r}, error_type={type(result).__name__!r})"
            )
    return entries


def _start(workflow: Callable[..., Any], input_value: Any) -> Generator[Any, Any, Any]:
    if not is_generator_function(workflow):
        raise TypeError(
            f"run_sequence: {getattr(workflow, '__qualname__', workflow)!r} is not a generator "
            "function: a workflow yields its operations"
        )
    try:
        takes_input = bool(inspect.signature(workflow).parameters)
    except (TypeError, ValueError):
        takes_input = True
    gen: Generator[Any, Any, Any] = workflow(input_value) if takes_input else workflow()
    return gen


def _sender(
    gen: Generator[Any, Any, Any], yielded: Any, result: Any, position: int
) -> Callable[[], Any]:
    """How to deliver ``result`` for ``yielded``: send it, or throw it in."""
    if isinstance(yielded, Attempt):
        if isinstance(result, Result):
            wrapped: Result[Any, Any] = result
        elif isinstance(result, OperationError):
            wrapped = Failure(result)
        else:
            wrapped = Success(result)
        return lambda: gen.send(wrapped)
    if isinstance(result, OperationError):
        return lambda: gen.throw(result)
    return lambda: gen.send(result)


def _advance(
    gen: Generator[Any, Any, Any],
    resume: Callable[[], Any],
    position: int,
    entries: list[tuple[Any, Any]],
) -> tuple[bool, Any]:
    """Resume the workflow: ``(False, yielded)`` or ``(True, returned)``."""
    left = entries[position:]
    try:
        return False, resume()
    except StopIteration as stop:
        if left:
            raise AssertionError(
                f"run_sequence: the workflow returned {stop.value!r} after "
                f"{_yields(position)}, but {len(left)} more {_were(len(left))} expected: "
                + _listing(left, position)
            ) from None
        return True, stop.value
    except Exception as exc:
        if left:
            raise AssertionError(
                f"run_sequence: the workflow raised {exc!r} after {_yields(position)}, but "
                f"{len(left)} more {_were(len(left))} expected: " + _listing(left, position)
            ) from exc
        raise


def _check(position: int, matcher: Any, value: Any) -> None:
    if isinstance(matcher, Op):
        differences = _differences(matcher, value)
        expected = _show(matcher)
    elif isinstance(matcher, type):
        differences = [] if isinstance(value, matcher) else [f"not a {matcher.__name__}"]
        expected = f"any {matcher.__name__}"
    elif callable(matcher):
        differences = [] if matcher(value) else [f"{_callable_name(matcher)} returned false"]
        expected = f"a value for which {_callable_name(matcher)} is true"
    else:
        raise TypeError(
            f"run_sequence: entry #{position + 1} has the matcher {matcher!r}: use a "
            "descriptor, a type or a predicate"
        )
    if differences:
        raise AssertionError(
            f"run_sequence: the workflow's yield #{position + 1} does not match the "
            f"expectation\n  expected: {expected}\n  got:      {_show(value)}\n"
            f"  differs:  {'; '.join(differences)}"
        )


def _differences(expected: Op[Any], got: Any, prefix: str = "") -> list[str]:
    if type(got) is not type(expected):
        return [f"{prefix}type {type(expected).__name__} != {type(got).__name__}"]
    if isinstance(expected, Attempt) and isinstance(got, Attempt):
        return _differences(expected.op, got.op, prefix=f"{prefix}attempt of ")
    fields = _fields(expected)
    if fields is None:
        return [] if expected == got else [f"{prefix}{expected!r} != {got!r}"]
    theirs = _fields(got) or {}
    return [
        f"{prefix}{field} {_value(mine)} != {_value(theirs.get(field))}"
        for field, mine in fields.items()
        if mine != theirs.get(field)
    ]


def _fields(op: Any) -> dict[str, Any] | None:
    """What a descriptor is compared by (``None``: compare the whole value)."""
    if isinstance(op, Step):
        return {"name": op.name, "function": op.fn, "args": op.args, "kwargs": dict(op.kwargs)}
    if isinstance(op, Child):
        return {
            "name": op.name,
            "function": op.fn,
            "args": op.args,
            "kwargs": dict(op.kwargs),
            "virtual": op.virtual,
        }
    if isinstance(op, Wait):
        return {"name": op.name, "seconds": op.seconds}
    return None


def _value(value: Any) -> str:
    return _callable_name(value) if callable(value) and not isinstance(value, type) else repr(value)


def _callable_name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def _show(value: Any) -> str:
    """A descriptor as it would be written, with its name: ``Step(charge, 'o-1', name=...)``."""
    if isinstance(value, Attempt):
        return f"Attempt({_show(value.op)})"
    if isinstance(value, Step | Child):
        parts = [_callable_name(value.fn), *map(repr, value.args)]
        parts += [f"{key}={item!r}" for key, item in _sorted(value.kwargs)]
        parts.append(f"name={value.name!r}")
        if isinstance(value, Child) and value.virtual:
            parts.append("virtual=True")
        return f"{type(value).__name__}({', '.join(parts)})"
    if isinstance(value, Wait):
        name = f", name={value.name!r}" if value.name else ""
        return f"Wait({value.seconds}{name})"
    return repr(value)


def _sorted(kwargs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(kwargs.items())


def _listing(entries: list[tuple[Any, Any]], start: int) -> str:
    shown = []
    for offset, (matcher, _) in enumerate(entries):
        if isinstance(matcher, Op):
            what = _show(matcher)
        elif isinstance(matcher, type):
            what = f"any {matcher.__name__}"
        else:
            what = f"a value for which {_callable_name(matcher)} is true"
        shown.append(f"#{start + offset + 1} {what}")
    return ", ".join(shown)


def _yields(n: int) -> str:
    return "no yields" if n == 0 else f"{n} yield{'s' if n != 1 else ''}"


def _were(n: int) -> str:
    return "was" if n == 1 else "were"
