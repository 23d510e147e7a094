"""A requirement's ``CallbackActions`` as scripted actions of the local emulator.

The official runner polls the execution and answers each new callback with the first
unused action whose ``CallbackName`` matches it (``shared/spec/conformance-suite.md``
§1.5-§1.6). Locally the same rules are the emulator's scripted callback actions
(:class:`orchestra.testing.runner.CallbackAction`), applied on the virtual clock:

* ``CallbackName``: ``"*"``, a name (``${...}`` placeholders substituted), or
  ``"${/re/}"``, a regular expression searched in the callback's name;
* ``Operation`` (any case): ``success`` sends ``json.dumps(Payload)`` as the body, or no
  body without a ``Payload``; ``failure`` sends the error object made of the Payload's
  ``ErrorType``/``ErrorMessage``/``ErrorData``/``StackTrace``; ``heartbeat`` does not close
  the callback, so the next matching action applies to it too;
* ``Delay``: virtual seconds after the callback started (after the heartbeat before).

Example:
    >>> from matching import Bindings
    >>> [success] = callback_actions(
    ...     [{"CallbackName": "${CB}", "Operation": "SUCCESS", "Payload": "ok", "Delay": 1}],
    ...     Bindings({"CB": "approval"}),
    ... )
    >>> success.name, success.kind, success.result, success.delay_seconds
    ('approval', 'success', '"ok"', 1.0)
    >>> [failure] = callback_actions(
    ...     [{"CallbackName": "${/^order-/}", "Operation": "failure",
    ...       "Payload": {"ErrorType": "RejectedError", "ErrorMessage": "no"}}],
    ...     Bindings(),
    ... )
    >>> failure.matches("order-7"), failure.matches("my-order-7"), failure.error.error_type
    (True, False, 'RejectedError')
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from matching import Bindings, MatchError

from orchestra.testing.runner import CallbackAction
from orchestra.wire.models import ErrorObject

__all__ = ["callback_actions"]

_REGEX_NAME: Final = re.compile(r"\$\{/(.*)/\}", re.DOTALL)
_ERROR_FIELDS: Final = ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")


def callback_actions(
    raw_actions: list[dict[str, Any]] | None, bindings: Bindings
) -> list[CallbackAction]:
    """Translate ``CallbackActions`` (in order), substituting ``bindings`` into them.

    Raises:
        MatchError: an action cannot be applied as written (unknown operation, a failure
            whose Payload is not an error mapping).
    """
    actions = []
    for raw in raw_actions or []:
        operation = str(raw.get("Operation", "")).lower()
        name = _callback_name(raw.get("CallbackName", "*"), bindings)
        delay = float(raw.get("Delay") or 0)
        if operation == "success":
            result = json.dumps(bindings.substitute(raw["Payload"])) if "Payload" in raw else None
            actions.append(CallbackAction(name, "success", result=result, delay_seconds=delay))
        elif operation == "failure":
            error = _callback_error(bindings.substitute(raw.get("Payload")))
            actions.append(CallbackAction(name, "failure", error=error, delay_seconds=delay))
        elif operation == "heartbeat":
            actions.append(CallbackAction(name, "heartbeat", delay_seconds=delay))
        else:
            raise MatchError(f"unknown CallbackAction Operation {raw.get('Operation')!r}")
    return actions


def _callback_name(raw: Any, bindings: Bindings) -> str | re.Pattern[str]:
    name = str(raw)
    regex = _REGEX_NAME.fullmatch(name)
    if regex is not None:
        # The emulator full-matches a pattern; the runner searches the name with it.
        return re.compile(f"(?s:.*?)(?:{regex.group(1)})(?s:.*)")
    return str(bindings.substitute(name))


def _callback_error(payload: Any) -> ErrorObject:
    if not isinstance(payload, dict):
        raise MatchError(f"a failure CallbackAction needs a Payload mapping, found {payload!r}")
    unknown = sorted(set(payload) - set(_ERROR_FIELDS))
    if unknown:
        raise MatchError(f"a failure CallbackAction's Payload has unknown key(s) {unknown}")
    trace = payload.get("StackTrace")
    return ErrorObject(
        error_message=payload.get("ErrorMessage"),
        error_type=payload.get("ErrorType"),
        error_data=payload.get("ErrorData"),
        stack_trace=[str(line) for line in trace] if isinstance(trace, list) else trace,
    )
