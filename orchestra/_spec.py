"""Importing what a ``module:attr`` names, with errors that say what went wrong and where.

The command line (``orchestra run shop:fulfil``) and the server (``--function
pay=shop:pay``) both name code this way; both report a failure in their own error class.

Example:
    >>> import_attr("json", "dumps", ValueError).__name__
    'dumps'
    >>> import_attr("json", "nope", ValueError)
    Traceback (most recent call last):
    ...
    ValueError: module 'json' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
import os
import traceback
from typing import Any

__all__ = ["import_attr"]


def _where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``'s traceback (no full traceback)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {last.filename}:{last.lineno})"


def import_attr(module_name: str, attr: str, error: type[Exception]) -> Any:
    """Import ``module_name`` and return its (possibly dotted) attribute ``attr``.

    Raises:
        error: the module is missing, raises or does not compile while importing (the
            message names the exception and where it was raised), or lacks the attribute.
    """
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise error(
                f"cannot import module {module_name!r}: no module named {exc.name!r} "
                f"(looked in the current directory {os.getcwd()} and on sys.path)"
            ) from None
        raise error(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from None
    except SyntaxError as exc:
        raise error(
            f"importing module {module_name!r} failed: SyntaxError: {exc.msg} "
            f"(at {exc.filename}:{exc.lineno})"
        ) from None
    except Exception as exc:
        raise error(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise error(f"module {module_name!r} has no attribute {attr!r}") from None
    return target
