"""Hypothesis strategies for the *world* of a run (requires ``hypothesis``).

Example::

    from hypothesis import given
    from orchestra.testing import check_replay_determinism
    from orchestra.testing.strategies import worlds

    @given(worlds(step_names=["reserve", "charge"]))
    def test_fulfil_replays_deterministically(world):
        check_replay_determinism(fulfil, {"id": "o-1"}, world)

    @given(worlds(step_names=["charge"], exceptions=[TimeoutError, ConnectionError]))
    def test_charge_retries_timeouts(world):
        ...

    @given(worlds(callback_names=["approval"], invoke_targets=["pricing"]))
    def test_approval_replays_deterministically(world):
        check_replay_determinism(approve, {"id": "o-1"}, world)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from orchestra.testing.world import (
    CallbackOutcome,
    CrashPoint,
    FailureSpec,
    InvokeOutcome,
    World,
)

__all__ = ["callback_outcomes", "crash_points", "invoke_outcomes", "json_values", "worlds"]

_ERROR_TYPES = st.sampled_from(["Rejected", "Expired", "Invalid"])
_MESSAGES = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)


def json_values() -> st.SearchStrategy[Any]:
    """Small JSON values (what callbacks and invoked functions give back)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**31), max_value=2**31),
        st.text(max_size=10),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=5,
    )


def callback_outcomes(*, max_delay: float = 120) -> st.SearchStrategy[CallbackOutcome]:
    """Answers to a callback: a success, a failure, silence, or a heartbeat then silence.

    Args:
        max_delay: answers (and heartbeats) come 0 to ``max_delay`` virtual seconds after
            the callback starts.

    Example:
        >>> from hypothesis import find
        >>> find(callback_outcomes(), lambda outcome: outcome.kind == "failure").error_type
        'Rejected'
    """
    delays = st.integers(min_value=0, max_value=int(max_delay))
    return st.one_of(
        st.builds(
            lambda value, delay: CallbackOutcome.success(value, delay=delay), json_values(), delays
        ),
        st.builds(
            lambda kind, message, delay: CallbackOutcome.failure(kind, message, delay=delay),
            _ERROR_TYPES,
            _MESSAGES,
            delays,
        ),
        st.just(CallbackOutcome.timeout()),
        st.builds(lambda delay: CallbackOutcome.heartbeat_timeout(delay=delay), delays),
    )


def invoke_outcomes() -> st.SearchStrategy[InvokeOutcome]:
    """What an invoked function gives back: a JSON value, or an error.

    Example:
        >>> from hypothesis import find
        >>> find(invoke_outcomes(), lambda outcome: outcome.failed).error_type
        'Rejected'
    """
    return st.one_of(
        st.builds(InvokeOutcome.result, json_values()),
        st.builds(InvokeOutcome.error, _ERROR_TYPES, _MESSAGES),
    )


def crash_points(*, max_checkpoint: int = 20) -> st.SearchStrategy[CrashPoint]:
    """A checkpoint call at which the invocation dies, before or after the call."""
    return st.builds(CrashPoint, st.integers(min_value=1, max_value=max_checkpoint), st.booleans())


def worlds(
    step_names: Sequence[str] = (),
    *,
    max_failures: int = 2,
    max_crashes: int = 2,
    max_checkpoint: int = 20,
    max_delay_ms: int = 0,
    exceptions: Sequence[type[Exception]] = (),
    callback_names: Sequence[str] = (),
    invoke_targets: Sequence[str] = (),
    max_callback_delay: float = 120,
    default_callback: bool = False,
) -> st.SearchStrategy[World]:
    """Worlds with failing step attempts, crash points, jitter seeds and step delays.

    With ``callback_names`` they also answer those callbacks (each drawn from
    :func:`callback_outcomes`); with ``invoke_targets`` they play those functions (each a
    result or an error, :func:`invoke_outcomes`).

    Args:
        step_names: the steps whose attempts may fail (by operation name).
        max_failures: at most this many leading failed attempts per step.
        max_crashes: at most this many crash points per run.
        max_checkpoint: crash points fall on checkpoint calls 1..max_checkpoint.
        max_delay_ms: steps are held back up to this long (changes completion order).
        exceptions: the exception types an injected failure may raise, drawn per step
            (default: only :class:`~orchestra.testing.InjectedFailure`).
        callback_names: callbacks (or WaitForCallbacks) to give an outcome, by name.
        invoke_targets: function names to give a result or an error; every one of them
            gets one (the world plays them all).
        max_callback_delay: callback answers come 0 to this many virtual seconds late.
        default_callback: also draw an outcome for the callbacks not named (else they get
            none, and are left for the test to answer or to time out).

    Example:
        >>> from hypothesis import find
        >>> strategy = worlds(["charge"], exceptions=[TimeoutError, ConnectionError])
        >>> world = find(strategy, lambda world: world.failures.get("charge", 0) > 0)
        >>> world.failures, world.exception_for("charge") in (TimeoutError, ConnectionError)
        ({'charge': 1}, True)
        >>> world = find(worlds(callback_names=["ok"], invoke_targets=["pricing"]),
        ...              lambda world: "ok" in world.callbacks)
        >>> world.callbacks["ok"].kind in {"success", "failure", "timeout", "heartbeat_timeout"}
        True
        >>> sorted(world.invoke_targets())
        ['pricing']
    """
    counts = st.integers(min_value=0, max_value=max_failures)
    specs: st.SearchStrategy[FailureSpec] = (
        st.tuples(counts, st.sampled_from(list(exceptions))) if exceptions else counts
    )
    failures = st.dictionaries(
        st.sampled_from(list(step_names)) if step_names else st.nothing(),
        specs,
    )
    crashes = st.lists(
        crash_points(max_checkpoint=max_checkpoint),
        max_size=max_crashes,
        unique_by=lambda c: c.checkpoint,
    ).map(tuple)
    outcomes = callback_outcomes(max_delay=max_callback_delay)
    callbacks = st.dictionaries(
        st.sampled_from(list(callback_names)) if callback_names else st.nothing(), outcomes
    )
    invokes = st.fixed_dictionaries({name: invoke_outcomes() for name in invoke_targets})
    return st.builds(
        World,
        failures=failures,
        crashes=crashes,
        seed=st.integers(min_value=0, max_value=2**32 - 1),
        max_delay_ms=st.integers(min_value=0, max_value=max_delay_ms),
        callbacks=callbacks,
        default_callback=st.one_of(st.none(), outcomes) if default_callback else st.none(),
        invokes=invokes,
    )
