"""Fan-out: Map over items and Parallel branches, with completion policies and combinators.

``results = yield Map(orders, charge, max_concurrency=10)`` runs ``charge(order, index)``
for every item, each in its own branch context, at most 10 at a time, and gives a
:class:`~orchestra.results.BatchResult`. ``yield Parallel(a, b, c)`` runs sub-workflows
side by side. Branches are fibers on the interpreter's thread (only their steps use the
thread pool), so a Map over 10,000 items costs 10,000 generators, not threads.

A branch function that is a generator function runs as a sub-workflow in its branch
context; a plain function runs as one step there. Which items started, and the completion
decision, are checkpointed with the result and read back on replay, never recomputed.

The combinators are Parallel with a completion policy and a reading of the result:
:func:`All` (every value, or the first error), :func:`AllSettled` (the BatchResult),
:func:`Any` (the first success), :func:`Race` (the first to finish, success or failure).
Losing branches are cancelled: nothing of theirs is checkpointed after the winner.

Example:
    >>> from orchestra.testing import LocalRunner
    >>> def square(x: int, index: int) -> int:
    ...     return x * x
    >>> def workflow(numbers):
    ...     results = yield Map(numbers, square, max_concurrency=2)
    ...     return results.values()
    >>> LocalRunner(workflow).run([1, 2, 3]).result
    [1, 4, 9]
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any as TAny
from typing import Generic, TypeVar, final

import attrs

from orchestra.completion import Completion
from orchestra.errors import OperationError, ValidationError, describe_value
from orchestra.ops import Op, check_name, check_serde, default_name, op_label
from orchestra.results import BatchResult
from orchestra.serde import JsonSerde, Serde
from orchestra.wire.models import OperationType, SubType

ANY_SERDE: JsonSerde[TAny] = JsonSerde()

__all__ = [
    "All",
    "AllSettled",
    "Any",
    "Branch",
    "ErrorMapper",
    "ItemBatch",
    "Map",
    "Nesting",
    "Parallel",
    "Race",
]

T = TypeVar("T")

#: Translates a branch's failure into the error the caller sees in the BatchResult.
ErrorMapper = Callable[[OperationError], OperationError]


@final
@attrs.frozen
class ItemBatch:
    """Several items per Map iteration: fewer operations for very large maps.

    Consecutive items are grouped until a group holds ``max_items`` items or their JSON
    reaches ``max_bytes``. Each group is one ``MapIteration`` context (named
    ``map-batch-<k>``) in which the items run one after another; the BatchResult still
    has one item per input item.

    Example:
        >>> [len(group) for group in ItemBatch(max_items=100).groups(list(range(250)))]
        [100, 100, 50]
        >>> ItemBatch()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: ItemBatch needs max_items or max_bytes ...
    """

    max_items: int | None = None
    max_bytes: int | None = None

    def __attrs_post_init__(self) -> None:
        for what, value in (("max_items", self.max_items), ("max_bytes", self.max_bytes)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValidationError(
                    f"ItemBatch: {what} must be a whole number >= 1, got {describe_value(value)}"
                )
        if self.max_items is None and self.max_bytes is None:
            raise ValidationError(
                "ItemBatch needs max_items or max_bytes (or both): without a bound every "
                "item would go in one group"
            )

    def groups(self, items: Sequence[TAny]) -> tuple[tuple[int, ...], ...]:
        """The item indexes of each group, in order."""
        groups: list[tuple[int, ...]] = []
        current: list[int] = []
        size = 0
        for index, item in enumerate(items):
            item_size = len(_json_text(item)) if self.max_bytes is not None else 0
            full = (self.max_items is not None and len(current) >= self.max_items) or (
                self.max_bytes is not None and current and size + item_size > self.max_bytes
            )
            if full:
                groups.append(tuple(current))
                current, size = [], 0
            current.append(index)
            size += item_size
        if current:
            groups.append(tuple(current))
        return tuple(groups)


def _json_text(item: TAny) -> str:
    try:
        return ANY_SERDE.serialize(item)
    except Exception:
        return repr(item)


class Nesting(enum.Enum):
    """How branches are recorded.

    ``NESTED`` (the default): each branch is a CONTEXT of its own (``MapIteration`` /
    ``ParallelBranch``) with START and SUCCEED/FAIL. ``FLAT``: branches record no context
    of their own (fewer operations for large fan-outs); their operations report the
    Map/Parallel as parent, and their bodies replay on every invocation.
    """

    NESTED = "NESTED"
    FLAT = "FLAT"


def _check_concurrency(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{what}: max_concurrency must be a whole number >= 1 (or None for no limit), "
            f"got {describe_value(value)}"
        )
    return value


def _check_common(
    what: str,
    max_concurrency: object,
    completion: object,
    nesting: object,
    serde: object,
    item_serde: object,
    error_mapper: object,
) -> int | None:
    if completion is not None and not isinstance(completion, Completion):
        raise ValidationError(
            f"{what}: completion must be a Completion (e.g. Completion(min_successful=1)), "
            f"got {describe_value(completion)}"
        )
    if not isinstance(nesting, Nesting):
        raise ValidationError(
            f"{what}: nesting must be Nesting.NESTED or Nesting.FLAT, got {describe_value(nesting)}"
        )
    check_serde(serde, what)
    check_serde(item_serde, what)
    if error_mapper is not None and not callable(error_mapper):
        raise ValidationError(
            f"{what}: error_mapper must be a function of the branch's error, got "
            f"{describe_value(error_mapper)}"
        )
    return _check_concurrency(max_concurrency, what)


@final
@attrs.frozen(init=False, repr=False)
class Map(Op[BatchResult[T]]):
    """Run ``fn(item, index)`` for every item, each in its own branch context.

    Args:
        items: the items (a list or tuple; read once, when the Map is built).
        fn: a generator function (a sub-workflow per item) or a plain function (one step
            per item), called as ``fn(item, index)``.
        name: the operation name (default: ``fn``'s name).
        max_concurrency: how many items may be in flight at once, including items that
            wait (on a timer, a callback, an invoke); default: all.
        completion: when the Map is done (default: fail fast, see
            :class:`~orchestra.completion.Completion`).
        nesting: :class:`Nesting` (default NESTED).
        item_namer: ``item_namer(item, index) -> str`` names each branch (default
            ``map-item-<index>``).
        serde: encodes the BatchResult (default: JSON).
        item_serde: encodes each item's result (default: JSON typed by ``fn``'s annotation).
        error_mapper: turns a failed item's error into the error the BatchResult keeps.

    Example:
        >>> Map([1, 2], abs, max_concurrency=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: Map 'abs': max_concurrency must be a whole number ...
    """

    items: tuple[TAny, ...]
    fn: Callable[..., TAny]
    name: str | None
    max_concurrency: int | None
    completion: Completion
    nesting: Nesting
    item_namer: Callable[[TAny, int], str] | None
    serde: Serde[TAny] | None
    item_serde: Serde[TAny] | None
    error_mapper: ErrorMapper | None
    batch: ItemBatch | None

    op_type = OperationType.CONTEXT
    sub_type = SubType.MAP.value

    def __init__(
        self,
        items: Sequence[TAny],
        fn: Callable[..., TAny],
        /,
        *,
        name: str | None = None,
        max_concurrency: int | None = None,
        completion: Completion | None = None,
        nesting: Nesting = Nesting.NESTED,
        item_namer: Callable[[TAny, int], str] | None = None,
        serde: Serde[TAny] | None = None,
        item_serde: Serde[TAny] | None = None,
        error_mapper: ErrorMapper | None = None,
        batch: ItemBatch | None = None,
    ) -> None:
        if not callable(fn):
            raise ValidationError(f"Map needs a function for the items, got {describe_value(fn)}")
        given = check_name(name, "Map") or default_name(fn, "Map")
        what = op_label("Map", given)
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise ValidationError(
                f"{what}: items must be a list or tuple, got {describe_value(items)}"
            )
        if item_namer is not None and not callable(item_namer):
            raise ValidationError(
                f"{what}: item_namer must be a function (item, index) -> str, got "
                f"{describe_value(item_namer)}"
            )
        if batch is not None and not isinstance(batch, ItemBatch):
            raise ValidationError(
                f"{what}: batch must be an ItemBatch, got {describe_value(batch)}"
            )
        limit = _check_common(
            what, max_concurrency, completion, nesting, serde, item_serde, error_mapper
        )
        policy = completion if completion is not None else Completion()
        policy.check_total(len(items), what)
        self.__attrs_init__(
            tuple(items),
            fn,
            given,
            limit,
            policy,
            nesting,
            item_namer,
            serde,
            item_serde,
            error_mapper,
            batch,
        )

    @property
    def op_name(self) -> str | None:
        """The operation's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Map({self.name or self.fn!r}, {len(self.items)} items)"


@final
@attrs.frozen
class Branch(Generic[T]):
    """A named Parallel branch: ``Parallel(Branch(fetch_a, name="a"), ...)``."""

    fn: Callable[[], TAny]
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        if not callable(self.fn):
            raise ValidationError(f"Branch needs a function, got {describe_value(self.fn)}")
        check_name(self.name, "Branch")


#: How a combinator reads the BatchResult (applied on the first run and on replay alike).
Reading = Callable[[BatchResult[TAny]], TAny]


@final
@attrs.frozen(init=False, repr=False)
class Parallel(Op[TAny]):
    """Run branches side by side, each in its own branch context.

    Args:
        *branches: functions taking no argument (generator functions run as
            sub-workflows, plain functions as one step each), or :class:`Branch` values.
        name: the operation name.
        max_concurrency: how many branches may be in flight at once (default: all).
        completion: when the Parallel is done (default:
            :meth:`~orchestra.completion.Completion.all_successful`, fail fast).
        nesting: :class:`Nesting` (default NESTED).
        serde: encodes the BatchResult (default: JSON).
        item_serde: encodes each branch's result (default: JSON).
        error_mapper: turns a failed branch's error into the error the BatchResult keeps.

    The ``yield`` gives a :class:`~orchestra.results.BatchResult` (the combinators read it
    for you).
    """

    branches: tuple[Branch[TAny], ...]
    name: str | None
    max_concurrency: int | None
    completion: Completion
    nesting: Nesting
    serde: Serde[TAny] | None
    item_serde: Serde[TAny] | None
    error_mapper: ErrorMapper | None
    reading: Reading | None

    op_type = OperationType.CONTEXT
    sub_type = SubType.PARALLEL.value

    def __init__(
        self,
        *branches: Callable[[], TAny] | Branch[TAny],
        name: str | None = None,
        max_concurrency: int | None = None,
        completion: Completion | None = None,
        nesting: Nesting = Nesting.NESTED,
        serde: Serde[TAny] | None = None,
        item_serde: Serde[TAny] | None = None,
        error_mapper: ErrorMapper | None = None,
        reading: Reading | None = None,
    ) -> None:
        given = check_name(name, "Parallel")
        what = op_label("Parallel", given)
        wrapped: list[Branch[TAny]] = []
        for i, branch in enumerate(branches):
            if isinstance(branch, Branch):
                wrapped.append(branch)
            elif callable(branch):
                wrapped.append(Branch(branch))
            else:
                raise ValidationError(
                    f"{what}: branch {i} must be a function or a Branch, got "
                    f"{describe_value(branch)}"
                )
        limit = _check_common(
            what, max_concurrency, completion, nesting, serde, item_serde, error_mapper
        )
        policy = completion if completion is not None else Completion.all_successful()
        policy.check_total(len(wrapped), what)
        self.__attrs_init__(
            tuple(wrapped), given, limit, policy, nesting, serde, item_serde, error_mapper, reading
        )

    @property
    def op_name(self) -> str | None:
        """The operation's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Parallel({self.name!r}, {len(self.branches)} branches)"


def _all_values(result: BatchResult[TAny]) -> list[TAny]:
    result.throw_if_error()
    return result.values()


def _first_success(result: BatchResult[TAny]) -> TAny:
    for item in result.succeeded():
        return item.value
    result.throw_if_error()
    raise ValidationError("Any() had no branch to run")  # pragma: no cover - refused when built


def _first_finished(result: BatchResult[TAny]) -> TAny:
    done = [item for item in result.items if item.result is not None]
    if not done:
        raise ValidationError("Race() had no branch to run")  # pragma: no cover
    first = done[0]
    if first.error is not None:
        raise first.error
    return first.value


def _settled(result: BatchResult[TAny]) -> BatchResult[TAny]:
    return result


def _first_item_only(items: Sequence[TAny]) -> bool:
    return len(items) >= 1


def All(*branches: Callable[[], TAny] | Branch[TAny], name: str | None = None) -> Parallel:
    """Every branch's value, in order; the first failure is raised (fail fast).

    Example:
        >>> All(lambda: 1, lambda: 2).completion.tolerated_failures
        0
    """
    return Parallel(
        *branches, name=name, completion=Completion.all_successful(), reading=_all_values
    )


def AllSettled(*branches: Callable[[], TAny] | Branch[TAny], name: str | None = None) -> Parallel:
    """Run every branch to the end; the ``yield`` gives the BatchResult, failures included."""
    return Parallel(*branches, name=name, completion=Completion.all_completed(), reading=_settled)


def Any(*branches: Callable[[], TAny] | Branch[TAny], name: str | None = None) -> Parallel:
    """The first branch to succeed; the others are cancelled. All failed: the first error."""
    if not branches:
        raise ValidationError("Any() needs at least one branch")
    return Parallel(
        *branches,
        name=name,
        completion=Completion(min_successful=1, tolerated_failure_percentage=100),
        reading=_first_success,
    )


def Race(*branches: Callable[[], TAny] | Branch[TAny], name: str | None = None) -> Parallel:
    """The first branch to finish, success (its value) or failure (raised); others cancelled."""
    if not branches:
        raise ValidationError("Race() needs at least one branch")
    return Parallel(
        *branches,
        name=name,
        completion=Completion(tolerated_failure_percentage=100, should_complete=_first_item_only),
        reading=_first_finished,
    )
