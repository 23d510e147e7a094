"""When a Map or Parallel batch is complete: the completion policy.

A :class:`Completion` says how many branches must succeed and how many may fail. The
interpreter asks :meth:`Completion.decide` after every branch that ends; as soon as it
returns a :class:`CompletionReason`, no further branch is started and the batch ends
(branches still running are reported as ``STARTED``).

With ``total`` branches, ``S`` succeeded and ``F`` failed so far:

* **Tolerance exceeded** (:meth:`Completion.tolerance_exceeded`): with no criteria at all,
  any failure (``F > 0``, *fail fast*); otherwise ``F > tolerated_failures`` (when set) or
  ``F / total * 100 > tolerated_failure_percentage`` (when set; *strictly* greater).
  ``min_successful`` and ``should_complete`` are completion criteria, not tolerances: with
  only those set, failures never exceed the tolerance.
* **Complete** when ``S + F >= total``, when ``min_successful`` is set and
  ``S >= min_successful``, or when the ``should_complete`` predicate returns true.
* **Reason**, checked in this order: ``FAILURE_TOLERANCE_EXCEEDED``, then ``ALL_COMPLETED``
  (every branch ended), then ``MIN_SUCCESSFUL_REACHED``.

An empty batch (``total == 0``) is ``ALL_COMPLETED`` at once.

Example:
    >>> from returns.result import Failure, Success
    >>> from orchestra.errors import ChildContextError
    >>> from orchestra.results import BatchItem, ItemStatus
    >>> ok = BatchItem(0, ItemStatus.SUCCEEDED, Success("a"))
    >>> bad = BatchItem(1, ItemStatus.FAILED, Failure(ChildContextError("boom")))
    >>> Completion().decide(3, [ok]) is None  # the default: fail fast
    True
    >>> Completion().decide(3, [ok, bad])
    <CompletionReason.FAILURE_TOLERANCE_EXCEEDED: 'FAILURE_TOLERANCE_EXCEEDED'>
    >>> Completion.first_successful().decide(3, [ok])
    <CompletionReason.MIN_SUCCESSFUL_REACHED: 'MIN_SUCCESSFUL_REACHED'>
    >>> Completion.all_completed().decide(2, [ok, bad])
    <CompletionReason.ALL_COMPLETED: 'ALL_COMPLETED'>
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, final

import attrs

from orchestra.errors import ValidationError, describe_value

if TYPE_CHECKING:
    from orchestra.results import BatchItem

__all__ = ["Completion", "CompletionReason"]


class CompletionReason(enum.Enum):
    """Why a Map or Parallel batch ended."""

    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"


def _count(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """A validator: ``None`` or an int (not a bool) of at least ``minimum``."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                f"Completion.{attribute.name} must be an int or None, got {describe_value(value)}"
            )
        if value < minimum:
            raise ValidationError(
                f"Completion.{attribute.name} must be at least {minimum}, got {value}"
            )

    return check


def _percentage(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"Completion.{attribute.name} must be a number or None, got {describe_value(value)}"
        )
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise ValidationError(
            f"Completion.{attribute.name} must be between 0 and 100, got {value!r}"
        )


def _predicate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(
            f"Completion.{attribute.name} must be callable or None, got {describe_value(value)}"
        )


@final
@attrs.frozen
class Completion:
    """The completion policy of a Map or Parallel batch (see the module documentation).

    Every field is optional; ``Completion()`` (no criteria) fails fast on the first failed
    branch, which is the default of ``Map``. The default of ``Parallel`` is
    :meth:`all_successful`, which behaves the same.

    Attributes:
        min_successful: complete as soon as this many branches succeeded (at least 1, and
            at most the number of items: see :meth:`check_total`).
        tolerated_failures: the number of failed branches tolerated (at least 0).
        tolerated_failure_percentage: the percentage of failed branches tolerated (0 to
            100); exceeded only when the failed share is *strictly* greater.
        should_complete: a custom predicate over the branches ended so far (in index
            order); complete as soon as it returns true.

    Example:
        >>> Completion(tolerated_failures=-1)
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: Completion.tolerated_failures must be at least 0, got -1
        >>> Completion(tolerated_failure_percentage=float("nan"))
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: Completion.tolerated_failure_percentage must be between 0 and 100, got nan
    """  # noqa: E501

    min_successful: int | None = attrs.field(default=None, validator=_count(1))
    tolerated_failures: int | None = attrs.field(default=None, validator=_count(0))
    tolerated_failure_percentage: float | None = attrs.field(default=None, validator=_percentage)
    should_complete: Callable[[Sequence[BatchItem[Any]]], bool] | None = attrs.field(
        default=None, validator=_predicate
    )

    @classmethod
    def all_successful(cls) -> Completion:
        """Every branch must succeed: fail fast on the first failure (Parallel's default).

        Example:
            >>> Completion.all_successful()  # doctest: +NORMALIZE_WHITESPACE
            Completion(min_successful=None, tolerated_failures=0,
                       tolerated_failure_percentage=0, should_complete=None)
        """
        return cls(tolerated_failures=0, tolerated_failure_percentage=0)

    @classmethod
    def all_completed(cls) -> Completion:
        """Run every branch whatever fails: any share of failures is tolerated.

        Example:
            >>> Completion.all_completed().tolerance_exceeded(total=4, failed=4)
            False
        """
        return cls(tolerated_failure_percentage=100)

    @classmethod
    def first_successful(cls) -> Completion:
        """Complete as soon as one branch succeeded; failures are never fatal.

        Example:
            >>> Completion.first_successful().min_successful
            1
        """
        return cls(min_successful=1)

    @property
    def has_criteria(self) -> bool:
        """Whether any criterion is set (with none, the policy fails fast)."""
        return (
            self.min_successful is not None
            or self.tolerated_failures is not None
            or self.tolerated_failure_percentage is not None
            or self.should_complete is not None
        )

    def check_total(self, total: int, what: str) -> None:
        """Refuse a ``min_successful`` larger than the ``total`` number of items.

        Args:
            total: the number of items (Map) or branches (Parallel).
            what: the operation, for the message (``"Map 'charge'"``).

        Raises:
            ValidationError: ``min_successful`` exceeds ``total``.

        Example:
            >>> Completion(min_successful=3).check_total(2, "Map 'charge'")
            Traceback (most recent call last):
            ...
            orchestra.errors.ValidationError: Map 'charge': completion min_successful=3 exceeds the number of items (2)
        """  # noqa: E501
        if self.min_successful is not None and self.min_successful > total:
            raise ValidationError(
                f"{what}: completion min_successful={self.min_successful} exceeds the number "
                f"of items ({total})"
            )

    def tolerance_exceeded(self, total: int, failed: int) -> bool:
        """Whether ``failed`` failures out of ``total`` exceed the tolerated failures.

        Example:
            >>> Completion(tolerated_failure_percentage=50).tolerance_exceeded(4, 2)
            False
            >>> Completion(tolerated_failure_percentage=50).tolerance_exceeded(4, 3)
            True
            >>> Completion(min_successful=2).tolerance_exceeded(4, 4)
            False
        """
        if not self.has_criteria:
            return failed > 0
        if self.tolerated_failures is not None and failed > self.tolerated_failures:
            return True
        return (
            self.tolerated_failure_percentage is not None
            and total > 0
            and failed * 100 / total > self.tolerated_failure_percentage
        )

    def decide(self, total: int, items: Sequence[BatchItem[Any]]) -> CompletionReason | None:
        """Whether the batch is complete, and why; ``None`` to keep going.

        Args:
            total: the number of items (Map) or branches (Parallel).
            items: the branches ended so far, in index order (``STARTED`` items, if any,
                are not counted, but the ``should_complete`` predicate sees them).

        Example:
            >>> Completion().decide(0, [])
            <CompletionReason.ALL_COMPLETED: 'ALL_COMPLETED'>
        """
        from orchestra.results import ItemStatus

        if total == 0:
            return CompletionReason.ALL_COMPLETED
        succeeded = sum(1 for item in items if item.status is ItemStatus.SUCCEEDED)
        failed = sum(1 for item in items if item.status is ItemStatus.FAILED)
        if self.tolerance_exceeded(total, failed):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if succeeded + failed >= total:
            return CompletionReason.ALL_COMPLETED
        if self.min_successful is not None and succeeded >= self.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        if self.should_complete is not None and self.should_complete(items):
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return None
