"""Operation descriptors: the values a workflow yields.

A descriptor is an inert, immutable value. Building one does nothing; yielding it from a
workflow asks the interpreter to run it (or to replay its checkpointed outcome)::

    def greet(name: str) -> str:
        return f"Hello, {name}!"

    def workflow(event):
        text = yield Step(greet, event)          # run greet(event) durably
        yield Wait(Duration.seconds(2))          # sleep without paying for compute
        return text

``x = yield from Step(...)`` gives the same value, typed ``T`` for mypy (for a
:class:`Child`, ``T`` is the sub-workflow's return type, or the plain function's). ``.attempt()``
gives a non-raising form whose value is a :class:`returns.result.Result`.

Every argument is checked when the descriptor is built, so a mistake fails at the line that
made it with a :class:`~orchestra.errors.ValidationError` naming the descriptor, the field
and the value: ``Step 'charge': retry must be a RetryPolicy, got int 3``.

Example:
    >>> op = Step(len, "abc", name="measure")
    >>> op.name, op.args
    ('measure', ('abc',))
    >>> Wait(Duration.seconds(0))
    Traceback (most recent call last):
    ...
    orchestra.errors.ValidationError: Wait duration must be at least 1 second, got 0 s
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping
from inspect import CO_GENERATOR
from types import FunctionType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, final, overload

import attrs

from orchestra.config import (
    Duration,
    RetryPolicy,
    StepSemantics,
    as_duration,
    check_service_duration,
)
from orchestra.errors import OperationError, ValidationError, describe_value
from orchestra.serde import Serde
from orchestra.wire.models import OperationType, SubType

if TYPE_CHECKING:
    from returns.result import Result  # noqa: F401 (Attempt's base, a string: no run-time import)

__all__ = ["Attempt", "Child", "Op", "Step", "Wait", "check_name", "is_generator_function"]

T = TypeVar("T")

MAX_NAME_LENGTH = 256


def check_name(name: str | None, what: str) -> str | None:
    """Check an operation name: 1-256 printable ASCII characters, or ``None``.

    Example:
        >>> check_name("ok name", "Step")
        'ok name'
        >>> check_name("x" * 300, "Step")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: Step name is 300 characters long; ...
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise ValidationError(
            f"{what}: name must be a str (1-256 printable ASCII characters), "
            f"got {describe_value(name)}"
        )
    if not name:
        return None
    if len(name) <= MAX_NAME_LENGTH and name.isascii() and name.isprintable():
        return name  # printable ASCII is exactly " " to "~"
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{what} name is {len(name)} characters long; the service allows at most "
            f"{MAX_NAME_LENGTH}: {name[:40]!r}..."
        )
    for i, ch in enumerate(name):
        if not " " <= ch <= "~":
            raise ValidationError(
                f"{what} name {name!r} has a character that is not printable ASCII at position {i}"
            )
    return name


def is_generator_function(fn: object) -> bool:
    """Whether ``fn`` is a generator function (a workflow or sub-workflow)."""
    if type(fn) is FunctionType:  # the common case, without inspect's unwrapping
        return bool(fn.__code__.co_flags & CO_GENERATOR)
    return inspect.isgeneratorfunction(fn) or inspect.isgeneratorfunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )


def default_name(fn: Callable[..., Any], what: str) -> str | None:
    """The name an operation gets from its function: ``fn.__name__``.

    A name Python made up (``<lambda>``, ``<genexpr>``) says nothing, so the operation gets
    none, as in the reference SDK.

    Example:
        >>> default_name(len, "Step"), default_name(lambda: 1, "Step")
        ('len', None)
    """
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name.startswith("<"):
        return None
    return check_name(name[:MAX_NAME_LENGTH], what)


def op_label(what: str, name: str | None) -> str:
    return f"{what} {name!r}" if name else what


def check_serde(serde: object, label: str) -> None:
    if serde is None:
        return
    for method in ("serialize", "deserialize"):
        if not callable(getattr(serde, method, None)):
            raise ValidationError(
                f"{label}: serde must have serialize(value) -> str and deserialize(str) "
                f"methods, got {describe_value(serde)}"
            )


def check_retry(retry: object, label: str) -> None:
    """Refuse a ``retry`` that is not a :class:`RetryPolicy` (``None`` is the default)."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        hint = (
            " (for a number of attempts, use e.g. RetryPolicy.fixed(max_attempts=3))"
            if isinstance(retry, int) and not isinstance(retry, bool)
            else ""
        )
        raise ValidationError(
            f"{label}: retry must be a RetryPolicy, got {describe_value(retry)}{hint}"
        )


def check_kwargs(kwargs: object, label: str) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ValidationError(
            f"{label}: kwargs must be a mapping of keyword arguments, got {describe_value(kwargs)}"
        )
    for key in kwargs:
        if not isinstance(key, str):
            raise ValidationError(
                f"{label}: kwargs keys must be str (argument names), got {describe_value(key)}"
            )
    return dict(kwargs)


class Op(Generic[T]):
    """Base class of every descriptor; ``T`` is the value the yield gives back."""

    __slots__ = ()

    #: The service operation type this descriptor checkpoints as.
    op_type: OperationType
    #: The sub-type written on the operation.
    sub_type: str
    #: Whether yielding it takes the next position (operation id) of its context. An op
    #: that only reads state (awaiting a callback handle, a replay-safe uuid) does not.
    positional: ClassVar[bool] = True

    @property
    def op_name(self) -> str | None:
        """The ``Name`` written on the operation."""
        raise NotImplementedError

    def __iter__(self) -> Generator[Op[T], Any, T]:
        """Let ``x = yield from op`` give the value typed as ``T``."""
        value: T = yield self
        return value

    def attempt(self) -> Attempt[T]:
        """The non-raising form: the yield gives ``Success(value)`` or ``Failure(error)``.

        Example:
            >>> Step(len, "abc").attempt().op.name
            'len'
        """
        return Attempt(self)


@final
@attrs.frozen(init=False, repr=False)
class Step(Op[T]):
    """Run ``fn(*args, **kwargs)`` once, durably, and checkpoint its result.

    Args:
        fn: a plain function (it runs on a worker thread).
        *args: positional arguments for ``fn``; they must not change between replays.
        name: the operation name (default: ``fn.__name__``).
        retry: when to retry a failure (default: :meth:`RetryPolicy.default`).
        semantics: at-least-once (default) or at-most-once per retry attempt.
        serde: the payload codec (default: JSON typed by ``fn``'s return annotation).
        kwargs: keyword arguments for ``fn``.

    Example:
        >>> Step(sum, [1, 2], retry=RetryPolicy.none()).retry.max_attempts
        1
    """

    fn: Callable[..., T]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    name: str | None
    retry: RetryPolicy
    semantics: StepSemantics
    serde: Serde[T] | None

    op_type = OperationType.STEP
    sub_type = SubType.STEP.value

    def __init__(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY,
        serde: Serde[T] | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError(f"Step needs a callable, got {describe_value(fn)}")
        if is_generator_function(fn):
            raise ValidationError(
                f"Step({getattr(fn, '__name__', fn)}) got a generator function: a step must be a "
                "plain function. Use Child(...) to run a sub-workflow."
            )
        step_name = (check_name(name, "Step") if name is not None else None) or default_name(
            fn, "Step"
        )
        # the checks below name the step only when they fail: no label is built otherwise
        if retry is not None:
            check_retry(retry, op_label("Step", step_name))
        if not isinstance(semantics, StepSemantics):
            raise ValidationError(
                f"{op_label('Step', step_name)}: semantics must be a StepSemantics (e.g. "
                f"StepSemantics.AT_MOST_ONCE_PER_RETRY), got {describe_value(semantics)}"
            )
        if serde is not None:
            check_serde(serde, op_label("Step", step_name))
        self.__attrs_init__(
            fn,
            args,
            {} if kwargs is None else check_kwargs(kwargs, op_label("Step", step_name)),
            step_name,
            retry if retry is not None else RetryPolicy.default(),
            semantics,
            serde,
        )

    @property
    def op_name(self) -> str | None:
        """The step's name."""
        return self.name

    def with_args(self, args: tuple[Any, ...]) -> Step[T]:
        """This step with other positional arguments (what it was built with stays checked).

        Example:
            >>> Step(max, 1, 2, name="m").with_args((3, 4)).args
            (3, 4)
        """
        step: Step[T] = object.__new__(Step)
        setter = object.__setattr__
        setter(step, "fn", self.fn)
        setter(step, "args", args)
        setter(step, "kwargs", self.kwargs)
        setter(step, "name", self.name)
        setter(step, "retry", self.retry)
        setter(step, "semantics", self.semantics)
        setter(step, "serde", self.serde)
        return step

    def __repr__(self) -> str:
        return f"Step({self.name or self.fn!r})"


@final
@attrs.frozen(init=False, repr=False)
class Wait(Op[None]):
    """Suspend the workflow for a duration (1 s to 366 days), without running compute.

    Example:
        >>> Wait(Duration.minutes(1)).seconds
        60
        >>> Wait(90, name="cool-down").seconds
        90
    """

    seconds: int
    name: str | None

    op_type = OperationType.WAIT
    sub_type = SubType.WAIT.value

    def __init__(self, duration: Duration | int | float, /, *, name: str | None = None) -> None:
        wait_name = check_name(name, "Wait")
        what = f"{op_label('Wait', wait_name)} duration" if wait_name else "Wait duration"
        seconds = check_service_duration(as_duration(duration, what), what)
        self.__attrs_init__(seconds, wait_name)

    @property
    def op_name(self) -> str | None:
        """The wait's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Wait({self.seconds}s{', ' + repr(self.name) if self.name else ''})"


@final
@attrs.frozen(init=False, repr=False)
class Child(Op[T]):
    """Run a sub-workflow in its own child context.

    ``fn`` is a generator function (a sub-workflow: its operations are checkpointed under
    the child context) or a plain function (it runs as one step inside the context). Once
    the child succeeded, replays return its checkpointed result without running it again.

    A *virtual* child (``virtual=True``) checkpoints no context of its own: its operations
    report the enclosing context as their parent, while their ids still derive from the
    child's position.

    Example:
        >>> def sub(x):
        ...     y = yield Step(abs, x)
        ...     return y
        >>> Child(sub, -3, name="abs").name
        'abs'
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    name: str | None
    virtual: bool
    serde: Serde[T] | None
    error_mapper: Callable[[OperationError], OperationError] | None

    op_type = OperationType.CONTEXT
    sub_type = SubType.CHILD.value

    @overload
    def __init__(
        self: Child[T],
        fn: Callable[..., Generator[Any, Any, T]],
        /,
        *args: Any,
        name: str | None = None,
        virtual: bool = False,
        serde: Serde[T] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        error_mapper: Callable[[OperationError], OperationError] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Child[T],
        fn: Callable[..., T],
        /,
        *args: Any,
        name: str | None = None,
        virtual: bool = False,
        serde: Serde[T] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        error_mapper: Callable[[OperationError], OperationError] | None = None,
    ) -> None: ...

    def __init__(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = None,
        virtual: bool = False,
        serde: Serde[T] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        error_mapper: Callable[[OperationError], OperationError] | None = None,
    ) -> None:
        """Describe the child context (see the class documentation).

        ``T`` is inferred from ``fn``: the return type of a sub-workflow typed
        ``Generator[Any, Any, T]``, or of a plain function returning ``T``.
        """
        if not callable(fn):
            raise ValidationError(f"Child needs a callable, got {describe_value(fn)}")
        child_name = check_name(name, "Child") or default_name(fn, "Child")
        label = op_label("Child", child_name)
        if not isinstance(virtual, bool):
            raise ValidationError(f"{label}: virtual must be a bool, got {describe_value(virtual)}")
        check_serde(serde, label)
        if error_mapper is not None and not callable(error_mapper):
            raise ValidationError(
                f"{label}: error_mapper must be a function of the child's error, got "
                f"{describe_value(error_mapper)}"
            )
        self.__attrs_init__(
            fn, args, check_kwargs(kwargs, label), child_name, virtual, serde, error_mapper
        )

    @property
    def op_name(self) -> str | None:
        """The child context's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Child({self.name or self.fn!r}{', virtual' if self.virtual else ''})"


@final
@attrs.frozen
class Attempt(Op["Result[T, OperationError]"]):
    """Run ``op`` and give back ``Success(value)`` or ``Failure(OperationError)``.

    Example:
        >>> Attempt(Wait(5)).op_name is None
        True
    """

    op: Op[T] = attrs.field()

    @op.validator
    def _check_op(self, _: attrs.Attribute[Op[T]], value: object) -> None:
        if not isinstance(value, Op):
            raise ValidationError(
                f"Attempt needs an operation such as Step(...) or Child(...), "
                f"got {describe_value(value)}"
            )

    @property
    def op_type(self) -> OperationType:  # type: ignore[override]
        """The wrapped operation's type."""
        return self.op.op_type

    @property
    def sub_type(self) -> str:  # type: ignore[override]
        """The wrapped operation's sub-type."""
        return self.op.sub_type

    @property
    def op_name(self) -> str | None:
        """The wrapped operation's name."""
        return self.op.op_name
