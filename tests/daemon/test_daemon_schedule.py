"""syncer.schedule.Schedule: the wake grid, jitter, the auth pause and the verify timer."""

from __future__ import annotations

import pytest

from harness.daemon import FakeEvent, FakeSchedule, FakeSettings, make_report
from syncer.cadence import Due, Plan
from syncer.schedule import Schedule, uniform_jitter

NO_JITTER = {"jitter": lambda bound: 0.0}


def plan(**schedule: float) -> Plan:
    return Plan.of(FakeSettings(schedule=FakeSchedule(**schedule), events=(FakeEvent(1),)))


def test_the_first_wake_is_at_once_then_on_the_grid() -> None:
    sched = Schedule(plan(interval=60, active_interval=60), 100.0, **NO_JITTER)
    assert sched.next_wake == 100.0
    assert sched.wake(100.0).due == Due((1,))
    assert sched.next_wake == 160.0


def test_wakes_missed_during_a_long_cycle_merge_into_the_next_grid_point() -> None:
    sched = Schedule(plan(interval=60, active_interval=60), 0.0, **NO_JITTER)
    work = sched.wake(0.0)
    # the cycle ran until 200 s: 60, 120 and 180 are gone, the next wake is 240, once
    sched.synced([1], 0.0, 200.0, make_report())
    assert sched.next_wake == 60.0
    sched.turn_ended(work, 200.0)
    assert sched.next_wake == 240.0
    sched.turn_ended(work, 210.0)  # nothing missed: no change
    assert sched.next_wake == 240.0
    work = sched.wake(240.0)
    sched.replan(sched.plan, 250.0)  # a reload while the cycle runs: the next wake stays at once
    sched.turn_ended(work, 400.0)
    assert sched.next_wake == 250.0


def test_jitter_delays_each_wake_within_its_bound() -> None:
    delays = iter([7.0, 2.5])
    sched = Schedule(
        plan(interval=60, active_interval=60, jitter=10), 0.0, jitter=lambda bound: next(delays)
    )
    sched.wake(0.0)
    assert sched.next_wake == 67.0
    sched.wake(67.0)
    assert sched.next_wake == 122.5  # jitter does not drift the grid
    assert all(0 <= uniform_jitter(10.0) <= 10.0 for _ in range(100))
    assert uniform_jitter(0.0) == 0.0


def test_a_refused_key_pauses_with_a_doubling_backoff_up_to_the_cap() -> None:
    sched = Schedule(plan(interval=60, active_interval=60), 0.0, backoff=(300, 1000), **NO_JITTER)
    pauses = []
    now = 0.0
    for _ in range(4):
        work = sched.wake(now)
        pause = sched.refused(work.generation, now)
        assert pause is not None
        pauses.append(pause)
        assert sched.paused_until == sched.next_wake == now + pause
        now = sched.next_wake
    assert pauses == [300, 600, 1000, 1000]
    work = sched.wake(now)
    sched.synced([1], now, now + 1, make_report())
    assert sched.paused_until is None
    assert sched.refused(work.generation, now + 1) == 300  # a completed cycle ends the backoff


def test_a_reload_ends_the_pause_and_wakes_at_once() -> None:
    sched = Schedule(plan(interval=60, active_interval=60), 0.0, backoff=(300, 3600), **NO_JITTER)
    work = sched.wake(0.0)
    sched.refused(work.generation, 1.0)
    sched.replan(plan(interval=30, active_interval=30), 50.0)
    assert (sched.paused_until, sched.next_wake) == (None, 50.0)
    assert sched.wake(50.0).due == Due((1,))
    assert sched.next_wake == 80.0
    # a refusal from a cycle that started before the reload does not pause the new settings
    assert sched.refused(work.generation, 51.0) is None
    assert sched.paused_until is None


def test_a_failure_waits_for_the_interval_an_unrecorded_one_does_not() -> None:
    sched = Schedule(plan(interval=60, active_interval=60), 0.0, **NO_JITTER)
    sched.wake(0.0)
    sched.failed([1], 0.0)
    assert sched.wake(60.0).due == Due((1,))
    assert sched.wake(120.0).due == Due((1,))  # nothing recorded at 60: due again


@pytest.mark.parametrize(("every", "verify_at"), [(0.0, []), (100.0, [120.0, 240.0])])
def test_the_verify_timer(every: float, verify_at: list[float]) -> None:
    sched = Schedule(plan(interval=30, active_interval=30, verify_interval=every), 0.0, **NO_JITTER)
    seen = []
    for now in range(0, 300, 30):
        if sched.wake(float(now)).verify:
            seen.append(float(now))
            sched.verified(float(now))
    assert seen == verify_at


def test_the_files_on_disk_are_checked_first_then_every_files_interval() -> None:
    sched = Schedule(plan(interval=60, active_interval=60, files_interval=3600), 0.0, **NO_JITTER)
    assert sched.wake(0.0).files  # never checked: this cycle checks
    sched.files_checked([1], 0.0)
    assert not sched.wake(60.0).files
    assert not sched.wake(3540.0).files
    assert sched.wake(3600.0).files
    every_cycle = Schedule(plan(interval=60, active_interval=60, files_interval=0), 0.0)
    every_cycle.files_checked([1], 0.0)
    assert every_cycle.wake(60.0).files


def test_an_event_whose_files_were_not_checked_makes_its_cycle_check() -> None:
    settings = FakeSettings(
        schedule=FakeSchedule(interval=60, active_interval=60, files_interval=3600),
        events=(FakeEvent(1), FakeEvent(2, interval=600)),
    )
    sched = Schedule(Plan.of(settings), 0.0, **NO_JITTER)
    assert sched.wake(0.0).due == Due((1, 2))
    sched.synced([1, 2], 0.0, 1.0, make_report())
    sched.files_checked([1], 0.0)  # say the first cycle checked event 1 only
    work = sched.wake(60.0)
    assert (work.due, work.files) == (Due((1,)), False)  # event 1's files are fresh
    sched.synced([1], 60.0, 61.0, make_report())
    work = sched.wake(600.0)
    assert work.due is not None
    assert 2 in (work.due.event_ids or ())
    assert work.files  # event 2 has never been checked
