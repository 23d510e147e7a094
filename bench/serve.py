"""The same orchestra handler over HTTP: `orchestra serve` vs the official emulator's web runner.

Issue 9 §5: through boto3 over loopback, N sequential steps against `orchestra serve` must run
at least 3x faster than the same orchestra handler against the official emulator's web runner
(aws-durable-execution-sdk-python-testing's WebRunner, the server behind
`dex-local-runner start-server`).

Both sides run the identical handler, `lambda_handler(seq, service=LambdaService(client))`, whose
boto3 client points at the server under test, so every checkpoint is one HTTP round trip on
loopback. The official web runner invokes handlers at a Lambda endpoint: a small stub Lambda
endpoint (Invoke API, in a thread of the same worker process) calls the handler. orchestra's
server calls it in a worker thread. Each measurement is a fresh process, the sides alternate,
and the time is from the start request to the execution's terminal status seen through boto3
GetDurableExecution.

    python bench/serve.py [--n 1000] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-west-2",
    "NO_PROXY": "127.0.0.1",
}


def _inc(x: int) -> int:
    return x + 1


def seq(event: Any):  # the workflow both sides run
    from orchestra import Step

    x = 0
    for _ in range(int(event["n"])):
        x = yield Step(_inc, x, name="inc")
    return x


def _client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-west-2",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )


def _handler(url: str) -> Any:
    """The handler `orchestra serve --function seq=...` builds: its boto3 client on ``url``."""
    from orchestra.server.functions import build_handler

    return build_handler(seq, url)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"{}")


def _wait_done(client: Any, arn: str, budget: float) -> tuple[str, float]:
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        status = client.get_durable_execution(DurableExecutionArn=arn)["Status"]
        if status != "RUNNING":
            return status, time.perf_counter()
        time.sleep(0.05)  # a coarse poll: each one is a boto3 call that competes for the CPU
    raise TimeoutError(f"{arn} still running after {budget:.0f} s")


def _start_body(n: int) -> dict[str, Any]:
    return {
        "AccountId": "123456789012",
        "FunctionName": "seq",
        "FunctionQualifier": "$LATEST",
        "ExecutionName": f"seq-{time.time_ns()}",
        "ExecutionTimeoutSeconds": 3600,
        "ExecutionRetentionPeriodDays": 1,
        "Input": json.dumps({"n": n}),
    }


class _Timer:
    """Times the server's own handling of checkpoint requests (median, ms)."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def wrap(self, method: Any, is_checkpoint: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                if is_checkpoint(*args):
                    self.samples.append(time.perf_counter() - begin)

        return timed

    def median_ms(self) -> float | None:
        return statistics.median(self.samples) * 1e3 if self.samples else None


def worker_orchestra(n: int, budget: float) -> dict[str, Any]:
    from orchestra.server import Server
    from orchestra.server.app import DurableApi
    from orchestra.service.local import LocalService

    timer = _Timer()
    call = DurableApi.__call__

    def is_checkpoint(_: Any, environ: dict[str, Any], *__: Any) -> bool:
        return bool(environ.get("PATH_INFO", "").endswith("/checkpoint"))

    def timed_call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        begin = time.perf_counter()
        body = list(call(self, environ, start_response))
        if is_checkpoint(self, environ):
            timer.samples.append(time.perf_counter() - begin)
        return body

    DurableApi.__call__ = timed_call  # type: ignore[method-assign]
    service = LocalService()
    with Server(service, functions={"seq": _handler_late}) as server:
        url = server.start()
        _LATE["handler"] = _handler(url)
        client = _client(url)
        begin = time.perf_counter()
        arn = _post(f"{url}/start-durable-execution", _start_body(n))["ExecutionArn"]
        status, end = _wait_done(client, arn, budget)
        calls = service.execution(arn).checkpoint_calls
    return {
        "status": status,
        "seconds": end - begin,
        "checkpoint_calls": calls,
        "server_ms": timer.median_ms(),
    }


_LATE: dict[str, Any] = {}


def _handler_late(event: Any, context: Any) -> Any:
    """The handler built once the server's URL is known (a plain Lambda handler to the server)."""
    return _LATE["handler"](event, context)


class _StubLambda(BaseHTTPRequestHandler):
    """The Lambda Invoke API, calling the orchestra handler in this process."""

    handler: Any = None
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        event = json.loads(self.rfile.read(length) or b"{}")
        try:
            body = json.dumps(type(self).handler(event, None)).encode()
            error = None
        except Exception as exc:  # reported to the emulator as a function error
            body = json.dumps({"errorMessage": str(exc)}).encode()
            error = "Unhandled"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "stub")
        if error:
            self.send_header("X-Amz-Function-Error", error)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def worker_official(n: int, budget: float) -> dict[str, Any]:
    import logging

    from aws_durable_execution_sdk_python_testing.runner import WebRunner, WebRunnerConfig
    from aws_durable_execution_sdk_python_testing.web.server import (
        RequestHandler,
        WebServiceConfig,
    )

    logging.disable(logging.INFO)
    timer = _Timer()
    RequestHandler.do_POST = timer.wrap(  # type: ignore[method-assign]
        RequestHandler.do_POST, lambda handler: handler.path.split("?")[0].endswith("/checkpoint")
    )
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _StubLambda)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    lambda_url = f"http://127.0.0.1:{stub.server_address[1]}"
    config = WebRunnerConfig(
        web_service=WebServiceConfig(host="127.0.0.1", port=0),
        lambda_endpoint=lambda_url,
        skip_time=True,
    )
    with WebRunner(config) as runner:
        threading.Thread(target=runner.serve_forever, daemon=True).start()
        server = runner._server
        assert server is not None
        url = f"http://127.0.0.1:{server.server_address[1]}"
        _StubLambda.handler = _handler(url)
        client = _client(url)
        begin = time.perf_counter()
        arn = _post(f"{url}/start-durable-execution", _start_body(n))["ExecutionArn"]
        status, end = _wait_done(client, arn, budget)
    stub.shutdown()
    return {"status": status, "seconds": end - begin, "server_ms": timer.median_ms()}


def worker_floor(n: int, budget: float) -> dict[str, Any]:
    """boto3 checkpoint calls to a server that does nothing but answer: no server is faster."""
    from werkzeug.serving import make_server

    from orchestra.server.functions import make_lambda_client
    from orchestra.server.server import _QuietHandler

    # The answer orchestra's server gives a step's START+SUCCEED call, as bytes.
    operation = {
        "Id": "c4ca4238a0b92382",
        "Type": "STEP",
        "SubType": "Step",
        "Name": "inc",
        "Status": "SUCCEEDED",
        "StartTimestamp": 1796000000.123,
        "EndTimestamp": 1796000000.124,
        "StepDetails": {"Attempt": 1, "Result": "1"},
    }
    answer = json.dumps(
        {"CheckpointToken": "t" * 44, "NewExecutionState": {"Operations": [operation]}}
    ).encode()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
        )
        return [answer]

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = make_lambda_client(f"http://127.0.0.1:{server.server_port}")
    arn = (  # an ARN of orchestra's shape (the service's), as long as the real ones
        "arn:aws:lambda:us-east-1:123456789012:function:seq:$LATEST/durable-execution/"
        "0123456789abcdef0123456789abcdef/0123456789abcdef0123456789abcdef"
    )
    updates = [
        {"Id": "abc", "Type": "STEP", "Action": "START", "Name": "inc", "SubType": "Step"},
        {"Id": "abc", "Type": "STEP", "Action": "SUCCEED", "Name": "inc", "Payload": "1"},
    ]
    begin = time.perf_counter()
    for _ in range(n):
        client.checkpoint_durable_execution(
            DurableExecutionArn=arn, CheckpointToken="t" * 44, Updates=updates
        )
    seconds = time.perf_counter() - begin
    server.shutdown()
    return {"status": "SUCCEEDED", "seconds": seconds}


def _worker(side: str, n: int, budget: float) -> dict[str, Any] | None:
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--worker", side, "--n", str(n)]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=budget + 30, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", choices=("orchestra", "official", "floor"))
    args = parser.parse_args()
    if args.worker:
        workers = {"orchestra": worker_orchestra, "official": worker_official}
        run = workers.get(args.worker, worker_floor)
        print(json.dumps(run(args.n, args.budget)))
        return

    times: dict[str, list[float]] = {"orchestra": [], "official": [], "floor": []}
    server_ms: dict[str, list[float]] = {"orchestra": [], "official": []}
    calls = None
    for i in range(args.repeat):
        sides = ("orchestra", "official", "floor")
        for side in sides if i % 2 == 0 else reversed(sides):
            result = _worker(side, args.n, args.budget)
            if result is None or result["status"] != "SUCCEEDED":
                print(f"  {side} run {i + 1}: {result}", file=sys.stderr)
                continue
            times[side].append(result["seconds"])
            if result.get("server_ms") is not None:
                server_ms[side].append(result["server_ms"])
            calls = result.get("checkpoint_calls", calls)
            print(f"  {side:<9} run {i + 1}: {result['seconds']:.3f} s", flush=True)
    ours = statistics.median(times["orchestra"]) if times["orchestra"] else None
    theirs = statistics.median(times["official"]) if times["official"] else None
    ratio = theirs / ours if ours and theirs else None
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(f"{args.n} sequential steps, one HTTP checkpoint each, through boto3 on loopback:")
    if ours is not None:
        print(
            f"  orchestra serve:           median {ours:.3f} s  min {min(times['orchestra']):.3f} s"
            f"  ({ours / args.n * 1e3:.2f} ms per step, {calls} checkpoint calls)"
        )
    if theirs is not None:
        print(
            f"  official web runner 1.4.0: median {theirs:.3f} s  "
            f"min {min(times['official']):.3f} s  ({theirs / args.n * 1e3:.2f} ms per step)"
        )
    if ratio is not None:
        print(f"  official / orchestra: {ratio:.1f}x (issue 9 target: >= 3x)")
    floor = statistics.median(times["floor"]) if times["floor"] else None
    if floor is not None:
        print(
            f"  floor: the same boto3 client against a server that only answers: "
            f"{floor / args.n * 1e3:.2f} ms per call"
        )
        if theirs is not None:
            print(
                f"  best ratio any server could reach here (official / floor): "
                f"{theirs / floor:.1f}x"
            )
    ours_server = statistics.median(server_ms["orchestra"]) if server_ms["orchestra"] else None
    theirs_server = statistics.median(server_ms["official"]) if server_ms["official"] else None
    if ours_server is not None and theirs_server is not None:
        print(
            f"  server time per checkpoint request (median): orchestra {ours_server:.3f} ms, "
            f"official {theirs_server:.3f} ms ({theirs_server / ours_server:.1f}x)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "n": args.n,
                    "orchestra_s": ours,
                    "official_s": theirs,
                    "ratio": ratio,
                    "orchestra_checkpoint_calls": calls,
                    "floor_s": floor,
                    "orchestra_server_ms": ours_server,
                    "official_server_ms": theirs_server,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
