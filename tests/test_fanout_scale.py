"""Map at scale: 10,000 items on the emulator with a bounded number of threads, memory that
grows linearly with the item count, and completion bookkeeping that is linear too.

Branches are fibers on the interpreter's thread; only their steps use the step pool. So
the thread count is the pool's size (plus the checkpoint writer), however many items run.

Figures on the development container (2 cores, Python 3.11), for reference:

* 10,000 one-step items, ``max_concurrency=1000``: about 2 s; peak ``threading.active_count()``
  35 (main + 32 step workers + the checkpoint writer + the sampler).
* tracemalloc peak: about 10 MB for 2,000 items, 43 MB for 10,000 (4.3x for 5x the items);
  2.9 MB for 500 and 11.6 MB for 2,500 (4.0x), which the test measures.
* Before the completion check was made incremental, 10,000 items took 11 s: the coordinator
  rebuilt and counted the list of ended items after every branch (quadratic).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Generator, Sequence
from typing import Any

import pytest

from orchestra import Completion, Map
from orchestra.results import BatchItem
from orchestra.runtime.executor import StepExecutor
from orchestra.runtime.handler import lambda_handler
from orchestra.testing import LocalRunner

#: The default step pool (``lambda_handler(max_workers=32)``).
POOL = 32
#: Besides the pool: the main thread, the checkpoint writer, the sampler, and slack.
OTHERS = 4


def one(x: int, index: int) -> int:
    return x


def mapping(n: int) -> Generator[Any, Any, Any]:
    result = yield Map(list(range(n)), one, max_concurrency=1000, name="big")
    return [result.success_count, result.completion_reason.value, sum(result.values())]


class _Sampler:
    """Samples ``threading.active_count()`` every few milliseconds while running."""

    def __init__(self) -> None:
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, threading.active_count())
            self.samples += 1
            time.sleep(0.002)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_map_over_10000_items_runs_on_a_bounded_number_of_threads():
    baseline = threading.active_count()
    started = time.perf_counter()
    with _Sampler() as sampler:
        run = LocalRunner(mapping).run(10_000)
    elapsed = time.perf_counter() - started
    assert run.status == "SUCCEEDED", run.error
    assert run.result == [10_000, "ALL_COMPLETED", sum(range(10_000))]
    assert sampler.samples > 10  # it really sampled during the run
    assert sampler.peak <= baseline + POOL + OTHERS, (sampler.peak, baseline)
    assert len(run.operations_named("one")) == 10_000
    assert elapsed < 30, f"10,000 items took {elapsed:.1f} s"  # about 2 s; 11 s when quadratic


def test_the_thread_count_follows_the_pool_size_not_the_item_count():
    small_pool = 4

    def handler_pool(n: int) -> tuple[int, int]:
        baseline = threading.active_count()
        runner = LocalRunner(mapping)
        runner.handler = lambda_handler(
            mapping,
            service=runner.service,
            executor=StepExecutor(small_pool),
            clock=runner.service.clock.now,
        )
        with _Sampler() as sampler:
            run = runner.run(n)
        assert run.status == "SUCCEEDED", run.error
        return sampler.peak, baseline

    peak, baseline = handler_pool(3_000)
    assert peak <= baseline + small_pool + OTHERS, (peak, baseline)


def _traced_peak(n: int) -> int:
    tracemalloc.start()
    try:
        run = LocalRunner(mapping).run(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.status == "SUCCEEDED", run.error
    return peak


def test_memory_grows_linearly_with_the_item_count():
    """tracemalloc peak for 500 and 2,500 items: about 4x (generous bound: under 8x).

    (2,000 vs 10,000 items gives 10 MB and 43 MB, 4.3x, but takes 17 s under tracemalloc.)
    """
    small = _traced_peak(500)
    large = _traced_peak(2_500)
    ratio = large / small
    assert 2 < ratio < 8, f"{small / 1e6:.1f} MB for 500 items, {large / 1e6:.1f} MB for 2,500"


@pytest.mark.parametrize(
    "completion",
    [
        None,
        Completion.all_completed(),
        Completion(min_successful=1999),
        Completion.all_successful(),
    ],
    ids=["default", "all_completed", "min_successful", "all_successful"],
)
def test_the_completion_policy_sees_a_linear_amount_of_work(
    monkeypatch: pytest.MonkeyPatch, completion: Completion | None
):
    """The coordinator does not hand the policy every ended item after every branch.

    Before the fix ``Completion.decide`` saw n*(n+1)/2 items over a Map of n items (2
    million for 2,000), which made 10,000 items take 11 s instead of 2.
    """
    seen = [0]
    decide = Completion.decide

    def counting(self: Completion, total: int, items: Sequence[BatchItem[Any]]) -> Any:
        seen[0] += len(items)
        return decide(self, total, items)

    monkeypatch.setattr(Completion, "decide", counting)
    n = 2_000

    def workflow() -> Generator[Any, Any, Any]:
        result = yield Map(list(range(n)), one, max_concurrency=100, completion=completion)
        return result.success_count

    run = LocalRunner(workflow).run()
    assert run.status == "SUCCEEDED", run.error
    assert run.result >= 1999
    assert seen[0] <= 4 * n, seen[0]
