"""The *world* a run meets: step failures, crash points, jitter, callbacks, invoked functions.

A :class:`World` is data, independent of the workflow's code, so hypothesis can generate
and shrink it (see :mod:`orchestra.testing.strategies`). :class:`WorldExecutor` runs steps
the way the world says: the first ``failures[name]`` attempts of a step raise an injected
exception (:class:`InjectedFailure` unless the world names another type) instead of running
it, and each step may be held back a little so that concurrent steps finish in a different
order.

The world also plays the outside systems: what answers each callback, and after how long
on the virtual clock (:class:`CallbackOutcome`: a success, a failure, or silence until a
timeout), and what each function a chained ``Invoke`` calls gives back
(:class:`InvokeOutcome`). :meth:`World.callback_actions` and :meth:`World.invoke_targets`
turn them into the emulator's scripted callback actions and registered targets.

Example:
    >>> from orchestra import Step, RetryPolicy, Duration
    >>> from orchestra.testing import LocalRunner
    >>> def ping() -> str:
    ...     return "pong"
    >>> def workflow():
    ...     return (yield Step(ping, retry=RetryPolicy.fixed(Duration(1), max_attempts=3)))
    >>> world = World(failures={"ping": 2}, crashes=(CrashPoint(2),))
    >>> run = LocalRunner(workflow, world=world).run()
    >>> run.status, run.operation("ping").step_details.attempt
    ('SUCCEEDED', 3)
    >>> world = World(failures={"ping": (3, TimeoutError)})
    >>> error = LocalRunner(workflow, world=world).run().operation("ping").step_details.error
    >>> error.error_type, error.error_message
    ('TimeoutError', "injected failure of 'ping', attempt 3")

Callbacks and chained invokes (``ok`` answers after a virtual hour, ``pricing`` fails):
    >>> from orchestra import Callback, Invoke, InvokeError
    >>> def order():
    ...     handle = yield Callback(name="ok", timeout=Duration.days(1))
    ...     approved = yield handle
    ...     try:
    ...         return [approved, (yield Invoke("pricing", 3))]
    ...     except InvokeError as error:
    ...         return [approved, error.error_type]
    >>> world = World(callbacks={"ok": CallbackOutcome.success(True, delay=3600)},
    ...               invokes={"pricing": InvokeOutcome.error("PriceUnknown", "no price")})
    >>> runner = LocalRunner(order, world=world, callbacks=world.callback_actions(),
    ...                      targets=world.invoke_targets())
    >>> runner.run().result
    [True, 'PriceUnknown']
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from orchestra.errors import ValidationError, describe_value
from orchestra.interpreter.commands import RunStep
from orchestra.runtime.executor import Report, StepExecutor
from orchestra.service.api import ServiceError
from orchestra.service.local.callbacks import MAX_RESULT_BYTES, CallbackAction
from orchestra.service.local.invokes import parse_function_name
from orchestra.wire.models import ErrorObject

__all__ = [
    "CALLBACKS_PER_NAME",
    "CallbackOutcome",
    "CrashPoint",
    "Execution",
    "FailureSpec",
    "InjectedFailure",
    "InvokeOutcome",
    "UnansweredCallbackError",
    "World",
    "WorldExecutor",
]

#: How many callbacks of one name (and how many unlisted ones) a world answers in a run.
CALLBACKS_PER_NAME = 100
#: The suffix of the callback a ``WaitForCallback`` named ``n`` creates.
WAIT_FOR_CALLBACK_SUFFIX = " create callback id"
#: Far beyond any callback timeout (366 days): an action that only ever meets a closed callback.
_NEVER_SECONDS = 10**9


class InjectedFailure(Exception):
    """A step attempt failed because the world said so (the function did not run)."""


class UnansweredCallbackError(ValueError):
    """The run waits for a callback that nothing will ever complete.

    The world gives the callback no answer (or only silence) and the callback has no
    timeout, so the execution would wait forever for the outside.
    """


CallbackKind = Literal["success", "failure", "timeout", "heartbeat_timeout"]


def _delay(value: object, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValidationError(f"{what}: delay must be a number of seconds >= 0, got {value!r}")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty str, got {describe_value(value)}")
    return value


@attrs.frozen
class CallbackOutcome:
    """What the outside world does with a callback, on the virtual clock.

    Build one with :meth:`success`, :meth:`failure`, :meth:`timeout` or
    :meth:`heartbeat_timeout`. The delay counts from the callback's start. An answer whose
    delay is not shorter than the callback's first timer comes too late: the callback has
    timed out by then (a timer falling due at the same moment wins).

    Attributes:
        kind: ``"success"``, ``"failure"``, ``"timeout"`` or ``"heartbeat_timeout"``.
        delay: virtual seconds from the callback's start to the answer (or the heartbeat).
        result: the success value, sent JSON-encoded (``None``: no body, the workflow
            receives ``None``).
        error_type: the failure's error type (``CallbackExternalError.error_type``).
        message: the failure's message.

    Example:
        >>> CallbackOutcome.success({"approved": True}, delay=60).body
        '{"approved": true}'
        >>> error = CallbackOutcome.failure("Rejected", "over budget").error
        >>> error.error_type, error.error_message
        ('Rejected', 'over budget')
        >>> CallbackOutcome.success(object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: CallbackOutcome.success: the result must be ...
    """

    kind: CallbackKind
    delay: float = 0
    result: Any = None
    error_type: str | None = None
    message: str | None = None

    @classmethod
    def success(cls, result: Any = None, *, delay: float = 0) -> CallbackOutcome:
        """The outside completes the callback with ``result`` after ``delay`` seconds."""
        what = "CallbackOutcome.success"
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{what}: the result must be JSON-encodable, got {describe_value(result)} ({exc})"
            ) from exc
        if len(body.encode()) > MAX_RESULT_BYTES:
            raise ValidationError(f"{what}: the result is over {MAX_RESULT_BYTES} bytes as JSON")
        return cls("success", _delay(delay, what), result=result)

    @classmethod
    def failure(
        cls, error_type: str = "Rejected", message: str = "rejected", *, delay: float = 0
    ) -> CallbackOutcome:
        """The outside fails the callback (``CallbackExternalError``) after ``delay`` s."""
        what = "CallbackOutcome.failure"
        return cls(
            "failure",
            _delay(delay, what),
            error_type=_text(error_type, f"{what}: error_type"),
            message=_text(message, f"{what}: message"),
        )

    @classmethod
    def timeout(cls) -> CallbackOutcome:
        """Nobody answers or heartbeats: the callback's first timer to fall due ends it.

        That is its timeout, or its heartbeat timeout when that one is shorter
        (``CallbackTimeoutError.on_heartbeat``). A callback with neither waits forever.
        """
        return cls("timeout")

    @classmethod
    def heartbeat_timeout(cls, *, delay: float = 0) -> CallbackOutcome:
        """The outside heartbeats once, ``delay`` s after the start, then falls silent.

        The heartbeat restarts the callback's heartbeat timeout, which then expires
        (``CallbackTimeoutError.on_heartbeat``) unless its overall timeout comes first.
        With ``delay=0`` no heartbeat is sent: the same as :meth:`timeout`.
        """
        return cls("heartbeat_timeout", _delay(delay, "CallbackOutcome.heartbeat_timeout"))

    @property
    def body(self) -> str | None:
        """The success body sent to the service (``None``: none)."""
        return None if self.result is None else json.dumps(self.result)

    @property
    def error(self) -> ErrorObject | None:
        """The failure's error object (``None`` unless a failure)."""
        if self.kind != "failure":
            return None
        return ErrorObject(error_message=self.message, error_type=self.error_type)

    def actions(self, name: str | re.Pattern[str]) -> tuple[CallbackAction, ...]:
        """The scripted actions that play this outcome for one callback named ``name``.

        Example:
            >>> [a.kind for a in CallbackOutcome.heartbeat_timeout(delay=5).actions("x")]
            ['heartbeat', 'heartbeat']
            >>> CallbackOutcome.timeout().actions("x")
            ()
        """
        if self.kind == "success":
            return (CallbackAction(name, "success", result=self.body, delay_seconds=self.delay),)
        if self.kind == "failure":
            return (CallbackAction(name, "failure", error=self.error, delay_seconds=self.delay),)
        if self.kind == "heartbeat_timeout" and self.delay > 0:
            # A heartbeat binds the next matching action to the same callback: the second
            # one falls due long after any timeout, so it only ever meets a closed callback.
            return (
                CallbackAction(name, "heartbeat", delay_seconds=self.delay),
                CallbackAction(name, "heartbeat", delay_seconds=_NEVER_SECONDS),
            )
        return ()


@attrs.frozen
class InvokeOutcome:
    """What a function called by a chained ``Invoke`` gives back: a result or an error.

    Example:
        >>> InvokeOutcome.result({"price": 7}).target()({"sku": "A1"})
        {'price': 7}
        >>> InvokeOutcome.error("PriceUnknown", "no price for A1").target()(None)
        Traceback (most recent call last):
        ...
        orchestra.testing.world.PriceUnknown: no price for A1
    """

    value: Any = None
    error_type: str | None = None
    message: str | None = None

    @classmethod
    def result(cls, value: Any = None) -> InvokeOutcome:
        """The callee succeeds with ``value`` (JSON-encodable)."""
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"InvokeOutcome.result: the value must be JSON-encodable, got "
                f"{describe_value(value)} ({exc})"
            ) from exc
        return cls(value)

    @classmethod
    def error(cls, error_type: str, message: str = "failed") -> InvokeOutcome:
        """The callee fails: ``InvokeError`` with this ``error_type`` and ``message``."""
        return cls(
            error_type=_text(error_type, "InvokeOutcome.error: error_type"),
            message=_text(message, "InvokeOutcome.error: message"),
        )

    @property
    def failed(self) -> bool:
        """Whether the callee fails."""
        return self.error_type is not None

    def target(self) -> Callable[[Any], Any]:
        """A plain target function for the emulator that plays this outcome."""
        if self.error_type is not None:
            kind = type(self.error_type, (Exception,), {})
            message = self.message

            def fail(_payload: Any) -> Any:
                raise kind(message)

            return fail
        value = self.value
        return lambda _payload: value


def _callback_name_pattern(names: Iterable[str]) -> str:
    return "|".join(f"{re.escape(n)}(?:{re.escape(WAIT_FOR_CALLBACK_SUFFIX)})?" for n in names)


@attrs.frozen
class CrashPoint:
    """The invocation dies at checkpoint call ``checkpoint`` (1-based, per execution).

    With ``after`` the call is applied and its answer lost; otherwise it never reaches
    the service.
    """

    checkpoint: int
    after: bool = True


#: A step's injected failures: a count, or a count and the exception type to raise.
FailureSpec = int | tuple[int, type[Exception]]


def _exception_type(kind: object, what: str) -> type[Exception]:
    """Check that ``kind`` is an Exception subclass that can be built from a message."""
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        raise ValidationError(f"{what} must be a subclass of Exception, got {kind!r}")
    try:
        kind("injected failure")
    except Exception as exc:
        raise ValidationError(
            f"{what} {kind.__name__} cannot be built from a message: "
            f"{kind.__name__}('injected failure') raised {exc!r}"
        ) from exc
    return kind


def _count(count: object, name: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValidationError(
            f"the failures of step {name!r} must be a count >= 0, or (count, exception type); "
            f"got {count!r}"
        )
    return count


@attrs.frozen(init=False)
class World:
    """What happens around a workflow, independently of its code.

    Args:
        failures: step name -> how many leading attempts fail, either a count or a pair
            ``(count, exception type)`` that names the type those attempts raise.
        crashes: where invocations die.
        seed: seeds retry jitter and the completion-order delays.
        max_delay_ms: each step is held back up to this many milliseconds (0: none), which
            changes the completion order of concurrent steps.
        exception: the type the injected failures raise unless ``failures`` or
            ``exceptions`` names another for the step (default :class:`InjectedFailure`).
            It must be an ``Exception`` subclass that can be built from a message.
        exceptions: step name -> the type that step's injected failures raise.
        callbacks: callback name -> what the outside does with it (a
            :class:`CallbackOutcome`). The name of a ``WaitForCallback`` stands for the
            callback it creates too (``"<name> create callback id"``). Every callback of
            that name is answered the same way (the first :data:`CALLBACKS_PER_NAME`).
        default_callback: what happens to unnamed callbacks and those ``callbacks`` does
            not list (default: nothing; the test answers them, or they time out).
        invokes: function name (as the ``Invoke`` names it) -> what it gives back. A
            function not listed is not found (``InvokeError`` ``ResourceNotFoundException``)
            unless the runner registers a target for it.

    Attributes:
        failures: step name -> how many leading attempts fail (a count).
        exceptions: step name -> the exception type, for the steps that do not raise
            ``exception``.

    Raises:
        ValidationError: a count is negative or not an int, an exception type is not an
            ``Exception`` subclass that can be built from a message, an outcome is not a
            :class:`CallbackOutcome` / :class:`InvokeOutcome`, or a function name is not one
            the service accepts.

    Example:
        >>> world = World(failures={"charge": 2, "ship": (1, KeyError)}, exception=TimeoutError)
        >>> world.failures
        {'charge': 2, 'ship': 1}
        >>> world.exception_for("charge").__name__, world.exception_for("ship").__name__
        ('TimeoutError', 'KeyError')
        >>> World(failures={"charge": (1, ValueError)}) == World(
        ...     failures={"charge": 1}, exceptions={"charge": ValueError})
        True
        >>> World(exception=KeyboardInterrupt)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: World exception must be a subclass of Exception, ...
        >>> World(callbacks={"approval": "yes"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestra.errors.ValidationError: World callbacks['approval'] must be a CallbackOutcome...
    """

    failures: Mapping[str, int]
    crashes: tuple[CrashPoint, ...]
    seed: int
    max_delay_ms: int
    exception: type[Exception]
    exceptions: Mapping[str, type[Exception]]
    callbacks: Mapping[str, CallbackOutcome] = attrs.field(factory=dict)
    default_callback: CallbackOutcome | None = None
    invokes: Mapping[str, InvokeOutcome] = attrs.field(factory=dict)

    def __init__(
        self,
        failures: Mapping[str, FailureSpec] | None = None,
        crashes: Iterable[CrashPoint] = (),
        seed: int = 0,
        max_delay_ms: int = 0,
        exception: type[Exception] = InjectedFailure,
        exceptions: Mapping[str, type[Exception]] | None = None,
        callbacks: Mapping[str, CallbackOutcome] | None = None,
        default_callback: CallbackOutcome | None = None,
        invokes: Mapping[str, InvokeOutcome] | None = None,
    ) -> None:
        counts: dict[str, int] = {}
        kinds: dict[str, type[Exception]] = {
            name: _exception_type(kind, f"World exceptions[{name!r}]")
            for name, kind in (exceptions or {}).items()
        }
        for name, spec in (failures or {}).items():
            if isinstance(spec, tuple):
                if len(spec) != 2:
                    raise ValidationError(
                        f"the failures of step {name!r} must be a count or (count, exception "
                        f"type); got {spec!r}"
                    )
                count, kind = spec
                kinds[name] = _exception_type(kind, f"World failures[{name!r}] exception")
            else:
                count = spec
            counts[name] = _count(count, name)
        self.__attrs_init__(
            counts,
            tuple(crashes),
            seed,
            max_delay_ms,
            _exception_type(exception, "World exception"),
            kinds,
            _callbacks(callbacks),
            _outcome(default_callback, CallbackOutcome, "World default_callback", optional=True),
            _invokes(invokes),
        )

    def exception_for(self, name: str | None) -> type[Exception]:
        """The exception type the injected failures of step ``name`` raise."""
        return self.exceptions.get(name or "", self.exception)

    def rng(self) -> random.Random:
        """A random source for retry jitter, seeded by the world."""
        return random.Random(self.seed)

    def callback_outcome(self, name: str | None) -> CallbackOutcome | None:
        """What the world does with a callback named ``name`` (``None``: nothing).

        Example:
            >>> world = World(callbacks={"ok": CallbackOutcome.timeout()},
            ...               default_callback=CallbackOutcome.success(1))
            >>> world.callback_outcome("ok create callback id").kind
            'timeout'
            >>> world.callback_outcome(None).kind, world.callback_outcome("other").kind
            ('success', 'success')
        """
        for listed, outcome in self.callbacks.items():
            if name in (listed, listed + WAIT_FOR_CALLBACK_SUFFIX):
                return outcome
        return self.default_callback

    def callback_actions(self) -> tuple[CallbackAction, ...]:
        """The emulator's scripted callback actions that play :attr:`callbacks`.

        Give them to ``LocalRunner(callbacks=...)`` (or ``LocalService.script_callbacks``).

        Example:
            >>> world = World(callbacks={"ok": CallbackOutcome.success(True, delay=5)})
            >>> actions = world.callback_actions()
            >>> len(actions), actions[0].matches("ok"), actions[0].matches("ok create callback id")
            (100, True, True)
            >>> actions[0].matches("other")
            False
        """
        actions: list[CallbackAction] = []
        for name, outcome in self.callbacks.items():
            pattern = re.compile(_callback_name_pattern([name]))
            actions.extend(outcome.actions(pattern) * CALLBACKS_PER_NAME)
        if self.default_callback is not None:
            listed = _callback_name_pattern(self.callbacks)
            others = re.compile(f"(?!(?:{listed})\\Z).*" if listed else ".*", re.DOTALL)
            actions.extend(self.default_callback.actions(others) * CALLBACKS_PER_NAME)
        return tuple(actions)

    def invoke_targets(self) -> dict[str, Callable[[Any], Any]]:
        """The emulator's chained-invoke targets that play :attr:`invokes`, by function name.

        Give them to ``LocalRunner(targets=...)`` (or ``LocalService.register_target``).

        Example:
            >>> World(invokes={"pricing": InvokeOutcome.result(7)}).invoke_targets()["pricing"](0)
            7
        """
        return {name: outcome.target() for name, outcome in self.invokes.items()}


def _outcome(value: Any, kind: type[Any], what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise ValidationError(
            f"{what} must be a {kind.__name__} (built with {kind.__name__}.<kind>(...)), "
            f"got {describe_value(value)}"
        )
    return value


def _callbacks(callbacks: Mapping[str, CallbackOutcome] | None) -> dict[str, CallbackOutcome]:
    checked: dict[str, CallbackOutcome] = {}
    for name, outcome in (callbacks or {}).items():
        _text(name, "World callbacks: a callback name")
        checked[name] = _outcome(outcome, CallbackOutcome, f"World callbacks[{name!r}]")
    return checked


def _invokes(invokes: Mapping[str, InvokeOutcome] | None) -> dict[str, InvokeOutcome]:
    checked: dict[str, InvokeOutcome] = {}
    for name, outcome in (invokes or {}).items():
        try:
            parse_function_name(name)
        except ServiceError as exc:
            raise ValidationError(
                f"World invokes: {name!r} is not a function name, partial ARN or ARN"
            ) from exc
        checked[name] = _outcome(outcome, InvokeOutcome, f"World invokes[{name!r}]")
    return checked


@attrs.frozen
class Execution:
    """One step attempt that the world let run (or failed on purpose)."""

    op_id: str
    name: str | None
    attempt: int
    at_most_once: bool
    injected: bool


class WorldExecutor(StepExecutor):
    """A step executor that follows a :class:`World` and records every attempt."""

    def __init__(self, world: World, max_workers: int = 32) -> None:
        super().__init__(max_workers)
        self.world = world
        self.executions: list[Execution] = []
        #: The op ids of the step attempts in the order they finished (their outcome was
        #: reported), which the world's delays shuffle between concurrent steps.
        self.completions: list[str] = []
        self._lock = threading.Lock()
        self._delays = random.Random(world.seed ^ 0x5EED)

    def submit(
        self,
        command: RunStep,
        execution_arn: str,
        report: Report,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Run ``command`` as the world says."""
        injected = command.attempt <= self.world.failures.get(command.name or "", 0)
        with self._lock:
            self.executions.append(
                Execution(
                    command.op_id, command.name, command.attempt, command.at_most_once, injected
                )
            )
            delay = (
                self._delays.uniform(0, self.world.max_delay_ms) / 1000
                if self.world.max_delay_ms
                else 0.0
            )
        if injected:
            message = f"injected failure of {command.name!r}, attempt {command.attempt}"
            kind = self.world.exception_for(command.name)
            command = attrs.evolve(command, fn=_raiser(kind, message), args=(), kwargs={})
        if delay:
            command = attrs.evolve(command, fn=_delayed(command.fn, delay))

        def reported(op_id: str, value: Any, error: BaseException | None) -> None:
            with self._lock:
                self.completions.append(op_id)
            report(op_id, value, error)

        super().submit(command, execution_arn, reported, now=now)


def _raiser(kind: type[Exception], message: str) -> Any:
    def fail() -> None:
        raise kind(message)

    return fail


def _delayed(fn: Any, delay: float) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return fn(*args, **kwargs)

    return run
