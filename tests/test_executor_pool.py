"""The step executor's thread pool: bounded, reusing idle threads, surviving a bad job."""

from __future__ import annotations

import threading
import time

from orchestra.runtime.executor import _Workers

WAIT = 5


def test_no_more_threads_than_the_limit_however_many_jobs_wait():
    pool = _Workers(3, "t")
    gate = threading.Event()
    done = threading.Semaphore(0)
    names: set[str] = set()

    def job() -> None:
        names.add(threading.current_thread().name)
        gate.wait(WAIT)
        done.release()

    for _ in range(20):
        pool.submit(job, ())
    gate.set()
    for _ in range(20):
        assert done.acquire(timeout=WAIT)
    assert pool.threads == 3
    assert len(names) <= 3  # (a job may find every started thread still starting)


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
