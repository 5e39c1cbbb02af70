"""syncer.scheduler: first run at once, interval runs, never overlapping, clean shutdown."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from syncer.scheduler import Scheduler


class Job:
    """Counts runs and concurrency; each run lasts ``duration`` seconds (an Event wait)."""

    def __init__(self, duration: float = 0.0, fail: bool = False) -> None:
        self.duration = duration
        self.fail = fail
        self.starts: list[float] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()
        self._never = threading.Event()

    def __call__(self) -> None:
        with self._lock:
            self.starts.append(time.monotonic())
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.duration:
                self._never.wait(self.duration)
            if self.fail:
                raise RuntimeError("boom")
        finally:
            with self._lock:
                self.running -= 1

    def wait_runs(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.starts) < count:
            assert time.monotonic() < deadline, f"{len(self.starts)} runs, wanted {count}"
            self._never.wait(0.005)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    sched = Scheduler()
    yield sched
    sched.shutdown(wait=True)


def test_first_run_is_immediate(scheduler: Scheduler) -> None:
    job = Job()
    scheduler.add("job", job, every=30.0)
    started = time.monotonic()
    scheduler.start()
    job.wait_runs(1, timeout=2)
    assert job.starts[0] - started < 1.0
    next_run = scheduler.next_run("job")
    assert next_run is not None
    assert 25 < next_run.timestamp() - time.time() <= 30


def test_runs_repeat_on_the_interval(scheduler: Scheduler) -> None:
    job = Job()
    started = time.monotonic()
    scheduler.add("job", job, every=0.05)
    scheduler.start()
    job.wait_runs(4)
    # the schedule is fixed from the start: run k never begins before start + k intervals
    # (a run delayed by a busy machine may make the next gap shorter, never the schedule early)
    offsets = [when - started for when in job.starts[:4]]
    assert all(offset >= 0.05 * k - 0.002 for k, offset in enumerate(offsets)), offsets


def test_a_slow_job_never_overlaps_itself(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = Job(duration=0.15)
    scheduler.add("job", job, every=0.01)
    scheduler.start()
    job.wait_runs(3)
    assert job.max_running == 1
    gaps = [b - a for a, b in itertools.pairwise(job.starts)]
    assert all(gap >= 0.14 for gap in gaps), gaps
    skipped = [r for r in caplog.records if "still in progress" in r.getMessage()]
    assert skipped, "skipped ticks are reported at debug level"
    assert all(r.levelno == logging.DEBUG for r in skipped)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failing_job_keeps_its_schedule(scheduler: Scheduler) -> None:
    job = Job(fail=True)
    scheduler.add("job", job, every=0.02)
    scheduler.start()
    job.wait_runs(3)


def test_jitter_delays_runs_by_at_most_the_jitter(scheduler: Scheduler) -> None:
    job = Job()
    scheduler.add("job", job, every=0.02, jitter=0.03)
    scheduler.start()
    job.wait_runs(5)
    gaps = [b - a for a, b in itertools.pairwise(job.starts)]
    assert all(gap >= 0.015 for gap in gaps), gaps


def test_reschedule_sets_the_next_run(scheduler: Scheduler) -> None:
    job = Job()
    scheduler.add("job", job, every=60.0)
    scheduler.start()
    job.wait_runs(1)
    scheduler.reschedule("job", every=60.0, first_in=0)
    job.wait_runs(2, timeout=2)
    scheduler.reschedule("job", every=0.02)
    next_run = scheduler.next_run("job")
    assert next_run is not None
    assert next_run.timestamp() - time.time() <= 0.02
    job.wait_runs(5, timeout=2)


def test_shutdown_waits_for_the_running_job() -> None:
    sched = Scheduler()
    job = Job(duration=0.2)
    sched.add("job", job, every=10.0)
    sched.start()
    job.wait_runs(1)
    sched.shutdown(wait=True)
    assert job.running == 0
    assert not sched.running
    sched.shutdown(wait=True)  # twice is harmless


@pytest.mark.parametrize(("every", "jitter"), [(0.0, 0.0), (-1.0, 0.0), (1.0, -0.5)])
def test_bad_intervals_are_refused(scheduler: Scheduler, every: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="must"):
        scheduler.add("job", Job(), every=every, jitter=jitter)
