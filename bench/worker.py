"""One measurement in a fresh process: ``python bench/worker.py <sdk> <workload> <n> [t0]``.

``sdk`` is ``orchestra`` or ``official``; ``workload`` is one of

* ``seq``: ``n`` sequential one-step operations, timed around the runner's ``run`` call;
* ``map``: a Map over ``n`` items, each item one step, ``max_concurrency=100``;
* ``replay``: ``n`` sequential steps, then a one-hour wait, then the end. The emulator skips
  the hour and invokes the handler a second time; that second invocation replays the ``n``
  recorded steps up to the frontier (the completed wait) and is the one timed;
* ``cold``: the time from ``t0`` (the parent's ``time.time()`` just before it spawned this
  process) until the handler of a one-step workflow is about to send its first checkpoint
  over boto3 (``n`` is ignored). The process exits at that moment.

The result is one JSON line on stdout. The official SDK and its runner are imported only
when ``sdk`` is ``official``, so the orchestra side runs without them.

Only ``os``, ``sys`` and ``time`` are imported at module level: everything else is part of
what the cold start measures.
"""

import os
import sys
import time

MAP_CONCURRENCY = 100
WAIT_SECONDS = 3600
#: When the replay workflow's code got past its last step, once per invocation.
FRONTIER = []


def _emit(record):
    import json
    import resource

    record["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class Counter:
    """Counts checkpoint calls and the updates they carry, at the service boundary."""

    def __init__(self):
        self.calls = 0
        self.updates = 0

    def wrap(self, checkpoint):
        def counted(*args, **kwargs):
            self.calls += 1
            updates = kwargs.get("updates", args[2] if len(args) > 2 else ())
            self.updates += len(updates)
            return checkpoint(*args, **kwargs)

        return counted


# --- orchestra -------------------------------------------------------------------------------


def _orchestra_workflow(workload, n):
    from orchestra import Duration, Map, Step, Wait

    def inc(i: int) -> int:
        return i + 1

    def seq(count):
        total = 0
        for i in range(count):
            total += yield Step(inc, i)
        return total

    def fan_out(count):
        batch = yield Map(list(range(count)), _orchestra_item, max_concurrency=MAP_CONCURRENCY)
        return sum(batch.values())

    def replay(count):
        total = 0
        for i in range(count):
            total += yield Step(inc, i)
        FRONTIER.append(time.perf_counter())
        yield Wait(Duration.seconds(WAIT_SECONDS))
        return total

    return {"seq": seq, "map": fan_out, "replay": replay}[workload]


def _orchestra_item(item: int, index: int) -> int:
    return item + 1


def run_orchestra(workload, n):
    from orchestra.testing import LocalRunner

    runner = LocalRunner(_orchestra_workflow(workload, n))
    counter = Counter()
    runner.service.checkpoint = counter.wrap(runner.service.checkpoint)
    invocations = []
    handler = runner.handler

    def timed(event, context=None):
        calls = counter.calls
        start = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            invocations.append((start, time.perf_counter(), counter.calls - calls))

    runner.handler = timed
    start = time.perf_counter()
    run = runner.run(n)
    seconds = time.perf_counter() - start
    import orchestra

    return {
        "status": run.status,
        "error_detail": None if run.error is None else run.error.error_message,
        "source": os.path.dirname(orchestra.__file__),
        "result": run.result,
        "seconds": seconds,
        "calls": counter.calls,
        "updates": counter.updates,
        "invocations": invocations,
    }


# --- the official SDK ------------------------------------------------------------------------


def _official_handler(workload):
    from aws_durable_execution_sdk_python import durable_execution, durable_step
    from aws_durable_execution_sdk_python.config import Duration, MapConfig

    @durable_step
    def inc(step_context, i):
        return i + 1

    def item(context, value, index, items):
        return context.step(inc(value))

    @durable_execution
    def seq(event, context):
        total = 0
        for i in range(event):
            total += context.step(inc(i))
        return total

    @durable_execution
    def fan_out(event, context):
        batch = context.map(
            list(range(event)), item, config=MapConfig(max_concurrency=MAP_CONCURRENCY)
        )
        return sum(batch.get_results())

    @durable_execution
    def replay(event, context):
        total = 0
        for i in range(event):
            total += context.step(inc(i))
        FRONTIER.append(time.perf_counter())
        context.wait(Duration.from_seconds(WAIT_SECONDS))
        return total

    return {"seq": seq, "map": fan_out, "replay": replay}[workload]


def run_official(workload, n, budget):
    import json

    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

    counter = Counter()
    invocations = []
    handler = _official_handler(workload)

    def timed(event, context):
        calls = counter.calls
        start = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            invocations.append((start, time.perf_counter(), counter.calls - calls))

    # The runner's execution timeout is real time: give it the whole budget.
    with DurableFunctionTestRunner(handler=timed) as runner:
        client = runner._service_client
        client.checkpoint = counter.wrap(client.checkpoint)
        start = time.perf_counter()
        result = runner.run(input=json.dumps(n), execution_timeout=int(budget) + 60)
        seconds = time.perf_counter() - start
    return {
        "status": result.status.name,
        "result": json.loads(result.result) if result.result else None,
        "seconds": seconds,
        "calls": counter.calls,
        "updates": counter.updates,
        "invocations": invocations,
    }


# --- cold start ------------------------------------------------------------------------------


def _cold_event():
    now_ms = int(time.time() * 1000)
    arn = (
        "arn:aws:lambda:us-east-1:123456789012:function:bench:$LATEST"
        "/durable-execution/cold/0123456789abcdef0123456789abcdef"
    )
    return {
        "DurableExecutionArn": arn,
        "CheckpointToken": "token-1",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "0123456789abcdef0123456789abcdef",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": now_ms,
                    "ExecutionDetails": {"InputPayload": "1"},
                }
            ],
            "NextMarker": "",
        },
    }


def cold(sdk, t0, started):
    """Build the handler as a Lambda module would, invoke it, stop at its first checkpoint."""
    phases = {}

    def ready(**kwargs):
        now = time.time()
        inside = time.perf_counter() - started
        phases["invoke_s"] = time.perf_counter() - phases.pop("_mark")
        record = {"sdk": sdk, "workload": "cold", "seconds": now - t0, "in_process_s": inside}
        _emit({**record, **phases})
        os._exit(0)

    mark = time.perf_counter()
    import boto3

    # Every boto3 client made from the default session inherits this hook; the request is
    # serialised and signed, and would go on the network next.
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-send.lambda.CheckpointDurableExecution", ready)
    phases["boto3_import_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if sdk == "orchestra":
        from orchestra import Step, lambda_handler

        phases["sdk_import_s"] = time.perf_counter() - mark

        def one_step(count):
            return (yield Step(abs, count))

        handler = lambda_handler(one_step)
    else:
        from aws_durable_execution_sdk_python import durable_execution

        phases["sdk_import_s"] = time.perf_counter() - mark

        @durable_execution
        def handler(event, context):
            return context.step(lambda _: abs(event))

    phases["_mark"] = time.perf_counter()
    handler(_cold_event(), None)
    raise SystemExit(f"{sdk}: the handler returned without a checkpoint call")


def main(argv):
    started = time.perf_counter()
    sdk, workload, n = argv[1], argv[2], int(argv[3])
    if workload == "cold":
        cold(sdk, float(argv[4]), started)
    budget = float(argv[4]) if len(argv) > 4 else 300.0
    if sdk == "orchestra":
        out = run_orchestra(workload, n)
    elif sdk == "official":
        out = run_official(workload, n, budget)
    else:
        raise SystemExit(f"unknown sdk {sdk!r}")
    record = {"sdk": sdk, "workload": workload, "n": n, **out}
    if workload == "replay":
        # The second invocation replays the n steps; the first ran them.
        runs = out["invocations"]
        record["invocation_count"] = len(runs)
        if len(runs) >= 2 and len(FRONTIER) >= 2:
            start, end, calls = runs[1]
            record["replay_s"] = FRONTIER[1] - start
            record["per_op_us"] = record["replay_s"] / n * 1e6
            record["invocation_s"] = end - start
            record["replay_calls"] = calls
    del record["invocations"]
    _emit(record)


if __name__ == "__main__":
    main(sys.argv)
