"""Orchestra's local emulator against the official SDK's test runner, same workloads, one run.

Usage::

    python bench/run.py [--json FILE] [--repeat K] [--quick] [--budget SECONDS]

Every measurement is a fresh ``python bench/worker.py <sdk> <workload> <n>`` process; the
two SDKs alternate (orchestra first in the 1st, 3rd, ... repeat, the official SDK first in
the others).
An official run that exceeds the budget (default 300 s) is killed and reported as over
budget, and is not tried again in later repeats. ``--quick`` makes one repeat and skips the
official SDK's 10,000-item runs. See docs/performance.md for what each workload measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
SDKS = ("orchestra", "official")
# (key, workload, n)
WORKLOADS = (
    ("seq_1000", "seq", 1_000),
    ("seq_10000", "seq", 10_000),
    ("map_1000", "map", 1_000),
    ("map_10000", "map", 10_000),
    ("replay_10000", "replay", 10_000),
    ("cold_start", "cold", 1),
)
PACKAGES = (
    "orchestra",
    "aws-durable-execution-sdk-python",
    "aws-durable-execution-sdk-python-testing",
    "boto3",
    "botocore",
    "cattrs",
)
OVER_BUDGET = "over budget"
# The cold start builds a real boto3 client; keep it away from real credentials, config
# files and the instance metadata service, identically for both SDKs.
COLD_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def machine() -> dict[str, object]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def _git(*args: str) -> str:
    repo = Path(__file__).resolve().parents[1]
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def revision(source: str | None = None) -> str:
    """The commit checked out, and whether the orchestra measured has uncommitted changes."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        if source:
            return f"{head} checked out; orchestra from {Path(source).resolve()}"
        dirty = _git("status", "--porcelain", "--", "orchestra")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} (orchestra/ has uncommitted changes)" if dirty else head


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def precompile(source: str | None) -> None:
    """Compile the measured orchestra's bytecode first, as an installed package has it.

    Otherwise the first worker (or every one, for a fresh export) would pay for compiling
    orchestra's sources, which the official SDK's installed package does not.
    """
    code = "import compileall, os, sys, orchestra; "
    code += "sys.exit(not compileall.compile_dir(os.path.dirname(orchestra.__file__), quiet=1))"
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def measure(
    sdk: str, workload: str, n: int, budget: float, source: str | None = None
) -> dict[str, object]:
    """One fresh worker process; its JSON line, or an ``error`` record."""
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
    args = [sys.executable, str(WORKER), sdk, workload, str(n)]
    if workload == "cold":
        env.update(COLD_ENV)
        args.append(repr(time.time()))  # the worker measures from this moment
    else:
        args.append(str(budget))
    try:
        done = subprocess.run(
            args, check=False, capture_output=True, text=True, timeout=budget, env=env
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed the worker
        return {"sdk": sdk, "workload": workload, "n": n, "error": OVER_BUDGET}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"sdk": sdk, "workload": workload, "n": n, "error": " | ".join(tail)}
    record: dict[str, object] = json.loads(lines[-1])
    if workload != "cold" and record.get("status") != "SUCCEEDED":
        record["error"] = f"status {record.get('status')}: {record.get('error_detail')}"
    return record


def _values(records: list[dict[str, object]], field: str) -> list[float]:
    return [float(r[field]) for r in records if "error" not in r and r.get(field) is not None]


def median(records: list[dict[str, object]], field: str) -> float | None:
    values = _values(records, field)
    return statistics.median(values) if values else None


def minimum(records: list[dict[str, object]], field: str) -> float | None:
    values = _values(records, field)
    return min(values) if values else None


def run_all(
    repeat: int,
    quick: bool,
    budget: float,
    source: str | None = None,
    log=print,
    only: frozenset[str] | None = None,
) -> dict[str, dict[str, list]]:
    results: dict[str, dict[str, list]] = {key: {sdk: [] for sdk in SDKS} for key, *_ in WORKLOADS}
    given_up: set[tuple[str, str]] = set()
    for rep in range(repeat):
        for key, workload, n in WORKLOADS:
            if only is not None and key not in only:
                continue
            order = SDKS if rep % 2 == 0 else SDKS[::-1]
            for sdk in order:
                if sdk == "official" and quick and n >= 10_000:
                    continue
                if (key, sdk) in given_up:
                    results[key][sdk].append({"error": OVER_BUDGET})
                    continue
                record = measure(sdk, workload, n, budget, source)
                results[key][sdk].append(record)
                log(f"  [{rep + 1}/{repeat}] {key:<13} {sdk:<9} {_brief(record)}")
                if record.get("error") == OVER_BUDGET:
                    given_up.add((key, sdk))
    return results


def _brief(record: dict[str, object]) -> str:
    if "error" in record:
        return f"ERROR {record['error']}"
    parts = [f"{record['seconds']:.3f} s"]
    if "per_op_us" in record:
        parts.append(f"replay {record['per_op_us']:.1f} us/op")
    if "calls" in record:
        parts.append(f"{record['calls']} calls/{record['updates']} updates")
    parts.append(f"{record['rss_mb']} MB")
    return ", ".join(parts)


def summarise(results: dict[str, dict[str, list]]) -> dict[str, object]:
    """The ``--json`` document: medians, ``None`` where the official run is missing."""

    def both(key: str, field: str) -> tuple[float | None, float | None]:
        return median(results[key]["orchestra"], field), median(results[key]["official"], field)

    out: dict[str, object] = {}
    for key in ("seq_1000", "seq_10000", "map_1000", "map_10000"):
        orch, off = both(key, "seconds")
        out[key] = {"orchestra_s": orch, "official_s": off}
    orch, off = both("replay_10000", "per_op_us")
    out["replay_10000"] = {"orchestra_per_op_us": orch, "official_per_op_us": off}
    calls: dict[str, object] = {}
    for key in ("seq_1000", "map_1000"):
        oc, fc = both(key, "calls")
        ou, fu = both(key, "updates")
        calls[key] = {
            "orchestra_calls": _int(oc),
            "orchestra_updates": _int(ou),
            "official_calls": _int(fc),
            "official_updates": _int(fu),
        }
    out["calls"] = calls
    orch, off = both("cold_start", "seconds")
    out["cold_start"] = {"orchestra_s": orch, "official_s": off}
    rss: dict[str, object] = {}
    for key in ("seq_10000", "map_10000"):
        orch, off = both(key, "rss_mb")
        rss[key] = {"orchestra": orch, "official": off}
    out["rss_mb"] = rss
    return out


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


# --- the table -------------------------------------------------------------------------------

ROWS = (
    # (label, results key, field, unit, scale)
    ("1,000 sequential steps", "seq_1000", "seconds", "s", 1.0),
    ("10,000 sequential steps", "seq_10000", "seconds", "s", 1.0),
    ("Map, 1,000 one-step items", "map_1000", "seconds", "s", 1.0),
    ("Map, 10,000 one-step items", "map_10000", "seconds", "s", 1.0),
    ("replay to the frontier, 10,000 steps", "replay_10000", "per_op_us", "us/op", 1.0),
    ("  (the whole replay invocation)", "replay_10000", "invocation_s", "s", 1.0),
    ("cold start to the first checkpoint", "cold_start", "seconds", "s", 1.0),
    ("  (of which inside the process)", "cold_start", "in_process_s", "s", 1.0),
    ("  (importing the SDK after boto3)", "cold_start", "sdk_import_s", "s", 1.0),
    ("  (handler call to the first send)", "cold_start", "invoke_s", "s", 1.0),
    ("peak RSS, 10,000 sequential steps", "seq_10000", "rss_mb", "MB", 1.0),
    ("peak RSS, Map over 10,000 items", "map_10000", "rss_mb", "MB", 1.0),
)
CALL_ROWS = ("seq_1000", "seq_10000", "map_1000", "map_10000")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "us/op":
        return f"{value:.1f} µs"
    return f"{value:.1f} MB"


def _ratio(top: float | None, bottom: float | None) -> str:
    if not top or not bottom:
        return "-"
    ratio = top / bottom
    return f"{ratio:.3f}" if ratio < 1 else (f"{ratio:.2f}" if ratio < 10 else f"{ratio:.1f}")


def _missing(records: list[dict[str, object]]) -> str:
    if not records:
        return "skipped"
    errors = {str(r["error"]) for r in records if "error" in r}
    return OVER_BUDGET if OVER_BUDGET in errors else ("failed" if errors else "-")


def table(results: dict[str, dict[str, list]]) -> str:
    head = (
        "workload",
        "orchestra median (min)",
        "official median (min)",
        "orchestra/official",
        "official/orchestra",
    )
    rows = [head]
    for label, key, field, unit, _ in ROWS:
        cells = [label]
        meds = []
        for sdk in SDKS:
            records = results[key][sdk]
            med, low = median(records, field), minimum(records, field)
            meds.append(med)
            if med is None:
                cells.append(_missing(records))
            else:
                cells.append(f"{_fmt(med, unit)} ({_fmt(low, unit)})")
        orch, off = meds
        cells.append(_ratio(orch, off))
        cells.append(_ratio(off, orch))
        rows.append(tuple(cells))
    lines = _markdown(rows)
    lines.append("")
    calls_head = ("checkpoint traffic", "orchestra calls / updates", "official calls / updates")
    call_rows = [calls_head]
    for key in CALL_ROWS:
        cells = [key.replace("_", " ")]
        for sdk in SDKS:
            c, u = median(results[key][sdk], "calls"), median(results[key][sdk], "updates")
            cells.append(_missing(results[key][sdk]) if c is None else f"{c:.0f} / {u:.0f}")
        call_rows.append(tuple(cells))
    lines.extend(_markdown(call_rows))
    return "\n".join(lines)


def _markdown(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write the medians as JSON to FILE")
    parser.add_argument("--repeat", type=int, default=None, help="measurements per cell (3)")
    parser.add_argument(
        "--quick", action="store_true", help="1 repeat; skip the official SDK's 10,000 runs"
    )
    parser.add_argument(
        "--budget", type=float, default=300.0, help="seconds before a worker is killed (300)"
    )
    parser.add_argument("--raw", metavar="FILE", help="also write every worker's record")
    parser.add_argument(
        "--orchestra-src",
        metavar="DIR",
        help="measure the orchestra package found in DIR (put first on the workers' "
        "PYTHONPATH), e.g. a `git archive HEAD orchestra` export",
    )
    keys = [key for key, *_ in WORKLOADS]
    parser.add_argument(
        "--only",
        metavar="CELL",
        action="append",
        choices=keys,
        help=f"measure only this workload (repeatable): {', '.join(keys)}",
    )
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    only = frozenset(args.only) if args.only else None

    env = {"machine": machine(), "versions": versions(), "revision": revision(args.orchestra_src)}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"orchestra bench, {started}")
    m = env["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, {m['implementation']} {m['python']}")
    print(f"         {m['platform']}, load average {m['load_average']}")
    print(f"revision: {env['revision']}")
    print("versions: " + ", ".join(f"{k} {v or 'absent'}" for k, v in env["versions"].items()))
    print(
        f"repeats: {repeat}, budget {args.budget:.0f} s per worker{', quick' if args.quick else ''}"
    )
    clock = time.perf_counter()
    precompile(args.orchestra_src)
    results = run_all(repeat, args.quick, args.budget, args.orchestra_src, only=only)
    print(
        f"\nmedians of {repeat} fresh processes each, minimum in brackets "
        f"({time.perf_counter() - clock:.0f} s in all):\n"
    )
    print(table(results))
    summary = summarise(results)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.raw:
        raw = {"started": started, **env, "repeat": repeat, "results": results}
        Path(args.raw).write_text(json.dumps(raw, indent=1) + "\n")
        print(f"wrote {args.raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
