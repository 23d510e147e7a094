"""The embedded local emulator of the durable-execution service."""

from orchestra.service.local.callbacks import CallbackAction
from orchestra.service.local.clock import Clock, RealClock, VirtualClock
from orchestra.service.local.engine import InvocationCrashed, InvocationKilled, LocalService
from orchestra.service.local.invokes import DurableTarget

__all__ = [
    "CallbackAction",
    "Clock",
    "DurableTarget",
    "InvocationCrashed",
    "InvocationKilled",
    "LocalService",
    "RealClock",
    "VirtualClock",
]
