"""Callbacks: let an external system complete a step of the workflow.

``handle = yield Callback(...)`` creates a callback and gives a :class:`CallbackHandle` whose
``callback_id`` the workflow hands to the external system (in a step: an e-mail with an
approval link, a message on a queue). ``result = yield handle`` then waits, without
running compute, until the system calls ``SendDurableExecutionCallbackSuccess`` (or
``...Failure``, or the callback times out). Errors are deferred to that second ``yield``,
so the code between creating and awaiting replays identically.

:class:`WaitForCallback` does both in one operation, with the hand-over as a retried step.

Example:
    >>> from orchestra import Step
    >>> from orchestra.testing import LocalRunner
    >>> sent = []
    >>> def ask_for_approval(callback_id: str, order: str) -> None:
    ...     sent.append(callback_id)
    >>> def workflow(order):
    ...     decision = yield WaitForCallback(ask_for_approval, order, name="approval")
    ...     return decision["approved"]
    >>> runner = LocalRunner(workflow)
    >>> run = runner.run("A-1")
    >>> run.status, len(sent)
    ('RUNNING', 1)
    >>> _ = runner.service.send_callback_success(sent[0], '{"approved": true}')
    >>> runner.service.run(run.arn, runner.handler).value
    'SUCCEEDED'
    >>> runner.service.execution(run.arn).result
    'true'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, final

import attrs

from orchestra.config import Duration, RetryPolicy, as_duration, check_service_duration
from orchestra.errors import ValidationError, describe_value
from orchestra.ops import (
    Op,
    check_kwargs,
    check_name,
    check_retry,
    check_serde,
    default_name,
    is_generator_function,
    op_label,
)
from orchestra.serde import Serde
from orchestra.wire.models import OperationType, SubType

__all__ = ["Await", "Callback", "CallbackHandle", "WaitForCallback"]

T = TypeVar("T")


def _timeout(value: Duration | int | None, what: str) -> int:
    """Seconds of a callback timeout (0: none), within the service's 1 s to 366 days."""
    if value is None:
        return 0
    return check_service_duration(as_duration(value, what), what)


def _timeouts(
    timeout: Duration | int | None, heartbeat_timeout: Duration | int | None, what: str
) -> tuple[int, int]:
    seconds = _timeout(timeout, f"{what}: timeout")
    heartbeat = _timeout(heartbeat_timeout, f"{what}: heartbeat_timeout")
    if seconds and heartbeat and heartbeat > seconds:
        raise ValidationError(
            f"{what}: heartbeat_timeout ({heartbeat} s) is longer than timeout ({seconds} s), "
            "so it could never expire; make it shorter or leave it out"
        )
    return seconds, heartbeat


@final
@attrs.frozen(init=False, repr=False)
class Callback(Op["CallbackHandle[T]"]):
    """Create a callback; the ``yield`` gives its :class:`CallbackHandle`.

    Args:
        name: the operation name.
        timeout: how long the external system has to answer (default: no limit).
        heartbeat_timeout: how long it may stay silent between heartbeats (default: no
            limit); at most ``timeout``.
        serde: decodes the result the external system sends (default: JSON when the body
            is JSON, else the raw string).

    Example:
        >>> Callback(name="approval", timeout=Duration.hours(1)).timeout
        3600
        >>> Callback(timeout=60, heartbeat_timeout=120)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: Callback: heartbeat_timeout (120 s) is longer ...
    """

    name: str | None
    timeout: int
    heartbeat_timeout: int
    serde: Serde[T] | None

    op_type = OperationType.CALLBACK
    sub_type = SubType.CALLBACK.value

    def __init__(
        self,
        *,
        name: str | None = None,
        timeout: Duration | int | None = None,
        heartbeat_timeout: Duration | int | None = None,
        serde: Serde[T] | None = None,
    ) -> None:
        checked = check_name(name, "Callback")
        what = op_label("Callback", checked)
        check_serde(serde, what)
        seconds, heartbeat = _timeouts(timeout, heartbeat_timeout, what)
        self.__attrs_init__(checked, seconds, heartbeat, serde)

    @property
    def op_name(self) -> str | None:
        """The callback's name."""
        return self.name

    def __repr__(self) -> str:
        return f"Callback({self.name!r})" if self.name else "Callback()"


@final
@attrs.frozen(repr=False)
class CallbackHandle(Op[T], Generic[T]):
    """A created callback. Give ``callback_id`` away; ``yield`` the handle for the result.

    Awaiting reads the callback's checkpointed state: the result decoded by the serde, or
    :class:`~orchestra.errors.CallbackTimeoutError` /
    :class:`~orchestra.errors.CallbackExternalError` thrown at the ``yield``. Awaiting takes
    no position of its own in the history, so a handle may be awaited later, or not at all.

    Attributes:
        callback_id: the id the external system passes to the callback APIs.
        op_id: the id of the CALLBACK operation.
        name: the callback's name.
        serde: decodes the result.
    """

    callback_id: str
    op_id: str
    name: str | None = None
    serde: Serde[T] | None = None

    op_type = OperationType.CALLBACK
    sub_type = SubType.CALLBACK.value
    positional: ClassVar[bool] = False

    @property
    def op_name(self) -> str | None:
        """The callback's name."""
        return self.name

    def __repr__(self) -> str:
        return f"CallbackHandle({self.name or self.op_id[:12]!r})"


def Await(handle: CallbackHandle[T]) -> CallbackHandle[T]:
    """Wait for a callback's result; the same as yielding the handle itself.

    Example:
        >>> handle = CallbackHandle("id-1", "op-1", name="approval")
        >>> Await(handle) is handle
        True
    """
    if not isinstance(handle, CallbackHandle):
        raise ValidationError(
            f"Await needs the CallbackHandle a Callback gave, got {describe_value(handle)}"
        )
    return handle


@final
@attrs.frozen(init=False, repr=False)
class WaitForCallback(Op[T]):
    """Create a callback, hand its id to ``submitter`` in a step, and wait for the result.

    One CONTEXT operation (sub-type ``WaitForCallback``) holds the callback (named
    ``"<name> create callback id"``) and the submitter step (``"<name> submitter"``),
    exactly as the reference SDK records them. The submitter runs as
    ``submitter(callback_id, *args, **kwargs)``, retried by ``retry``; its return value is
    ignored.

    Errors at the ``yield``: :class:`~orchestra.errors.CallbackTimeoutError`,
    :class:`~orchestra.errors.CallbackExternalError`, or
    :class:`~orchestra.errors.CallbackSubmitterError` when the submitter gave up.

    Args:
        submitter: a plain function taking the callback id first.
        *args: more arguments for ``submitter``.
        name: the operation name (default: the submitter's name).
        timeout: see :class:`Callback`.
        heartbeat_timeout: see :class:`Callback`.
        retry: the submitter's retry policy (default: :meth:`RetryPolicy.default`).
        serde: decodes the callback result (default: JSON when the body is JSON, else the
            raw string), and stores the decoded value.
        kwargs: keyword arguments for ``submitter``.
    """

    submitter: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    name: str | None
    timeout: int
    heartbeat_timeout: int
    retry: RetryPolicy
    serde: Serde[T] | None

    op_type = OperationType.CONTEXT
    sub_type = SubType.WAIT_FOR_CALLBACK.value

    def __init__(
        self,
        submitter: Callable[..., Any],
        /,
        *args: Any,
        name: str | None = None,
        timeout: Duration | int | None = None,
        heartbeat_timeout: Duration | int | None = None,
        retry: RetryPolicy | None = None,
        serde: Serde[T] | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(submitter) or is_generator_function(submitter):
            raise ValidationError(
                "WaitForCallback needs a plain function as submitter (it runs as a step with "
                f"the callback id as first argument), got {describe_value(submitter)}"
            )
        given = check_name(name, "WaitForCallback") or default_name(submitter, "WaitForCallback")
        what = op_label("WaitForCallback", given)
        check_retry(retry, what)
        check_serde(serde, what)
        seconds, heartbeat = _timeouts(timeout, heartbeat_timeout, what)
        self.__attrs_init__(
            submitter,
            args,
            check_kwargs(kwargs, what),
            given,
            seconds,
            heartbeat,
            retry if retry is not None else RetryPolicy.default(),
            serde,
        )

    @property
    def op_name(self) -> str | None:
        """The operation's name."""
        return self.name

    def __repr__(self) -> str:
        return f"WaitForCallback({self.name or self.submitter!r})"
