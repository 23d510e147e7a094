"""orchestra workflows written for the conformance requirements.

Each workflow does what its requirement's ``handler``/``invocations`` prose describes and is
registered under ``"<suite>/<id>"`` (for example ``"step/1-1"``) in :data:`HANDLERS`. The
functions the invoke requirements call are registered by function name in :data:`TARGETS`.
"""

from __future__ import annotations

from . import (
    callback,
    child,
    invoke,
    map,
    parallel,
    step,
    wait,
    wait_for_callback,
    wait_for_condition,
)
from ._registry import HANDLERS, TARGETS

__all__ = [
    "HANDLERS",
    "TARGETS",
    "callback",
    "child",
    "invoke",
    "map",
    "parallel",
    "step",
    "wait",
    "wait_for_callback",
    "wait_for_condition",
]
