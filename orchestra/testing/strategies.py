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
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from orchestra.testing.world import CrashPoint, FailureSpec, World

__all__ = ["crash_points", "worlds"]


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
) -> st.SearchStrategy[World]:
    """Worlds with failing step attempts, crash points, jitter seeds and step delays.

    Args:
        step_names: the steps whose attempts may fail (by operation name).
        max_failures: at most this many leading failed attempts per step.
        max_crashes: at most this many crash points per run.
        max_checkpoint: crash points fall on checkpoint calls 1..max_checkpoint.
        max_delay_ms: steps are held back up to this long (changes completion order).
        exceptions: the exception types an injected failure may raise, drawn per step
            (default: only :class:`~orchestra.testing.InjectedFailure`).

    Example:
        >>> from hypothesis import find
        >>> strategy = worlds(["charge"], exceptions=[TimeoutError, ConnectionError])
        >>> world = find(strategy, lambda world: world.failures.get("charge", 0) > 0)
        >>> world.failures, world.exception_for("charge") in (TimeoutError, ConnectionError)
        ({'charge': 1}, True)
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
    return st.builds(
        World,
        failures=failures,
        crashes=crashes,
        seed=st.integers(min_value=0, max_value=2**32 - 1),
        max_delay_ms=st.integers(min_value=0, max_value=max_delay_ms),
    )
