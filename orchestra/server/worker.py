"""The child process behind ``orchestra serve --isolate``: one function, JSON lines.

Started as ``python -m orchestra.server.worker --endpoint URL NAME=module:attr``. It imports
the function, then answers on its own copy of stdout (user code printing to stdout goes to
stderr instead, so it cannot break the protocol):

* first ``{"ready": true}``, or ``{"fatal": "<why>"}`` and exit status 2;
* for each input line ``{"id": ..., "event": {...}}``: ``{"id": ..., "output": ...}``, or
  ``{"id": ..., "error": {"type": <class name>, "message": ...}}`` when the handler raised.

It exits at the end of its input. A crash (``os._exit``, a signal) simply ends the output:
the server counts the invocation as failed and starts another worker.

Example:
    >>> _reply_error("7", ValueError("bad"))
    {'id': '7', 'error': {'type': 'ValueError', 'message': 'bad'}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO, Any

from orchestra.server.functions import (
    FunctionLoadError,
    build_handler,
    load_target,
    parse_function_option,
)

__all__ = ["main"]


def _reply_error(call_id: Any, exc: BaseException) -> dict[str, Any]:
    return {"id": call_id, "error": {"type": type(exc).__name__, "message": str(exc)}}


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def main(argv: list[str] | None = None) -> int:
    """Serve invocations of one function over stdin/stdout until end of input."""
    parser = argparse.ArgumentParser(prog="python -m orchestra.server.worker")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("function", help="NAME=module:attr")
    args = parser.parse_args(argv)

    # The protocol gets the real stdout; fd 1 and sys.stdout become stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    try:
        _, spec = parse_function_option(args.function)
        target = load_target(spec)
        handler = build_handler(target, args.endpoint)
    except FunctionLoadError as exc:
        _send(channel, {"fatal": str(exc)})
        return 2
    except Exception as exc:
        _send(channel, {"fatal": f"{type(exc).__name__}: {exc}"})
        return 2
    _send(channel, {"ready": True, "workflow": handler is not target})

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            call_id = request["id"]
            event = request["event"]
        except (ValueError, KeyError, TypeError):
            _send(channel, {"id": None, "error": {"type": "ProtocolError", "message": "bad line"}})
            continue
        try:
            output = handler(event, None)
            reply = {"id": call_id, "output": output}
            text = json.dumps(reply)
        except Exception as exc:
            _send(channel, _reply_error(call_id, exc))
            continue
        channel.write(text + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main())
