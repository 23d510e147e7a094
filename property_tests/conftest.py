"""Hypothesis profiles for the property tests.

``ci`` (the default) keeps the whole ``property_tests`` run well under a minute on two
cores; ``long`` runs thousands of examples::

    python -m pytest property_tests --hypothesis-profile=long

An explicit ``--hypothesis-profile`` (or the ``HYPOTHESIS_PROFILE`` environment variable)
wins over the default.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "print_blob": True,
    # no explain phase: on these tests it costs minutes and adds little to the shrunk example
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
}

settings.register_profile("ci", max_examples=60, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
