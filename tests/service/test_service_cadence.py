"""Regression: an event that gained photos is never synced *less* often than the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from syncer.cadence import Cadence, Due, Plan
from syncer.report import CycleReport, EventReport


@dataclass(frozen=True)
class Schedule:
    interval: float = 1.0
    jitter: float = 0.0
    active_interval: float = 300.0  # the default, longer than this interval
    active_window: float = 86_400.0
    verify_interval: float = 0.0
    files_interval: float = 3600.0


@dataclass(frozen=True)
class Event:
    id: int
    interval: float | None = None


@dataclass(frozen=True)
class Health:
    listen: str = ""
    max_age: float = 3600.0
    allow_remote: bool = False


@dataclass(frozen=True)
class Settings:
    schedule: Schedule
    health: Health
    events: tuple[Event, ...]


def test_an_active_event_keeps_the_shorter_schedule_interval() -> None:
    plan = Plan.of(Settings(Schedule(), Health(), (Event(7),)))
    cadence = Cadence()
    cadence.ran([7], 0.0)
    report = CycleReport(started_at=datetime.now(UTC), events=[EventReport(event_id=7, new=12)])
    cadence.saw(report, 0.5)
    assert cadence.due(plan, 1.0) == Due((7,))
