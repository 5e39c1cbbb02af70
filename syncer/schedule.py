"""The daemon's one timetable: when to wake, what a wake does, the verify timer, the auth pause.

Pure logic on explicit times (seconds on a monotonic clock); :mod:`syncer.runner` asks it what
to do and tells it how things went. Wakes come on a fixed grid every :attr:`Plan.tick` seconds
from the start (or the last reload, or the end of a pause), each delayed by up to
``schedule.jitter``; grid points missed while a cycle ran merge into the next one, so cycles
never queue up. At each wake :class:`~syncer.cadence.Cadence` picks the due events, and the
verify timer says whether ``schedule.verify_interval`` has passed since the last verify.

After the API key is refused the schedule pauses: no wake until the pause ends, first
``backoff[0]`` seconds, doubling up to ``backoff[1]``. A completed cycle or a reload ends the
backoff; a reload also ends the pause at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncer.cadence import Cadence, Due, Plan
from syncer.report import CycleReport

AUTH_BACKOFF = (300.0, 3600.0)  # first pause after the key is refused, and the longest one

Jitter = Callable[[float], float]
"""Given ``schedule.jitter``, the delay of one wake (between 0 and that bound)."""


def uniform_jitter(bound: float) -> float:
    return random.uniform(0.0, bound) if bound > 0 else 0.0  # noqa: S311 (spreads load, no secret)


@dataclass(frozen=True)
class Work:
    """What one wake does: sync ``due`` (None: no event is due), then verify if ``verify``.

    ``generation`` counts reloads, so an outcome can tell whether the settings changed
    while it ran.
    """

    due: Due | None
    verify: bool
    generation: int
    files: bool = True  # the cycle also checks that downloaded photos' files are still there


class Schedule:
    """The timetable of one daemon; not thread-safe (the runner holds a lock around it)."""

    def __init__(
        self,
        plan: Plan,
        now: float,
        *,
        backoff: tuple[float, float] = AUTH_BACKOFF,
        jitter: Jitter = uniform_jitter,
    ) -> None:
        self.plan = plan
        self.generation = 0
        self.paused_until: float | None = None
        self._cadence = Cadence()
        self._backoff = backoff
        self._auth_delay = backoff[0]
        self._jitter = jitter
        self._anchor = now
        self._next_wake = now
        self._verified_at = now
        # event id (None: "all events") -> when a cycle over it last checked the files on disk
        self._files_checked_at: dict[int | None, float] = {}

    @property
    def next_wake(self) -> float:
        return self._next_wake

    def replan(self, plan: Plan, now: float) -> None:
        """New settings: wake at once, end any pause and its backoff; the verify timer runs on."""
        self.plan = plan
        self.generation += 1
        self._unpause()
        self._restart_grid(now)

    def wake(self, now: float) -> Work:
        """The work of a wake at ``now`` (not before :attr:`next_wake`); sets the next wake."""
        self._next_wake = self._grid_after(now)
        every = self.plan.verify_interval
        verify = every > 0 and now - self._verified_at >= every
        due = self._cadence.due(self.plan, now)
        return Work(due, verify, self.generation, self._files_due(due, now))

    def _files_due(self, due: Due | None, now: float) -> bool:
        """Whether the cycle should check the files on disk: some event of it was not checked
        within ``files_interval`` (an event never checked always is)."""
        keys: Sequence[int | None] = (
            [None] if due is None or due.event_ids is None else due.event_ids
        )
        every = self.plan.files_interval
        return any(
            key not in self._files_checked_at or now - self._files_checked_at[key] >= every
            for key in keys
        )

    def turn_ended(self, work: Work, now: float) -> None:
        """``work`` is done: grid wakes that came while it ran are skipped (a reload's is not)."""
        if self._next_wake <= now and work.generation == self.generation:
            self._next_wake = self._grid_after(now)

    def synced(
        self, event_ids: Sequence[int] | None, started: float, ended: float, report: CycleReport
    ) -> None:
        """A cycle over ``event_ids`` completed: they ran; those that gained photos are active."""
        self._cadence.ran(event_ids, started)
        self._cadence.saw(report, ended)
        self._unpause()

    def failed(self, event_ids: Sequence[int] | None, started: float) -> None:
        """A cycle failed in a way that waits for the events' next turn."""
        self._cadence.ran(event_ids, started)

    def refused(self, generation: int, now: float) -> float | None:
        """The API key was refused: pause; the pause in seconds, or None when the settings
        were reloaded since the cycle started (then the new ones are tried at once)."""
        if generation != self.generation:
            return None
        delay = self._auth_delay
        self._auth_delay = min(delay * 2, self._backoff[1])
        self.paused_until = now + delay
        self._restart_grid(now + delay)
        return delay

    def verified(self, started: float) -> None:
        self._verified_at = started

    def files_checked(self, event_ids: Sequence[int] | None, started: float) -> None:
        """A cycle over ``event_ids`` that began at ``started`` checked their files on disk."""
        for key in [None] if event_ids is None else event_ids:
            self._files_checked_at[key] = started

    def _grid_after(self, now: float) -> float:
        """The first grid point after ``now``, delayed by this wake's jitter."""
        grid = self.plan.tick
        steps = math.floor((now - self._anchor) / grid) + 1
        return self._anchor + steps * grid + self._jitter(self.plan.jitter)

    def _unpause(self) -> None:
        self.paused_until = None
        self._auth_delay = self._backoff[0]

    def _restart_grid(self, at: float) -> None:
        self._anchor = self._next_wake = at
