"""orchestra workflows written for the conformance requirements.

Each workflow does what its requirement's ``handler``/``invocations`` prose describes and is
registered under ``"<suite>/<id>"`` (for example ``"step/1-1"``) in :data:`HANDLERS`.
"""

from __future__ import annotations

from . import child, step, wait
from ._registry import HANDLERS

__all__ = ["HANDLERS", "child", "step", "wait"]
