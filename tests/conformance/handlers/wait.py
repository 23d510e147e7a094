"""Handlers for the ``wait`` suite (requirements 2-x)."""

from __future__ import annotations

from typing import Any

from orchestra import Duration, Wait

from ._registry import requirement


@requirement("wait/2-1")
def wait_basic(event: Any) -> Any:
    yield Wait(Duration.seconds(2))
    return "Wait completed"


@requirement("wait/2-2")
def wait_with_name(event: Any) -> Any:
    yield Wait(Duration.seconds(2), name="custom_wait_name")
    return "Wait completed"


@requirement("wait/2-3")
def wait_multiple_sequential(event: Any) -> Any:
    yield Wait(Duration.seconds(2), name="wait-1")
    yield Wait(Duration.seconds(2), name="wait-2")
    return {"completedWaits": 2}


@requirement("wait/2-4")
def wait_duration_units(event: Any) -> Any:
    yield Wait(Duration.minutes(1))
    return "Wait completed"


@requirement("wait/2-5")
def wait_long_duration(event: Any) -> Any:
    yield Wait(Duration.hours(1))
    return "Wait completed"
