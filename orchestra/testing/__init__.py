"""Tools for testing workflows: run them locally, inspect histories, replay."""

from orchestra.testing.runner import LocalRunner, RunResult

__all__ = ["LocalRunner", "RunResult"]
