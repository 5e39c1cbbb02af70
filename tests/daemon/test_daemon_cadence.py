"""syncer.daemon.Plan and Cadence: which events a tick picks, with an explicit clock."""

from __future__ import annotations

import pytest

from harness.daemon import FakeEvent, FakeSchedule, FakeSettings, make_report
from syncer.cadence import Cadence, Due, Plan, human
from syncer.errors import ConfigError

SCHEDULE = FakeSchedule(interval=60.0, active_interval=20.0, active_window=300.0)


def plan(events: tuple[FakeEvent, ...] | str) -> Plan:
    return Plan.of(FakeSettings(schedule=SCHEDULE, events=events))


def test_tick_is_the_shortest_interval_in_use() -> None:
    assert plan("all").tick == 20.0
    assert plan((FakeEvent(1), FakeEvent(2, interval=5.0))).tick == 5.0


@pytest.mark.parametrize(
    ("schedule", "events", "message"),
    [
        (FakeSchedule(interval=0), "all", "schedule.interval: must be a positive duration"),
        (FakeSchedule(active_interval=-1), "all", "schedule.active_interval: must be a positive"),
        (FakeSchedule(), (FakeEvent(7, interval=0.0),), r"events\[7\].interval: must be"),
        (FakeSchedule(), (), "events: no event configured"),
    ],
)
def test_bad_plans_are_config_errors(
    schedule: FakeSchedule, events: tuple[FakeEvent, ...] | str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Plan.of(FakeSettings(schedule=schedule, events=events))


def test_listed_events_are_due_once_per_interval() -> None:
    p, cadence = plan((FakeEvent(1), FakeEvent(2))), Cadence()
    assert cadence.due(p, 0.0) == Due((1, 2))
    cadence.ran([1, 2], 0.0)
    assert cadence.due(p, 20.0) is None
    assert cadence.due(p, 49.0) is None
    assert cadence.due(p, 50.0) == Due((1, 2))  # the tick nearest to 60 s


def test_a_per_event_interval_wins() -> None:
    p, cadence = plan((FakeEvent(1), FakeEvent(2, interval=30.0))), Cadence()
    cadence.ran([1, 2], 0.0)
    assert cadence.due(p, 30.0) == Due((2,))
    cadence.ran([2], 30.0)
    assert cadence.due(p, 60.0) == Due((1, 2))


def test_events_that_gained_photos_use_the_active_interval() -> None:
    p, cadence = plan((FakeEvent(1), FakeEvent(2))), Cadence()
    cadence.ran([1, 2], 0.0)
    cadence.saw(make_report(event_id=2, new=4), 1.0)
    assert cadence.due(p, 20.0) == Due((2,))
    cadence.ran([2], 20.0)
    assert cadence.due(p, 60.0) == Due((1, 2))
    cadence.ran([1], 60.0)
    cadence.ran([2], 295.0)
    assert cadence.due(p, 299.0) == Due((1,))
    cadence.ran([1], 299.0)
    # 25 s after its last run: due while active (20 s), but the window (300 s) is over
    assert cadence.due(p, 320.0) is None
    assert cadence.due(p, 345.0) == Due((2,))


def test_a_report_without_new_photos_does_not_make_an_event_active() -> None:
    p, cadence = plan((FakeEvent(1),)), Cadence()
    cadence.ran([1], 0.0)
    cadence.saw(make_report(event_id=1, new=0, downloaded=5), 1.0)
    assert cadence.due(p, 20.0) is None


def test_all_events_run_as_one_cycle_and_active_ones_in_between() -> None:
    p, cadence = plan("all"), Cadence()
    assert cadence.due(p, 0.0) == Due(None)
    cadence.ran(None, 0.0)
    assert cadence.due(p, 20.0) is None
    cadence.saw(make_report(event_id=9, new=1), 1.0)
    assert cadence.due(p, 20.0) == Due((9,))
    cadence.ran([9], 20.0)
    assert cadence.due(p, 29.0) is None
    assert cadence.due(p, 60.0) == Due(None)


def test_plans_describe_themselves_for_the_log() -> None:
    assert plan("all").describe() == "all events every 60 s (20 s while active), checked every 20 s"
    verified = FakeSchedule(interval=900, active_interval=300, verify_interval=2 * 86400)
    listed = Plan.of(FakeSettings(schedule=verified, events=(FakeEvent(1),)))
    assert listed.describe() == (
        "1 event every 15 min (5 min while active), checked every 5 min, verify every 48 h"
    )


@pytest.mark.parametrize("field", ["jitter", "verify_interval"])
def test_negative_jitter_or_verify_interval_is_a_config_error(field: str) -> None:
    schedule = FakeSchedule(**{field: -1.0})
    with pytest.raises(ConfigError, match="must not be negative"):
        Plan.of(FakeSettings(schedule=schedule))


def test_human_durations() -> None:
    assert human(0.25) == "0.25 s"
    assert human(45) == "45 s"
    assert human(300) == "5 min"
    assert human(3600) == "60 min"
    assert human(4 * 3600) == "4 h"
