"""Tools for testing workflows: run them locally, inspect histories, replay, check.

A :class:`World` also plays the outside systems: :class:`CallbackOutcome` answers
callbacks (or lets them time out) and :class:`InvokeOutcome` plays invoked functions.

``run_sequence`` unit-tests a workflow's own logic without running anything: it drives the
generator through expected (descriptor, result) pairs.

``orchestra.testing.strategies`` (hypothesis strategies) is imported on demand, so that
hypothesis is needed only by the tests that use it.
"""

from orchestra.service.local.callbacks import CallbackAction
from orchestra.testing.checks import (
    DeterminismError,
    DeterminismReport,
    check_replay_determinism,
)
from orchestra.testing.guard import DeterminismGuard, Violation
from orchestra.testing.replay import MissingInputError, Replayer, ReplayMismatch, ReplayResult
from orchestra.testing.runner import LocalRunner, PendingCallback, RunResult
from orchestra.testing.sequence import run_sequence
from orchestra.testing.world import (
    CallbackOutcome,
    CrashPoint,
    InjectedFailure,
    InvokeOutcome,
    UnansweredCallbackError,
    World,
)

__all__ = [
    "CallbackAction",
    "CallbackOutcome",
    "CrashPoint",
    "DeterminismError",
    "DeterminismGuard",
    "DeterminismReport",
    "InjectedFailure",
    "InvokeOutcome",
    "LocalRunner",
    "MissingInputError",
    "PendingCallback",
    "ReplayMismatch",
    "ReplayResult",
    "Replayer",
    "RunResult",
    "UnansweredCallbackError",
    "Violation",
    "World",
    "check_replay_determinism",
    "run_sequence",
]
