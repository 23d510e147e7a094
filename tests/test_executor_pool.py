"""The step executor's thread pool: bounded, reusing idle threads, surviving a bad job."""

from __future__ import annotations

import threading
import time

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


def _refuse_threads_after(monkeypatch: pytest.MonkeyPatch, pool: str, allowed: int) -> None:
    """The system starts ``allowed`` more threads of the pool named ``pool``, then refuses."""
    left = [allowed]
    start = threading.Thread.start

    def refusing(thread: threading.Thread) -> None:
        if thread.name.startswith(f"{pool}_"):
            if left[0] <= 0:
                raise RuntimeError("can't start new thread")
            left[0] -= 1
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refusing)


def test_when_the_system_refuses_more_threads_the_started_ones_run_every_job(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    _refuse_threads_after(monkeypatch, "t", 4)  # two eager threads, the watcher, one more
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


def _live(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}_")]


def test_after_a_burst_of_short_jobs_jobs_that_hold_their_threads_still_get_threads():
    # A burst leaves the pool with threads that took jobs no one had counted on them for;
    # a later job must still be counted as waiting (and get a thread), not handed to a
    # thread that is only believed to be idle.
    pool = _Workers(16, "burst")
    done = threading.Semaphore(0)
    for _ in range(2000):
        pool.submit(done.release, ())
    for _ in range(2000):
        assert done.acquire(timeout=WAIT)
    time.sleep(0.05)
    together = threading.Barrier(6, timeout=WAIT)
    passed = threading.Semaphore(0)

    def held() -> None:
        together.wait()  # (BrokenBarrierError when fewer than six run at once)
        passed.release()

    for _ in range(6):
        pool.submit(held, ())
    for _ in range(6):
        assert passed.acquire(timeout=WAIT + 1)


def test_idle_threads_end_and_the_pool_starts_new_ones_when_jobs_come(
    monkeypatch: pytest.MonkeyPatch,
):
    from orchestra.runtime import executor

    monkeypatch.setattr(executor, "IDLE_EXIT_SECONDS", 0.05)
    monkeypatch.setattr(executor, "_WATCH_POLL_SECONDS", 0.02)
    pool = _Workers(8, "ending")
    gate = threading.Event()
    done = threading.Semaphore(0)

    def job() -> None:
        gate.wait(0.05)  # held: the watcher starts, and adds threads
        done.release()

    for _ in range(6):
        pool.submit(job, ())
    for _ in range(6):
        assert done.acquire(timeout=WAIT)
    assert pool.threads > EAGER_THREADS
    assert _live("ending")
    deadline = time.monotonic() + WAIT
    while (pool.threads or _live("ending")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.threads == 0
    assert _live("ending") == []  # the workers and the watcher ended
    finished = threading.Event()
    pool.submit(finished.set, ())
    assert finished.wait(WAIT)
    assert pool.threads == 1


def test_no_job_is_lost_to_a_thread_that_ends_as_it_is_submitted(
    monkeypatch: pytest.MonkeyPatch,
):
    # threads end after an idle millisecond: submissions race their endings all along
    import random

    from orchestra.runtime import executor

    monkeypatch.setattr(executor, "IDLE_EXIT_SECONDS", 0.001)
    pool = _Workers(4, "racing")
    rng = random.Random(7)
    pauses = [rng.choice((0.0, 0.0005, 0.001, 0.0015)) for _ in range(600)]
    done = threading.Semaphore(0)

    def submitter(own: list[float]) -> None:
        for pause in own:
            pool.submit(done.release, ())
            time.sleep(pause)

    threads = [threading.Thread(target=submitter, args=(pauses[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 4)
    for _ in range(600):
        assert done.acquire(timeout=WAIT)
    assert pool.threads <= 4


@pytest.mark.parametrize("allowed", [1, 2])
def test_when_the_system_refuses_the_second_thread_or_the_watcher_the_first_runs_every_job(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, allowed: int
):
    _refuse_threads_after(monkeypatch, "few", allowed)
    pool = _Workers(16, "few")
    done = threading.Semaphore(0)

    def job() -> None:
        time.sleep(0.003)  # (held: a watcher is wanted)
        done.release()

    for _ in range(10):
        pool.submit(job, ())  # never raises: a started thread runs the job
    for _ in range(10):
        assert done.acquire(timeout=WAIT)
    assert pool.threads == allowed
    assert any("could not start another thread" in r.getMessage() for r in caplog.records)


def test_when_the_system_refuses_the_first_thread_submit_raises(
    monkeypatch: pytest.MonkeyPatch,
):
    def refusing(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refusing)
    pool = _Workers(4, "none")
    with pytest.raises(RuntimeError, match="can't start new thread"):
        pool.submit(print, ())
    assert pool.threads == 0
