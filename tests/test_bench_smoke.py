"""bench/ still runs: each worker at a tiny n in a fresh process, and run.py's summary shape.

The orchestra side needs nothing beyond orchestra; the official side is skipped when the
``bench`` extra (the official SDK and its test runner) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
from types import ModuleType

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
N = 5


def load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def worker(*args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCH / "worker.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def check_run(record: dict, sdk: str, workload: str) -> None:
    assert record["sdk"] == sdk and record["workload"] == workload and record["n"] == N
    assert record["status"] == "SUCCEEDED"
    assert record["result"] == sum(range(1, N + 1))
    assert record["seconds"] > 0 and record["rss_mb"] > 0
    assert record["calls"] >= 1 and record["updates"] >= record["calls"]


@pytest.mark.parametrize("workload", ["seq", "map", "replay"])
def test_orchestra_worker(workload: str) -> None:
    record = worker("orchestra", workload, str(N))
    check_run(record, "orchestra", workload)
    if workload == "seq":
        assert (record["calls"], record["updates"]) == (N, 2 * N)
    if workload == "replay":
        assert record["invocation_count"] == 2
        assert record["replay_calls"] == 0
        assert 0 < record["replay_s"] <= record["invocation_s"]
        assert record["per_op_us"] == pytest.approx(record["replay_s"] / N * 1e6)


def test_orchestra_cold_start_stops_at_the_first_checkpoint() -> None:
    run = load_run()
    env = {**os.environ, **run.COLD_ENV}
    t0 = time.time()
    record = worker("orchestra", "cold", "1", repr(t0), env=env)
    assert record["sdk"] == "orchestra" and record["workload"] == "cold"
    assert 0 < record["in_process_s"] < record["seconds"] < time.time() - t0


def test_official_worker() -> None:
    pytest.importorskip("aws_durable_execution_sdk_python", reason="the bench extra is absent")
    pytest.importorskip(
        "aws_durable_execution_sdk_python_testing", reason="the bench extra is absent"
    )
    check_run(worker("official", "seq", str(N)), "official", "seq")


def test_summary_has_the_documented_shape() -> None:
    run = load_run()

    def rec(**fields: float) -> dict:
        return {"seconds": 1.0, "calls": 3, "updates": 6, "rss_mb": 30.0, **fields}

    results = {
        key: {"orchestra": [rec(), rec(seconds=3.0)], "official": []} for key, *_ in run.WORKLOADS
    }
    results["seq_1000"]["official"] = [rec(seconds=9.0), {"error": run.OVER_BUDGET}]
    results["replay_10000"]["orchestra"] = [rec(per_op_us=7.0)]
    summary = run.summarise(results)
    assert set(summary) == {
        "seq_1000",
        "seq_10000",
        "map_1000",
        "map_10000",
        "replay_10000",
        "calls",
        "cold_start",
        "rss_mb",
    }
    for key in ("seq_1000", "seq_10000", "map_1000", "map_10000"):
        assert set(summary[key]) == {"orchestra_s", "official_s"}
    assert summary["seq_1000"] == {"orchestra_s": 2.0, "official_s": 9.0}
    assert summary["map_10000"]["official_s"] is None
    assert summary["replay_10000"] == {"orchestra_per_op_us": 7.0, "official_per_op_us": None}
    assert set(summary["calls"]) == {"seq_1000", "map_1000"}
    assert summary["calls"]["seq_1000"] == {
        "orchestra_calls": 3,
        "orchestra_updates": 6,
        "official_calls": 3,
        "official_updates": 6,
    }
    assert set(summary["cold_start"]) == {"orchestra_s", "official_s"}
    assert summary["rss_mb"]["seq_10000"] == {"orchestra": 30.0, "official": None}
    assert summary["rss_mb"]["map_10000"] == {"orchestra": 30.0, "official": None}
    json.dumps(summary)  # plain JSON
    text = run.table(results)
    seq_row = next(line for line in text.splitlines() if "1,000 sequential steps" in line)
    assert "9.000 s (9.000 s)" in seq_row and "2.000 s (1.000 s)" in seq_row


def test_only_measures_the_named_cells_alternating_the_sdks(monkeypatch) -> None:
    run = load_run()
    made: list[tuple[str, str]] = []

    def fake(sdk: str, workload: str, n: int, budget: float, source: str | None = None):
        made.append((sdk, workload))
        return {"seconds": 1.0, "rss_mb": 1.0}

    monkeypatch.setattr(run, "measure", fake)
    results = run.run_all(2, False, 10.0, log=lambda _: None, only=frozenset({"cold_start"}))
    assert made == [
        ("orchestra", "cold"),
        ("official", "cold"),
        ("official", "cold"),
        ("orchestra", "cold"),
    ]
    assert len(results["cold_start"]["orchestra"]) == 2
    assert results["seq_1000"] == {"orchestra": [], "official": []}


def serve_worker(side: str) -> dict:
    credentials = {  # the official runner signs its Invoke calls: dummy values do
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-west-2",
    }
    env = {**os.environ, **credentials, "PYTHONPATH": str(BENCH.parent)}
    done = subprocess.run(
        [sys.executable, str(BENCH / "serve.py"), "--worker", side, "--n", str(N)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_serve_bench_runs_orchestra_over_http_with_one_call_per_step() -> None:
    record = serve_worker("orchestra")
    assert record["status"] == "SUCCEEDED"
    assert record["checkpoint_calls"] == N
    assert record["seconds"] > 0 and record["server_ms"] > 0


def test_the_serve_bench_floor_runs() -> None:
    record = serve_worker("floor")
    assert record["status"] == "SUCCEEDED" and record["seconds"] > 0


def test_the_serve_bench_runs_the_official_web_runner() -> None:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    record = serve_worker("official")
    assert record["status"] == "SUCCEEDED"
    assert record["seconds"] > 0 and record["server_ms"] > 0
