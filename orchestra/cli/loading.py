"""Finding a workflow from ``module:attr``, as ``orchestra run`` and ``orchestra resume`` do.

The current directory is importable, as with ``python -m``, so ``orchestra run
shop:fulfil`` finds ``shop.py`` next to the user.

Example:
    >>> load_workflow("json:dumps")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.cli.loading.WorkflowLoadError: json:dumps is not a generator function ...
    >>> load_workflow("json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.cli.loading.WorkflowLoadError: expected module:workflow (for example ...), got 'json'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from orchestra._spec import import_attr
from orchestra.ops import is_generator_function

__all__ = ["WorkflowLoadError", "load_workflow", "split_spec"]


class WorkflowLoadError(Exception):
    """A ``module:attr`` that does not name a workflow (the message says what is wrong)."""


def split_spec(spec: str) -> tuple[str, str]:
    """Split ``module:attr`` into its module and (possibly dotted) attribute.

    Raises:
        WorkflowLoadError: the text is not of that form.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip() or ":" in attr:
        raise WorkflowLoadError(f"expected module:workflow (for example shop:fulfil), got {spec!r}")
    return module_name.strip(), attr.strip()


def _importable_cwd() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def load_workflow(spec: str) -> Callable[..., Any]:
    """Import ``module:attr`` and return the workflow generator function it names.

    A handler made by :func:`orchestra.lambda_handler` is accepted too: its workflow is used.

    Raises:
        WorkflowLoadError: the module does not import, has no such attribute, or the
            attribute is not a generator function.
    """
    module_name, attr = split_spec(spec)
    _importable_cwd()
    target = import_attr(module_name, attr, WorkflowLoadError)
    workflow = getattr(target, "__wrapped__", None)
    if callable(target) and workflow is not None and is_generator_function(workflow):
        return workflow  # type: ignore[no-any-return]
    if not is_generator_function(target):
        kind = type(target).__name__
        raise WorkflowLoadError(
            f"{spec} is not a generator function (a {kind}): a workflow is a function "
            "that yields its operations, such as `def fulfil(order): yield Step(...)`"
        )
    return target  # type: ignore[no-any-return]
