"""``Server``: the emulator behind HTTP, with registered functions run by a dispatcher.

Example:
    >>> import boto3
    >>> from orchestra.service.local import LocalService
    >>> with Server(LocalService()) as server:
    ...     client = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1",
    ...                           aws_access_key_id="x", aws_secret_access_key="x")
    ...     try:
    ...         client.get_durable_execution(DurableExecutionArn="arn:aws:lambda:us-east-1:"
    ...             "123456789012:function:f:$LATEST/durable-execution/n/0123")
    ...     except client.exceptions.ResourceNotFoundException as exc:
    ...         print(exc.response["Error"]["Code"])
    ResourceNotFoundException
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from orchestra.server.app import DurableApi, route_name
from orchestra.server.backend import Backend, Handler
from orchestra.server.dispatch import Dispatcher
from orchestra.server.functions import (
    DUMMY_ENV,
    FunctionLoadError,
    InProcessFunction,
    IsolatedFunction,
    build_handler,
    check_name,
    load_target,
    spec_of,
)
from orchestra.wire.models import ExecutionStatus

__all__ = ["DEFAULT_INVOCATION_TIMEOUT", "Server", "serve"]

_LOG = logging.getLogger("orchestra.server")

#: Seconds an invocation may run (Lambda's maximum function timeout).
DEFAULT_INVOCATION_TIMEOUT = 900.0
_POLL = 0.1

FunctionTarget = str | Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler, with keep-alive, logging only the route.

    Werkzeug's development handler closes every connection, and after each response reads
    whatever the client sent next (it cannot know the application read the whole body).
    :class:`~orchestra.server.app.DurableApi` always drains the body and always answers in
    one piece, so this handler answers it simply and keeps an HTTP/1.1 connection open for
    the next request: boto3 reuses its pooled connections instead of opening one per call.
    Logs show the route only, never a path, query or body (ARNs, tokens, callback ids).
    """

    #: Seconds an idle keep-alive connection is kept before its thread ends.
    timeout = 60
    #: Answers are small and written in two pieces (headers, body): no Nagle delay.
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        """Call the application and send its answer (with ``Content-Length``)."""
        environ = self.make_environ()
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None  # the application never uses write()

        try:
            body = b"".join(self.server.app(environ, start_response))
            status, headers = started
        except Exception:
            _LOG.exception("the application failed")
            body = b'{"Type":"ServiceException","message":"Internal error."}'
            status = "500 INTERNAL SERVER ERROR"
            headers = [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", "ServiceException"),
            ]
            self.close_connection = True
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for key, value in headers:
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _LOG.debug("%s %s %s", self.command, route_name(self.command, self.path), code)

    def log_error(self, format: str, *args: Any) -> None:
        _LOG.debug("HTTP error answering %s", route_name(self.command or "", self.path or ""))

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("HTTP: %s", self.command)


class _SdkEnvironment:
    """The process environment SDKs read their endpoint from, shared by every live server.

    The newest live server that has in-process handlers owns ``AWS_ENDPOINT_URL_LAMBDA``;
    when it closes, the next newest takes it back, and when the last closes the variables
    are as they were before the first (whatever order the servers close in).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: list[tuple[object, str]] = []
        self._saved: dict[str, str | None] = {}

    def point(self, owner: object, url: str) -> None:
        with self._lock:
            if not self._owners:
                self._saved = {key: os.environ.get(key) for key in (*DUMMY_ENV, _ENDPOINT)}
                for key, value in DUMMY_ENV.items():
                    if not os.environ.get(key):
                        os.environ[key] = value
            self._owners.append((owner, url))
            os.environ[_ENDPOINT] = url

    def release(self, owner: object) -> None:
        with self._lock:
            before = len(self._owners)
            self._owners = [(o, u) for o, u in self._owners if o is not owner]
            if len(self._owners) == before:
                return
            if self._owners:
                os.environ[_ENDPOINT] = self._owners[-1][1]
                return
            for key, value in self._saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved = {}


_ENDPOINT = "AWS_ENDPOINT_URL_LAMBDA"
_SDK_ENV = _SdkEnvironment()


class Server:
    """The durable-execution API over HTTP, and a dispatcher running registered functions.

    Args:
        service: the emulator (a :class:`~orchestra.service.local.LocalService`). For real
            time, give it a :class:`~orchestra.server.WakeableClock`, so a callback or a stop
            that arrives while an execution sleeps until a timer is acted on at once.
        host: the interface to listen on (loopback by default).
        port: the TCP port (0: any free port; see :attr:`url`).
        functions: the functions ``/start-durable-execution`` can start, by name: a
            ``"module:attr"`` string or the object itself, either an orchestra workflow
            (a generator function; its checkpoints go through boto3 to this server) or a
            Lambda handler ``handler(event, context)``.
        isolate: run each function's invocations in child processes, so a crash is a real
            process death (functions must then be importable by ``module:attr``).
        invocation_timeout: seconds an invocation may run before it counts as failed.
        workers: how many executions run at the same time.
        tick: seconds between two looks at waiting executions whose outside deadline (a
            callback timeout left to real time) may have come.
    """

    def __init__(
        self,
        service: Backend,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        functions: Mapping[str, FunctionTarget] | None = None,
        isolate: bool = False,
        invocation_timeout: float = DEFAULT_INVOCATION_TIMEOUT,
        workers: int = 8,
        tick: float = 1.0,
    ) -> None:
        self.service = service
        self.tick = tick
        self.host = host
        self.port = port
        self.isolate = isolate
        self.invocation_timeout = invocation_timeout
        self._targets: dict[str, FunctionTarget] = {}
        for name, given in (functions or {}).items():
            check_name(name)
            if isolate:
                spec_of(given)  # fail now if a child could not import it
            self._targets[name] = (
                load_target(given) if isinstance(given, str) and not isolate else given
            )
        self._workers = workers
        self._http: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._dispatcher: Dispatcher | None = None
        self._functions: list[InProcessFunction | IsolatedFunction] = []
        self._entry_of: dict[str, str] = {}
        self._lock = threading.Lock()
        self._foreground = False
        #: The server's URL once it listens (``http://127.0.0.1:PORT``).
        self.url = ""

    # --- lifecycle --------------------------------------------------------------------------

    def _open(self) -> str:
        with self._lock:
            if self._http is not None:
                return self.url
            reopen = getattr(self.service.clock, "reopen", None)
            if callable(reopen):
                reopen()
            api = DurableApi(self.service)
            http = make_server(
                self.host, self.port, api, threaded=True, request_handler=_QuietHandler
            )
            port = http.server_address[1]
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.url = f"http://{host}:{port}"
            try:
                handlers = self._handlers(self.url)
            except BaseException:
                http.server_close()
                self._close_functions()
                raise
            dispatcher = Dispatcher(
                self.service,
                handlers,
                entries=self._entry_of,
                workers=self._workers,
                tick=self.tick,
            )
            api.runner = dispatcher
            dispatcher.start()
            self._http = http
            self._dispatcher = dispatcher
            _LOG.info("orchestra server listening on %s", self.url)
            return self.url

    def _handlers(self, url: str) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {}
        foreign = False
        for name, target in self._targets.items():
            if self.isolate:
                isolated = IsolatedFunction(name, spec_of(target), url, self.invocation_timeout)
                self._functions.append(isolated)
                isolated.prepare()
                handlers[name] = isolated
                if isolated.workflow:
                    self._entry_of[name] = isolated.spec
            else:
                assert callable(target)
                handler = build_handler(target, url)
                foreign = foreign or handler is target
                if handler is not target:
                    with contextlib.suppress(FunctionLoadError):
                        self._entry_of[name] = spec_of(target)
                fn = InProcessFunction(name, handler, self.invocation_timeout)
                self._functions.append(fn)
                handlers[name] = fn
        if foreign:
            self._point_sdks_here(url)
        return handlers

    def _point_sdks_here(self, url: str) -> None:
        """Let SDKs that build their own boto3 client (from the environment) reach us."""
        _SDK_ENV.point(self, url)

    def _restore_env(self) -> None:
        _SDK_ENV.release(self)

    def start(self) -> str:
        """Listen and serve in a background thread; returns the URL (``http://host:port``).

        Raises:
            FunctionLoadError: a registered function cannot be loaded (with isolation, its
                worker process did not start).
            OSError: the address is in use.
        """
        url = self._open()
        with self._lock:
            if self._thread is None:
                assert self._http is not None
                http = self._http
                self._thread = threading.Thread(
                    target=http.serve_forever,
                    kwargs={"poll_interval": _POLL},
                    name="orchestra-http",
                    daemon=True,
                )
                self._thread.start()
        return url

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (from another thread) or Ctrl-C."""
        if self._thread is not None:
            self._thread.join()
            return
        self._open()
        assert self._http is not None
        self._foreground = True
        try:
            self._http.serve_forever(poll_interval=_POLL)
        finally:
            self._foreground = False
            self.close()

    def wait(self, arn: str, timeout: float = 10.0) -> ExecutionStatus:
        """Wait (at most ``timeout`` seconds) until nothing is running ``arn``; its status."""
        if self._dispatcher is None:
            return self.service.execution(arn).status
        return self._dispatcher.wait(arn, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, interrupt waits, stop workers; every step bounded by ``timeout``."""
        with self._lock:
            http, thread, dispatcher = self._http, self._thread, self._dispatcher
            self._http = self._thread = self._dispatcher = None
        if http is None:
            return
        if thread is not None or self._foreground:
            http.shutdown()
        if thread is not None:
            thread.join(timeout)
        interrupt = getattr(self.service.clock, "close", None)
        if callable(interrupt):
            interrupt()
        if dispatcher is not None:
            dispatcher.close(timeout)
        self._close_functions()
        http.server_close()
        self._restore_env()

    def _close_functions(self) -> None:
        for fn in self._functions:
            try:
                fn.close()
            except Exception:
                _LOG.exception("stopping the workers of %s failed", fn.name)
        self._functions.clear()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve(
    service: Backend,
    host: str = "127.0.0.1",
    port: int = 0,
    functions: Mapping[str, FunctionTarget] | None = None,
    isolate: bool = False,
    *,
    invocation_timeout: float = DEFAULT_INVOCATION_TIMEOUT,
    echo: Callable[[str], Any] = print,
) -> None:
    """Serve until Ctrl-C, printing the URL first (the CLI's ``orchestra serve``).

    Raises:
        FunctionLoadError: a registered function cannot be loaded.
        OSError: the address is in use.
    """
    server = Server(
        service,
        host=host,
        port=port,
        functions=functions,
        isolate=isolate,
        invocation_timeout=invocation_timeout,
    )
    url = server._open()
    echo(f"orchestra: serving the durable-execution API on {url} (Ctrl-C to stop)")
    for name in server._targets:
        echo(f'  function {name}: POST {url}/start-durable-execution {{"FunctionName": "{name}"}}')
    try:
        server.serve_forever()  # Werkzeug's loop ends quietly on Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    echo("orchestra: stopped")
