"""Registered functions: loading ``module:attr``, and invoking them in process or in a child.

A function is registered as ``NAME=module:attr``. ``attr`` is either an orchestra workflow
(a generator function), wrapped with :func:`orchestra.lambda_handler` whose every
checkpoint goes over HTTP to the server through boto3, or any other callable, taken as a
Lambda handler ``handler(event, context)`` (for example one written with the reference
SDK, whose own boto3 client reaches the server through ``AWS_ENDPOINT_URL_LAMBDA``).

In process, an invocation runs in a thread of its own and is abandoned after the
invocation timeout (its checkpoint token is revoked, so it can change nothing more). With
isolation, each function has long-lived child processes (``python -m
orchestra.server.worker``) speaking JSON lines over stdin/stdout: a child that dies or
overruns the timeout fails the invocation and is replaced.

Example:
    >>> parse_function_option("greeter=examples.hello:workflow")
    ('greeter', 'examples.hello:workflow')
    >>> load_target("json:dumps").__name__
    'dumps'
    >>> load_target("no_such_module_xyz:f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    orchestra.server.functions.FunctionLoadError: cannot import module 'no_such_module_xyz'...
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from orchestra._spec import import_attr
from orchestra.ops import is_generator_function
from orchestra.server.backend import Handler
from orchestra.service.local.engine import InvocationCrashed

__all__ = [
    "DUMMY_ENV",
    "FunctionLoadError",
    "InProcessFunction",
    "InvocationTimeoutError",
    "IsolatedFunction",
    "RuntimeExitError",
    "build_handler",
    "load_target",
    "make_lambda_client",
    "parse_function_option",
    "spec_of",
    "worker_env",
]

#: The region the emulator's ARNs name.
REGION = "us-east-1"
#: What a handler's environment needs to reach the server: dummy credentials and a region
#: (boto3 signs every request; the server does not check signatures).
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
}
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0


class FunctionLoadError(ValueError):
    """A function registration that cannot work: a bad name, an import error, not callable."""


class RuntimeExitError(InvocationCrashed):
    """The worker process running the invocation died (the runtime exited).

    The engine records it as Lambda does: ``Runtime.ExitError`` with how the process ended.
    """

    def __init__(self, message: str) -> None:
        super().__init__("Runtime.ExitError", message)


class InvocationTimeoutError(Exception):
    """The invocation ran longer than the invocation timeout."""


def parse_function_option(text: str) -> tuple[str, str]:
    """Split a ``--function NAME=module:attr`` option into its name and target.

    Raises:
        FunctionLoadError: no ``=``, a name the service does not allow, or no ``module:attr``.
    """
    name, sep, target = text.partition("=")
    if not sep:
        raise FunctionLoadError(f"expected NAME=module:attr, got {text!r}")
    check_name(name)
    if ":" not in target:
        raise FunctionLoadError(f"expected module:attr after {name}=, got {target!r}")
    return name, target


def check_name(name: str) -> str:
    """Reject a function name the service model does not allow."""
    if not _NAME.fullmatch(name):
        raise FunctionLoadError(f"invalid function name {name!r}: 1-64 characters of [a-zA-Z0-9-_]")
    return name


def load_target(spec: str) -> Callable[..., Any]:
    """Import ``module:attr`` (``attr`` may be dotted) and return it.

    Raises:
        FunctionLoadError: the module does not import, has no such attribute, or it is not
            callable.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise FunctionLoadError(f"expected module:attr, got {spec!r}")
    target = import_attr(module_name, attr, FunctionLoadError)
    if not callable(target):
        raise FunctionLoadError(f"{spec} is not callable (got {type(target).__name__})")
    return target  # type: ignore[no-any-return]


def spec_of(target: str | Callable[..., Any]) -> str:
    """The ``module:attr`` a child process can import ``target`` by.

    Raises:
        FunctionLoadError: ``target`` is defined where a child cannot import it (inside a
            function, in ``__main__``).
    """
    if isinstance(target, str):
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise FunctionLoadError(
            f"{target!r} cannot be imported by a worker process; register it as "
            "module:attr (isolation runs each function in a child process)"
        )
    return f"{module}:{qualname}"


def make_lambda_client(endpoint: str) -> Any:
    """A boto3 ``lambda`` client for the server at ``endpoint`` (dummy credentials).

    Its requests are not signed: the local server checks no signature, and SigV4 costs
    about a fifth of a checkpoint round trip on loopback.
    """
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": 3},
            user_agent_extra="orchestra-serve",
            signature_version=UNSIGNED,
        ),
    )


def build_handler(target: Callable[..., Any], endpoint: str) -> Handler:
    """The Lambda handler for ``target``: a workflow checkpointing over HTTP, or itself."""
    if is_generator_function(target):
        from orchestra.runtime.handler import lambda_handler
        from orchestra.service.lambda_api import LambdaService

        return lambda_handler(target, service=LambdaService(make_lambda_client(endpoint)))
    return target


def worker_env(endpoint: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process: reaches ``endpoint``, imports what we import."""
    env = dict(os.environ if base is None else base)
    for key, value in DUMMY_ENV.items():
        env.setdefault(key, value)
    env["AWS_ENDPOINT_URL_LAMBDA"] = endpoint
    no_proxy = [p for p in env.get("NO_PROXY", "").split(",") if p]
    env["NO_PROXY"] = ",".join([*no_proxy, "127.0.0.1", "localhost"])
    paths = [os.getcwd() if p == "" else p for p in sys.path]
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [*paths, old] if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class InProcessFunction:
    """Invokes a handler in this process, in a thread, bounded by ``timeout`` seconds.

    Example:
        >>> fn = InProcessFunction("echo", lambda event, context: {"Status": "SUCCEEDED"}, 1.0)
        >>> fn({}, None)
        {'Status': 'SUCCEEDED'}
    """

    def __init__(self, name: str, handler: Handler, timeout: float) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        """Invoke the handler; raise what it raised, or :class:`InvocationTimeoutError`."""
        outcome: list[Any] = []
        done = threading.Event()

        def target() -> None:
            try:
                outcome.append((True, self.handler(event, context)))
            except BaseException as exc:
                outcome.append((False, exc))
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"orchestra-invoke-{self.name}", daemon=True)
        thread.start()
        if not done.wait(self.timeout):
            raise InvocationTimeoutError(f"Task timed out after {self.timeout:.2f} seconds")
        ok, value = outcome[0]
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Nothing to release."""


class _Worker:
    """One child process and the thread reading its answers."""

    def __init__(self, argv: list[str], env: Mapping[str, str], start_timeout: float) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env)
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True, name="orchestra-worker-io")
        self._reader.start()
        try:
            first = self._next(start_timeout)
        except TimeoutError:
            first = {"fatal": f"the worker process did not start within {start_timeout:.0f} s"}
        if first is None or not first.get("ready"):
            self.kill()
            why = first.get("fatal") if first else None
            raise FunctionLoadError(why or f"the worker process did not start ({argv[-1]})")
        #: Whether the function is an orchestra workflow.
        self.workflow = bool(first.get("workflow"))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any] | None:
        """The next message; ``None`` at end of output; ``TimeoutError`` after ``timeout``."""
        try:
            line = self._lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise TimeoutError from None
        if line is None:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, event: dict[str, Any], timeout: float) -> Any:
        """Send one invocation and wait for its answer."""
        call_id = uuid.uuid4().hex
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": call_id, "event": event}).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._next(deadline - time.monotonic())
            except TimeoutError:
                self.kill()
                raise InvocationTimeoutError(
                    f"Task timed out after {timeout:.2f} seconds"
                ) from None
            if message is None:
                raise self._died()
            if message.get("id") != call_id:
                continue
            if "output" in message:
                return message["output"]
            err = message.get("error") or {}
            raise _HandlerError(str(err.get("type") or "Error"), str(err.get("message") or ""))

    def _died(self) -> RuntimeExitError:
        try:
            code = self.proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return RuntimeExitError(f"Runtime exited with error: {how}")

    def kill(self) -> None:
        self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=_STOP_TIMEOUT)
        self._close_pipes()

    def close(self) -> None:
        """Ask the child to exit (end of input); kill it if it does not."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=_STOP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class _HandlerError(Exception):
    """The handler raised in the child: its type name and message, rebuilt here."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def _rebuild(err: _HandlerError) -> Exception:
    """An exception whose class name is the child's, so the engine records the same type."""
    cls = type(err.type_name, (Exception,), {"__module__": "orchestra.server.worker"})
    return cls(str(err))  # type: ignore[no-any-return]


class IsolatedFunction:
    """Invokes a function in long-lived child processes, one invocation per child at a time.

    Args:
        name: the function name.
        spec: ``module:attr`` the child imports.
        endpoint: the server's URL (the child's boto3 clients point there).
        timeout: seconds an invocation may run; the child is killed after it.
    """

    def __init__(self, name: str, spec: str, endpoint: str, timeout: float) -> None:
        self.name = name
        self.spec = spec
        self.timeout = timeout
        self._argv = [
            sys.executable,
            "-m",
            "orchestra.server.worker",
            "--endpoint",
            endpoint,
            f"{name}={spec}",
        ]
        self._env = worker_env(endpoint)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        #: Whether the function is an orchestra workflow (known once a worker started).
        self.workflow = False

    def prepare(self) -> None:
        """Start one worker now, so an import error shows at server start."""
        worker = self._spawn()
        self.workflow = worker.workflow
        self._release(worker)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._argv, self._env, _START_TIMEOUT)
        with self._lock:
            self._all.add(worker)
        return worker

    def _acquire(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                self._all.discard(worker)
        return self._spawn()

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if worker.alive() and not self._closed:
                self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.close()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        """Invoke in a child; a dead or overrunning child fails the invocation."""
        worker = self._acquire()
        try:
            return worker.call(event, self.timeout)
        except _HandlerError as exc:
            raise _rebuild(exc) from None
        finally:
            self._release(worker)

    def close(self) -> None:
        """Stop every child (bounded)."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.close()
