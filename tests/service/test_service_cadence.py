"""Regression: an event that gained photos is never synced *less* often than the others."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.daemon import FakeEvent, FakeSchedule, FakeSettings
from syncer.cadence import Cadence, Due, Plan
from syncer.report import CycleReport, EventReport

# a 1 s interval, with the default active interval (300 s) longer than it
SCHEDULE = FakeSchedule(interval=1.0, active_interval=300.0, active_window=86_400.0)


def test_an_active_event_keeps_the_shorter_schedule_interval() -> None:
    plan = Plan.of(FakeSettings(schedule=SCHEDULE, events=(FakeEvent(7),)))
    cadence = Cadence()
    cadence.ran([7], 0.0)
    report = CycleReport(started_at=datetime.now(UTC), events=[EventReport(event_id=7, new=12)])
    cadence.saw(report, 0.5)
    assert cadence.due(plan, 1.0) == Due((7,))
