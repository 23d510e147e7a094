"""The Lambda durable-execution REST API over the emulator, as a WSGI application.

Routes, shapes and status codes follow botocore's ``lambda`` service model (rest-json), so a
stock ``boto3.client("lambda", endpoint_url=...)`` drives it. Every error answer carries the
header ``x-amzn-ErrorType`` and the body ``{"Type": <code>, "message": ...}``, so boto3
raises the modelled exception class (``client.exceptions.ResourceNotFoundException``...).
Timestamps are written as epoch seconds (floats), which botocore turns into ``datetime``.

Two routes are the emulator's own: ``POST /start-durable-execution`` (start an execution of
a registered function, answered ``201 {"ExecutionArn": ...}``) and ``GET /health``.

Nothing here logs a payload, a checkpoint token or a callback id.

Example (a WSGI call without a network):
    >>> from werkzeug.test import Client
    >>> from orchestra.service.local import LocalService
    >>> client = Client(DurableApi(LocalService()))
    >>> client.get("/health").json
    {'status': 'healthy'}
    >>> answer = client.get("/2025-12-01/durable-executions/nope")
    >>> answer.status_code, answer.headers["x-amzn-ErrorType"]
    (404, 'ResourceNotFoundException')
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

import cattrs
from werkzeug.wrappers import Request, Response

from orchestra.server.backend import Backend, Summary
from orchestra.service.api import ServiceError
from orchestra.service.local.engine import InvocationKilled
from orchestra.service.local.invokes import parse_function_name
from orchestra.wire.converter import from_wire, to_wire
from orchestra.wire.models import ErrorObject, ExecutionStatus, OperationUpdate

__all__ = [
    "API_VERSION",
    "MAX_INPUT_CHARS",
    "MAX_REQUEST_BYTES",
    "DurableApi",
    "Runner",
]

_LOG = logging.getLogger("orchestra.server")

#: The API version prefix of every durable-execution route.
API_VERSION = "2025-12-01"
#: The largest request body accepted (a checkpoint may carry several 6 MiB payloads; the
#: service's own per-field limits are checked by the emulator).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: ``InputPayload`` in the service model: at most 6,291,456 characters.
MAX_INPUT_CHARS = 6_291_456
#: ``ExecutionTimeout`` in the service model: 1 s to 366 days.
_MAX_EXECUTION_TIMEOUT = 31_622_400
_DEFAULT_PAGE = 100
_MAX_PAGE = 1000
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_CLIENT_TOKEN = re.compile(r"[\x21-\x7E]{1,64}")
_INVALID = "InvalidParameterValueException"
_NOT_FOUND = "ResourceNotFoundException"
#: How many answered checkpoints are remembered for ``ClientToken`` retries.
_REPLAY_CACHE = 1024


class Runner(Protocol):
    """Who runs executions: the server's dispatcher."""

    @property
    def functions(self) -> Collection[str]:
        """The registered function names."""
        ...

    def entry(self, function_name: str) -> str | None:
        """The ``module:attr`` of ``function_name`` (recorded with its executions)."""
        ...

    def kick(self, arn: str) -> None:
        """(Re)drive ``arn``: it was started, or something outside changed it."""
        ...

    def kick_family(self, arn: str) -> None:
        """(Re)drive the top execution of ``arn``'s family: a callback of ``arn`` changed."""
        ...


class _ApiError(Exception):
    """An error answer: the service's error code, message and HTTP status."""

    def __init__(
        self, code: str, message: str, status: int, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


def _invalid(message: str) -> _ApiError:
    return _ApiError(_INVALID, message, 400)


_SERVICE_ERROR_STATUS = {
    _INVALID: 400,
    "CallbackTimeoutException": 400,
    _NOT_FOUND: 404,
    "DurableExecutionAlreadyStartedException": 409,
    "TooManyRequestsException": 429,
    "ServiceException": 500,
}


def _from_service_error(exc: ServiceError) -> _ApiError:
    status = exc.status or _SERVICE_ERROR_STATUS.get(exc.code, 500)
    headers = {"Retry-After": "1"} if status == 429 else None
    return _ApiError(exc.code, exc.message, status, headers)


# --- rendering --------------------------------------------------------------------------


def _seconds(value: datetime) -> float:
    return value.timestamp()


def _timestamps_to_seconds(value: Any) -> Any:
    """Rewrite every ``...Timestamp`` value of a wire dictionary from epoch ms to seconds.

    The converter writes epoch milliseconds (the invocation event's format); the REST API's
    timestamps are epoch seconds for botocore.

    Example:
        >>> _timestamps_to_seconds({"Operations": [{"StartTimestamp": 1500, "Name": "x"}]})
        {'Operations': [{'StartTimestamp': 1.5, 'Name': 'x'}]}
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.endswith("Timestamp") and isinstance(item, int) and not isinstance(item, bool):
                out[key] = item / 1000
            else:
                out[key] = _timestamps_to_seconds(item)
        return out
    if isinstance(value, list):
        return [_timestamps_to_seconds(item) for item in value]
    return value


def _function_arn(execution_arn: str) -> str:
    """The (qualified) function ARN an execution ARN starts with."""
    return execution_arn.split("/durable-execution/", 1)[0]


def _summary(row: Summary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DurableExecutionArn": row.arn,
        "DurableExecutionName": row.name,
        "FunctionArn": _function_arn(row.arn),
        "Status": row.status.value,
    }
    if row.start_timestamp is not None:
        out["StartTimestamp"] = _seconds(row.start_timestamp)
    if row.end_timestamp is not None:
        out["EndTimestamp"] = _seconds(row.end_timestamp)
    return out


# --- parsing ----------------------------------------------------------------------------


def _problems(exc: Exception) -> str:
    """Where a parse failed, without the values (they may be payloads)."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc)[:5])
    return type(exc).__name__


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _invalid(f"Malformed JSON request body at {where}.") from None
    except ValueError:
        raise _invalid("Malformed JSON request body.") from None
    if not isinstance(data, dict):
        raise _invalid("The request body must be a JSON object.")
    return data


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise _invalid(f"{key} is required.")
    if not isinstance(value, str):
        raise _invalid(f"{key} must be a string.")
    return value


def _error_object(data: Mapping[str, Any], where: str) -> ErrorObject | None:
    if not data:
        return None
    try:
        return from_wire(dict(data), ErrorObject)
    except Exception as exc:
        raise _invalid(f"Invalid {where}: {_problems(exc)}") from None


class _Query:
    """A query string, parsed as botocore writes it (lists as repeated keys)."""

    def __init__(self, raw: str) -> None:
        self._values = parse_qs(raw, keep_blank_values=True)

    def get(self, key: str) -> str | None:
        values = self._values.get(key)
        return values[-1] if values else None

    def all(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    def integer(self, key: str, low: int, high: int) -> int | None:
        text = self.get(key)
        if text is None or text == "":
            return None
        try:
            value = int(text)
        except ValueError:
            raise _invalid(f"{key} must be an integer.") from None
        if not low <= value <= high:
            raise _invalid(f"{key} must be between {low} and {high}.")
        return value

    def boolean(self, key: str) -> bool | None:
        text = self.get(key)
        if text is None or text == "":
            return None
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise _invalid(f"{key} must be true or false.")

    def timestamp(self, key: str) -> datetime | None:
        text = self.get(key)
        if text is None or text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            try:
                return datetime.fromtimestamp(value, tz=UTC)
            except (OverflowError, OSError, ValueError):  # beyond the calendar, or NaN
                raise _invalid(f"{key} is not a time the calendar can hold.") from None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"{key} must be an ISO-8601 timestamp or epoch seconds.") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _page_size(query: _Query) -> int:
    return query.integer("MaxItems", 0, _MAX_PAGE) or _DEFAULT_PAGE


def _offset_marker(marker: str | None, total: int) -> int:
    if not marker:
        return 0
    try:
        start = int(marker)
    except ValueError:
        raise _invalid("Invalid marker") from None
    if not 0 <= start <= total:
        raise _invalid("Invalid marker")
    return start


def _drain(request: Request) -> None:
    """Read what is left of the body, so the next request on the connection starts clean."""
    try:
        stream = request.stream
        while stream.read(65536):
            pass
    except Exception:  # a broken connection: the server closes it anyway
        _LOG.debug("could not drain a request body")


# --- routing ----------------------------------------------------------------------------

_PREFIX = f"/{API_VERSION}"
_ACTIONS = "checkpoint|state|history|stop"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/health"), "health"),
    ("POST", re.compile(r"/start-durable-execution"), "start"),
    (
        "POST",
        re.compile(_PREFIX + r"/durable-execution-callbacks/(?P<id>.+)/(?P<action>succeed)"),
        "callback_success",
    ),
    (
        "POST",
        re.compile(_PREFIX + r"/durable-execution-callbacks/(?P<id>.+)/(?P<action>fail)"),
        "callback_failure",
    ),
    (
        "POST",
        re.compile(_PREFIX + r"/durable-execution-callbacks/(?P<id>.+)/(?P<action>heartbeat)"),
        "callback_heartbeat",
    ),
    ("GET", re.compile(_PREFIX + r"/functions/(?P<name>[^/]+)/durable-executions"), "list"),
    ("POST", re.compile(_PREFIX + r"/durable-executions/(?P<arn>.+)/checkpoint"), "checkpoint"),
    ("GET", re.compile(_PREFIX + r"/durable-executions/(?P<arn>.+)/state"), "state"),
    ("GET", re.compile(_PREFIX + r"/durable-executions/(?P<arn>.+)/history"), "history"),
    ("POST", re.compile(_PREFIX + r"/durable-executions/(?P<arn>.+)/stop"), "stop"),
    (
        "GET",
        re.compile(
            _PREFIX + r"/durable-executions/(?P<arn>(?!.*/(?:checkpoint|state|history|stop)$).+)"
        ),
        "execution",
    ),
]


def route_name(method: str, raw_path: str) -> str:
    """The route a request takes, for logs that must not show ARNs, tokens or callback ids.

    Example:
        >>> route_name("GET", "/2025-12-01/durable-executions/arn%3Ax/state?CheckpointToken=t")
        'state'
        >>> route_name("GET", "/favicon.ico")
        'unknown'
    """
    path = raw_path.split("?", 1)[0]
    for verb, pattern, name in _ROUTES:
        if verb == method and pattern.fullmatch(path):
            return name
    return "unknown"


def _raw_path(environ: Mapping[str, Any]) -> tuple[str, str]:
    """The path (still percent-encoded, so an encoded ``/`` in an ARN survives) and query."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        path, _, query = raw.partition("?")
        return path, query
    from urllib.parse import quote

    return quote(environ.get("PATH_INFO", "/"), safe="/:$"), environ.get("QUERY_STRING", "")


class DurableApi:
    """The WSGI application.

    Args:
        service: the emulator (:class:`~orchestra.service.local.LocalService`).
        runner: runs executions (the server's dispatcher); without one,
            ``/start-durable-execution`` knows no function and nothing is re-driven after a
            callback.
        clock: when requests happen (default: the service's clock).
    """

    def __init__(
        self,
        service: Backend,
        runner: Runner | None = None,
        *,
        max_in_flight: int = 256,
    ) -> None:
        self.service = service
        self.runner = runner
        self._replays: collections.OrderedDict[tuple[str, str, str], bytes] = (
            collections.OrderedDict()
        )
        self._replay_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._handlers: dict[str, Callable[[Request, _Query, dict[str, str]], Response]] = {
            "health": self._health,
            "start": self._start,
            "callback_success": self._callback_success,
            "callback_failure": self._callback_failure,
            "callback_heartbeat": self._callback_heartbeat,
            "list": self._list,
            "checkpoint": self._checkpoint,
            "state": self._state,
            "history": self._history,
            "stop": self._stop,
            "execution": self._execution,
        }

    # --- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Answer one request, after reading all of its body (the connection stays usable)."""
        request = Request(environ)
        try:
            response = self.respond(environ, request)
        finally:
            _drain(request)
        return response(environ, start_response)

    def respond(self, environ: dict[str, Any], request: Request | None = None) -> Response:
        """The response to one request (errors included)."""
        request_id = str(uuid.uuid4())
        method = environ.get("REQUEST_METHOD", "GET")
        path, raw_query = _raw_path(environ)
        name = "unknown"
        if not self._slots.acquire(blocking=False):
            response = self._error(
                _ApiError(
                    "TooManyRequestsException",
                    "Too many requests in flight; retry later.",
                    429,
                    {"Retry-After": "1"},
                )
            )
        else:
            try:
                name, params = self._route(method, path)
                request = request or Request(environ)
                response = self._handlers[name](request, _Query(raw_query), params)
            except _ApiError as exc:
                response = self._error(exc)
            except ServiceError as exc:
                response = self._error(_from_service_error(exc))
            except (Exception, InvocationKilled):
                _LOG.exception("unexpected error answering %s (RequestId %s)", name, request_id)
                response = self._error(
                    _ApiError("ServiceException", f"Internal error (RequestId {request_id}).", 500)
                )
            finally:
                self._slots.release()
        response.headers["x-amzn-RequestId"] = request_id
        _LOG.debug("%s %s -> %s", method, name, response.status_code)
        return response

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        allowed = False
        for verb, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if verb != method:
                allowed = True
                continue
            return name, {k: unquote(v) for k, v in match.groupdict().items()}
        if allowed:
            raise _ApiError("MethodNotAllowedException", f"{method} is not allowed here.", 405)
        raise _ApiError("UnknownOperationException", "No operation at this path.", 404)

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return Response(body, status=status, content_type="application/json")

    def _error(self, exc: _ApiError) -> Response:
        response = self._json({"Type": exc.code, "message": exc.message}, exc.status)
        response.headers["x-amzn-ErrorType"] = exc.code
        for key, value in exc.headers.items():
            response.headers[key] = value
        return response

    @staticmethod
    def _body(request: Request) -> bytes:
        length = request.content_length
        if length is not None and length > MAX_REQUEST_BYTES:
            raise _invalid(f"The request body must be at most {MAX_REQUEST_BYTES} bytes.")
        data = request.stream.read(MAX_REQUEST_BYTES + 1)
        if len(data) > MAX_REQUEST_BYTES:
            raise _invalid(f"The request body must be at most {MAX_REQUEST_BYTES} bytes.")
        return data

    def _kick(self, arn: str) -> None:
        if self.runner is not None:
            self.runner.kick(arn)

    # --- emulator routes ------------------------------------------------------------------

    def _health(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        return self._json({"status": "healthy"})

    def _start(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        body = _json_body(self._body(request))
        function = _required_str(body, "FunctionName")
        ref = parse_function_name(function)
        known = self.runner.functions if self.runner is not None else ()
        if ref.name not in known:
            raise _ApiError(_NOT_FOUND, f"Function not found: {ref.name}", 404)
        name = body.get("ExecutionName")
        if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
            raise _invalid("ExecutionName must be 1-64 characters of [a-zA-Z0-9-_].")
        payload = body.get("Input")
        if payload is not None and not isinstance(payload, str):
            payload = json.dumps(payload)
        if payload is not None and len(payload) > MAX_INPUT_CHARS:
            raise _invalid(f"Input must be at most {MAX_INPUT_CHARS} characters.")
        timeout = body.get("ExecutionTimeoutSeconds", 86_400)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 1 <= timeout <= _MAX_EXECUTION_TIMEOUT
        ):
            raise _invalid(
                f"ExecutionTimeoutSeconds must be an integer 1-{_MAX_EXECUTION_TIMEOUT}."
            )
        if name is not None and self._running_named(ref.name, name):
            raise _ApiError(
                "DurableExecutionAlreadyStartedException",
                f"A durable execution named {name} is already running.",
                409,
            )
        arn = self.service.start_execution(
            ref.name,
            payload,
            name=name,
            execution_timeout=timeout,
            entry=self.runner.entry(ref.name) if self.runner is not None else None,
        )
        self._kick(arn)
        return self._json({"ExecutionArn": arn}, 201)

    def _running_named(self, function: str, name: str) -> bool:
        lister = getattr(self.service, "list_executions", None)
        if lister is None:
            return False
        return any(
            row.name == name and row.status is ExecutionStatus.RUNNING
            for row in lister(function_name=function)
        )

    # --- the durable-execution API --------------------------------------------------------

    def _checkpoint(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        arn = params["arn"]
        body = _json_body(self._body(request))
        token = _required_str(body, "CheckpointToken")
        raw_updates = body.get("Updates", [])
        if not isinstance(raw_updates, list):
            raise _invalid("Updates must be a list.")
        updates = []
        for n, raw in enumerate(raw_updates):
            if not isinstance(raw, dict):
                raise _invalid(f"Updates[{n}] must be an object.")
            for key in ("Id", "Type", "Action"):
                if key not in raw:
                    raise _invalid(f"Updates[{n}].{key} is required.")
            try:
                updates.append(from_wire(raw, OperationUpdate))
            except Exception as exc:
                raise _invalid(f"Invalid Updates[{n}]: {_problems(exc)}") from None
        client_token = body.get("ClientToken")
        if client_token is not None and (
            not isinstance(client_token, str) or not _CLIENT_TOKEN.fullmatch(client_token)
        ):
            raise _invalid("ClientToken must be 1-64 printable characters.")
        replay: tuple[str, str, str] | None = (arn, token, client_token) if client_token else None
        if replay is not None:
            with self._replay_lock:
                cached = self._replays.get(replay)
            if cached is not None:
                return Response(cached, status=200, content_type="application/json")
        answer = to_wire(self.service.checkpoint(arn, token, updates))
        state = answer.setdefault("NewExecutionState", {})
        state.setdefault("Operations", [])
        response = self._json(_timestamps_to_seconds(answer))
        if replay is not None:
            with self._replay_lock:
                self._replays[replay] = response.get_data()
                while len(self._replays) > _REPLAY_CACHE:
                    self._replays.popitem(last=False)
        return response

    def _state(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        token = query.get("CheckpointToken")
        if not token:
            raise _invalid("CheckpointToken is required.")
        max_items = query.integer("MaxItems", 0, _MAX_PAGE) or 0
        page = to_wire(
            self.service.get_state(params["arn"], token, query.get("Marker") or "", max_items)
        )
        page.setdefault("Operations", [])
        return self._json(_timestamps_to_seconds(page))

    def _execution(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        ex = self.service.execution(params["arn"])
        include = query.boolean("IncludeExecutionData")
        include = True if include is None else include
        function_arn = _function_arn(ex.arn)
        out: dict[str, Any] = {
            "DurableExecutionArn": ex.arn,
            "DurableExecutionName": ex.name,
            "FunctionArn": function_arn,
            "Status": ex.status.value,
            "StartTimestamp": _seconds(ex.start_timestamp or datetime.now(UTC)),
            "Version": function_arn.rsplit(":", 1)[-1],
            "ExecutionDataIncluded": include,
        }
        if ex.end_timestamp is not None:
            out["EndTimestamp"] = _seconds(ex.end_timestamp)
        if include:
            if ex.input_payload is not None:
                out["InputPayload"] = ex.input_payload
            if ex.result is not None:
                out["Result"] = ex.result
            if ex.error is not None:
                out["Error"] = to_wire(ex.error)
        return self._json(out)

    def _history(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        include = query.boolean("IncludeExecutionData")
        reverse = bool(query.boolean("ReverseOrder"))
        size = _page_size(query)
        events = self.service.history_dicts(
            params["arn"], include_execution_data=True if include is None else include
        )
        if reverse:
            events.reverse()
        marker = query.get("Marker")
        start = 0
        if marker:
            try:
                wanted = int(marker)
            except ValueError:
                raise _invalid("Invalid marker") from None
            start = next(
                (i for i, e in enumerate(events) if e.get("EventId") == wanted), len(events) + 1
            )
            if start > len(events):
                raise _invalid("Invalid marker")
        page = events[start : start + size]
        out: dict[str, Any] = {"Events": _timestamps_to_seconds(page)}
        if start + size < len(events):
            out["NextMarker"] = str(events[start + size]["EventId"])
        return self._json(out)

    def _list(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        ref = parse_function_name(params["name"])
        qualifier = query.get("Qualifier") or ref.qualifier
        name = query.get("DurableExecutionName")
        statuses = query.all("Statuses")
        known = {s.value for s in ExecutionStatus if s.value != "UNKNOWN"} | {
            "DELETING",
            "PAUSING",
            "PAUSED",
        }
        for status in statuses:
            if status not in known:
                raise _invalid(f"Invalid status {status!r}.")
        if len(statuses) > 10:
            raise _invalid("Statuses allows at most 10 values.")
        after = query.timestamp("StartedAfter")
        before = query.timestamp("StartedBefore")
        oldest_first = bool(query.boolean("ReverseOrder"))
        size = _page_size(query)
        rows = list(self.service.list_executions(function_name=ref.name))
        registered = self.runner is not None and ref.name in self.runner.functions
        if not rows and not registered:
            raise _ApiError(_NOT_FOUND, f"Function not found: {ref.name}", 404)
        epoch = datetime.min.replace(tzinfo=UTC)

        def keep(row: Summary) -> bool:
            started = row.start_timestamp
            return (
                (not statuses or row.status.value in statuses)
                and (name is None or row.name == name)
                and (qualifier is None or _function_arn(row.arn).endswith(f":{qualifier}"))
                and (after is None or (started is not None and started > after))
                and (before is None or (started is not None and started < before))
            )

        rows = sorted(
            (r for r in rows if keep(r)),
            key=lambda r: (r.start_timestamp or epoch, r.arn),
            reverse=not oldest_first,
        )
        start = _offset_marker(query.get("Marker"), len(rows))
        out: dict[str, Any] = {
            "DurableExecutions": [_summary(r) for r in rows[start : start + size]]
        }
        if start + size < len(rows):
            out["NextMarker"] = str(start + size)
        return self._json(out)

    def _stop(self, request: Request, query: _Query, params: dict[str, str]) -> Response:
        body = _json_body(self._body(request))
        wrapped = body.get("Error")
        if isinstance(wrapped, dict) and not {"ErrorMessage", "ErrorType"} & body.keys():
            body = wrapped  # {"Error": {...}}, as the official emulator expects it
        error = _error_object(body, "Error")
        stopped = self.service.stop_execution(params["arn"], error)
        self._kick(params["arn"])
        return self._json({"StopTimestamp": _seconds(stopped)})

    # --- callbacks ------------------------------------------------------------------------

    def _callback_changed(self, arn: str) -> None:
        """A callback of execution ``arn`` was answered: drive it."""
        if self.runner is not None:
            self.runner.kick_family(arn)

    def _callback_success(
        self, request: Request, query: _Query, params: dict[str, str]
    ) -> Response:
        arn = self.service.send_callback_success(params["id"], self._body(request) or None)
        self._callback_changed(arn)
        return self._json({})

    def _callback_failure(
        self, request: Request, query: _Query, params: dict[str, str]
    ) -> Response:
        error = _error_object(_json_body(self._body(request)), "Error")
        arn = self.service.send_callback_failure(params["id"], error)
        self._callback_changed(arn)
        return self._json({})

    def _callback_heartbeat(
        self, request: Request, query: _Query, params: dict[str, str]
    ) -> Response:
        arn = self.service.send_callback_heartbeat(params["id"])
        self._callback_changed(arn)
        return self._json({})
