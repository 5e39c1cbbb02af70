"""When each configured event is due for a sync, as pure logic on explicit times.

The daemon wakes every :attr:`Plan.tick` seconds (the shortest interval in use, see
:mod:`syncer.schedule`); each wake asks :class:`Cadence` which events are due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from syncer.errors import ConfigError
from syncer.report import CycleReport


def human(seconds: float) -> str:
    """A short duration for log lines: ``"45 s"``, ``"5 min"``, ``"2 h"``."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.3g} h"


class ScheduleSettings(Protocol):
    @property
    def interval(self) -> float: ...
    @property
    def jitter(self) -> float: ...
    @property
    def active_interval(self) -> float: ...
    @property
    def active_window(self) -> float: ...
    @property
    def verify_interval(self) -> float: ...
    @property
    def files_interval(self) -> float: ...


class HealthSettings(Protocol):
    @property
    def listen(self) -> str: ...
    @property
    def max_age(self) -> float: ...
    @property
    def allow_remote(self) -> bool: ...


class EventEntry(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def interval(self) -> float | None: ...


class DaemonSettings(Protocol):
    """The part of :class:`syncer.config.Settings` the daemon reads."""

    @property
    def schedule(self) -> ScheduleSettings: ...
    @property
    def health(self) -> HealthSettings: ...
    @property
    def events(self) -> Sequence[EventEntry] | str: ...


@dataclass(frozen=True)
class Plan:
    """The schedule settings of one daemon, in seconds; ``events`` None means "all".

    ``verify_interval`` 0 means no scheduled verify; ``files_interval`` is how often a cycle
    also checks that downloaded photos' files are still on disk (0: every cycle).
    """

    interval: float
    jitter: float
    active_interval: float
    active_window: float
    events: Mapping[int, float | None] | None
    verify_interval: float = 0.0
    files_interval: float = 0.0

    @classmethod
    def of(cls, settings: DaemonSettings) -> Plan:
        sched = settings.schedule
        events = (
            None
            if isinstance(settings.events, str)
            else {e.id: e.interval for e in settings.events}
        )
        plan = cls(
            sched.interval,
            sched.jitter,
            sched.active_interval,
            sched.active_window,
            events,
            sched.verify_interval,
            sched.files_interval,
        )
        for name, value in plan.intervals().items():
            if not value > 0:
                raise ConfigError(f"config: {name}: must be a positive duration, got {value}")
        if min(plan.verify_interval, plan.files_interval, plan.jitter) < 0:
            raise ConfigError(
                "config: schedule: jitter, verify_interval and files_interval must not be negative"
            )
        if events == {}:
            raise ConfigError('config: events: no event configured (list events or use "all")')
        return plan

    def intervals(self) -> dict[str, float]:
        named = {
            "schedule.interval": self.interval,
            "schedule.active_interval": self.active_interval,
        }
        for event_id, override in (self.events or {}).items():
            if override is not None:
                named[f"events[{event_id}].interval"] = override
        return named

    @property
    def tick(self) -> float:
        """How often the scheduler looks for due events: the shortest interval in use."""
        return min(self.intervals().values())

    def describe(self) -> str:
        """One line for the log: ``"3 events every 15 min (5 min while active), ..."``."""
        count = 0 if self.events is None else len(self.events)
        events = "all events" if self.events is None else f"{count} event{'s' * (count != 1)}"
        active = min(self.active_interval, self.interval)
        verify = f", verify every {human(self.verify_interval)}" if self.verify_interval else ""
        return (
            f"{events} every {human(self.interval)} "
            f"({human(active)} while active), checked every {human(self.tick)}{verify}"
        )


@dataclass(frozen=True)
class Due:
    """The events one cycle should cover; ``event_ids`` None = every configured event."""

    event_ids: tuple[int, ...] | None


class Cadence:
    """Remembers when each event was last synced and last gained photos; decides what is due.

    An event is due when its interval has elapsed, minus half a tick (ticks are the shortest
    interval, so this picks the nearest tick instead of the one after). Its interval is the
    per-event override, else ``active_interval`` if it gained photos within ``active_window``
    (never longer than ``schedule.interval``), else ``schedule.interval``.
    """

    def __init__(self) -> None:
        self._last_run: dict[int | None, float] = {}  # None = a cycle over "all"
        self._last_new: dict[int, float] = {}

    def ran(self, event_ids: Sequence[int] | None, at: float) -> None:
        for key in [None] if event_ids is None else event_ids:
            self._last_run[key] = at

    def saw(self, report: CycleReport, at: float) -> None:
        for event in report.events:
            if event.new > 0:
                self._last_new[event.event_id] = at

    def due(self, plan: Plan, now: float) -> Due | None:
        slack = plan.tick / 2
        if plan.events is None:
            if now - self._last(None) >= plan.interval - slack:
                return Due(None)
            active = [e for e in self._last_new if self._active(plan, e, now)]
            candidates: Mapping[int, float | None] = dict.fromkeys(active)
        else:
            candidates = plan.events
        ids = [
            event_id
            for event_id, override in candidates.items()
            if now - self._last(event_id) >= self._interval(plan, event_id, override, now) - slack
        ]
        return Due(tuple(sorted(ids))) if ids else None

    def _last(self, event_id: int | None) -> float:
        last = self._last_run.get(None, float("-inf"))
        return last if event_id is None else max(last, self._last_run.get(event_id, last))

    def _active(self, plan: Plan, event_id: int, now: float) -> bool:
        seen = self._last_new.get(event_id)
        return seen is not None and now - seen <= plan.active_window

    def _interval(self, plan: Plan, event_id: int, override: float | None, now: float) -> float:
        if override is not None:
            return override
        if self._active(plan, event_id, now):  # "active" may only shorten the interval
            return min(plan.active_interval, plan.interval)
        return plan.interval
