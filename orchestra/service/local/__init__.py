"""The embedded local emulator of the durable-execution service."""

from orchestra.service.local.clock import Clock, RealClock, VirtualClock
from orchestra.service.local.engine import InvocationKilled, LocalService

__all__ = ["Clock", "InvocationKilled", "LocalService", "RealClock", "VirtualClock"]
