"""The step executor's thread pool: bounded, reusing idle threads, surviving a bad job."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from orchestra.runtime.executor import EAGER_THREADS, STALL_SECONDS, _Workers, threads_to_add

WAIT = 5


def test_no_more_threads_than_the_limit_however_many_jobs_wait():
    pool = _Workers(3, "t")
    gate = threading.Event()
    running = threading.Semaphore(0)
    done = threading.Semaphore(0)
    names: set[str] = set()

    def job() -> None:
        names.add(threading.current_thread().name)
        running.release()
        gate.wait(WAIT)
        done.release()

    for _ in range(20):
        pool.submit(job, ())
    for _ in range(3):  # the jobs hold their threads: the pool grows to its limit
        assert running.acquire(timeout=WAIT)
    time.sleep(0.05)  # (time for a fourth, were the limit not kept)
    assert pool.threads == 3
    gate.set()
    for _ in range(20):
        assert done.acquire(timeout=WAIT)
    assert pool.threads == 3
    assert len(names) == 3


def test_an_idle_thread_takes_the_next_job_instead_of_a_new_thread():
    pool = _Workers(8, "t")
    for _ in range(10):
        finished = threading.Event()
        pool.submit(finished.set, ())
        assert finished.wait(WAIT)
        time.sleep(0.01)  # the thread is back to waiting (idle) before the next job
    assert pool.threads == 1


def test_a_job_that_raises_is_logged_and_the_thread_goes_on(caplog):
    pool = _Workers(1, "t")

    def bad() -> None:
        raise RuntimeError("bug in a job")

    pool.submit(bad, ())
    finished = threading.Event()
    pool.submit(finished.set, ())
    assert finished.wait(WAIT)
    assert pool.threads == 1
    assert any("bug in a job" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_pool_threads_are_daemons_and_named():
    pool = _Workers(1, "orchestra-step")
    seen: list[threading.Thread] = []
    finished = threading.Event()

    def job() -> None:
        seen.append(threading.current_thread())
        finished.set()

    pool.submit(job, ())
    assert finished.wait(WAIT)
    assert seen[0].daemon
    assert seen[0].name.startswith("orchestra-step_")


def test_jobs_that_hold_their_threads_get_more_threads_within_milliseconds():
    # steps waiting on I/O: 16 jobs that each hold their thread until released. Beyond the
    # first EAGER_THREADS, the watcher adds threads once those are held; all 16 run at once.
    pool = _Workers(16, "t")
    gate = threading.Event()
    running = threading.Semaphore(0)
    done = threading.Semaphore(0)

    def job() -> None:
        running.release()
        gate.wait(WAIT)
        done.release()

    began = time.monotonic()
    for _ in range(16):
        pool.submit(job, ())
    for _ in range(16):
        assert running.acquire(timeout=WAIT)  # all running together, before the release
    took = time.monotonic() - began
    gate.set()
    for _ in range(16):
        assert done.acquire(timeout=WAIT)
    assert pool.threads == 16
    assert took < 1.0, took  # (a few milliseconds; generous for a loaded machine)


def test_a_burst_of_short_jobs_is_run_by_the_eager_threads():
    # jobs that end at once never hold a thread for STALL_SECONDS: no thread is added for
    # them (decided by threads_to_add, checked here without a clock's whims)
    now = 100.0
    busy_briefly = [now - STALL_SECONDS / 10] * EAGER_THREADS
    assert threads_to_add(500, busy_briefly, now, room=28) == 0
    idle = [0.0] * EAGER_THREADS
    assert threads_to_add(500, idle, now, room=28) == 0
    held = [now - 2 * STALL_SECONDS] * EAGER_THREADS
    assert threads_to_add(500, held, now, room=28) == 28
    assert threads_to_add(3, held, now, room=28) == 3
    assert threads_to_add(0, held, now, room=28) == 0
    assert threads_to_add(5, held, now, room=0) == 0


def test_when_the_system_refuses_more_threads_the_started_ones_run_every_job(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    import _thread as real

    from orchestra.runtime import executor

    allowed = [4]  # two eager threads, the watcher, one more

    class Refusing:
        @staticmethod
        def start_new_thread(fn: Any, args: tuple[Any, ...]) -> int:
            if allowed[0] <= 0:
                raise RuntimeError("can't start new thread")
            allowed[0] -= 1
            return real.start_new_thread(fn, args)

    monkeypatch.setattr(executor, "_thread", Refusing)
    pool = _Workers(16, "t")
    gate = threading.Event()
    done = threading.Semaphore(0)

    def job() -> None:
        gate.wait(0.2)  # held long enough for the watcher to want more threads
        done.release()

    for _ in range(12):
        pool.submit(job, ())
    time.sleep(0.1)
    gate.set()
    for _ in range(12):
        assert done.acquire(timeout=WAIT)
    assert pool.threads == 3
    assert any("could not start another thread" in r.getMessage() for r in caplog.records)
