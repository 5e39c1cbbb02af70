"""The daemon's working thread: waits for the schedule, runs one cycle (then a verify) at a time.

Only :meth:`Runner.run` runs cycles, so they never overlap. It waits on an injected
:class:`Clock`, so tests drive it on fake time; :meth:`Runner.replan` (a reload) and
:meth:`Runner.wake` (a stop) end the wait at once. The cycle and the verify are injected
callables: this module never touches the API, the ledger or the disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from syncer.cadence import DaemonSettings, Plan
from syncer.errors import AuthError
from syncer.outcomes import Outcomes, classify
from syncer.report import CycleReport
from syncer.schedule import AUTH_BACKOFF, Jitter, Schedule, Work, uniform_jitter

S = TypeVar("S", bound=DaemonSettings)
# (settings, event ids or None for "as configured", stop, check the files on disk too)
CycleFn = Callable[[S, Sequence[int] | None, threading.Event, bool], CycleReport]
VerifyFn = Callable[[S, threading.Event], None]


class Clock(Protocol):
    """The time the schedule runs on, and the one way the runner waits."""

    def now(self) -> float: ...

    def wait(self, wake: threading.Event, seconds: float) -> None:
        """Return after ``seconds``, or earlier once ``wake`` is set."""


class MonotonicClock:
    """Real time: a wall-clock change (NTP, DST) does not move the schedule."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, seconds: float) -> None:
        wake.wait(seconds)


@dataclass(frozen=True)
class _Turn(Generic[S]):
    """One wake's work with the settings it runs under."""

    settings: S
    plan: Plan
    work: Work


class Runner(Generic[S]):
    """Runs the cycles and verifies of one daemon as its :class:`Schedule` says."""

    def __init__(
        self,
        settings: S,
        plan: Plan,
        cycle: CycleFn[S],
        outcomes: Outcomes,
        *,
        stop: threading.Event,
        verify: VerifyFn[S] | None = None,
        clock: Clock | None = None,
        backoff: tuple[float, float] = AUTH_BACKOFF,
        jitter: Jitter = uniform_jitter,
    ) -> None:
        self._cycle, self._verify, self._outcomes, self._stop = cycle, verify, outcomes, stop
        self._clock = clock if clock is not None else MonotonicClock()
        self._settings = settings
        self._schedule = Schedule(plan, self._clock.now(), backoff=backoff, jitter=jitter)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.cycles = 0

    @property
    def paused_until(self) -> float | None:
        with self._lock:
            return self._schedule.paused_until

    def replan(self, settings: S, plan: Plan) -> None:
        """Use new settings from now on: the next wake comes at once (thread-safe)."""
        with self._lock:
            self._settings = settings
            self._schedule.replan(plan, self._clock.now())
        self._wake.set()

    def wake(self) -> None:
        """End the current wait (after setting the stop event, to stop)."""
        self._wake.set()

    def run(self) -> None:
        """Wait for and run the schedule's work until the stop event is set."""
        while not self._stop.is_set():
            turn = self._next_turn()
            if turn is not None and not self._stop.is_set():
                self._take(turn)
                with self._lock:
                    self._schedule.turn_ended(turn.work, self._clock.now())

    def _next_turn(self) -> _Turn[S] | None:
        with self._lock:
            now, wake_at = self._clock.now(), self._schedule.next_wake
            if now >= wake_at:
                return _Turn(self._settings, self._schedule.plan, self._schedule.wake(now))
        self._clock.wait(self._wake, wake_at - now)
        self._wake.clear()  # the loop reads the schedule again: no replan is lost
        return None

    def _take(self, turn: _Turn[S]) -> None:
        due = turn.work.due
        completed = due is None or self._sync(turn, due.event_ids)
        wanted = turn.work.verify and completed and not self._stop.is_set()
        if wanted and self._verify is not None:
            self._run_verify(turn)

    def _sync(self, turn: _Turn[S], event_ids: Sequence[int] | None) -> bool:
        """Run one cycle and record its outcome; whether it completed."""
        self.cycles += 1
        number, started = self.cycles, self._clock.now()
        ids = None if event_ids is None else list(event_ids)
        self._outcomes.starting(number, ids)
        try:
            report = self._cycle(turn.settings, ids, self._stop, turn.work.files)
        except Exception as exc:  # the daemon must outlive any one bad cycle
            self._failed(turn, number, exc, started, ids)
            return False
        ended = self._clock.now()
        with self._lock:
            self._schedule.synced(ids, started, ended, report)
            if turn.work.files and not report.interrupted:
                self._schedule.files_checked(ids, started)
        self._outcomes.succeeded(number, report, ended - started, ids)
        return True

    def _failed(
        self, turn: _Turn[S], number: int, exc: Exception, started: float, ids: list[int] | None
    ) -> None:
        failure, now = classify(exc), self._clock.now()
        if isinstance(exc, AuthError):
            with self._lock:
                pause = self._schedule.refused(turn.work.generation, now)
            self._outcomes.refused(number, exc, now - started, pause)
            return
        if failure.waits_for_next_turn:
            with self._lock:
                self._schedule.failed(ids, started)
        self._outcomes.failed(number, exc, failure, now - started, next_try=turn.plan.tick)

    def _run_verify(self, turn: _Turn[S]) -> None:
        assert self._verify is not None
        with self._lock:
            self._schedule.verified(self._clock.now())
        try:
            self._verify(turn.settings, self._stop)
        except Exception as exc:  # a bad verify must not take the daemon down either
            self._outcomes.verify_failed(exc)
