"""syncer.runner.Runner on a fake clock: which cycles run when, and how outcomes are recorded."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import pytest

from harness.daemon import (
    Call,
    FakeClock,
    FakeCycle,
    FakeEvent,
    FakeSchedule,
    FakeSettings,
    Outcome,
    make_report,
)
from syncer.cadence import Plan
from syncer.errors import (
    ApiUnavailableError,
    AuthError,
    RootUnavailableError,
    SyncerError,
)
from syncer.outcomes import Outcomes
from syncer.report import CycleReport
from syncer.runner import Runner, VerifyFn

MINUTE = FakeSchedule(interval=60, active_interval=60)


class Rig:
    """A runner on a fake clock with a scripted cycle; :meth:`run` returns at ``end``."""

    def __init__(
        self,
        *outcomes: Outcome,
        settings: FakeSettings | None = None,
        end: float = 250.0,
        backoff: tuple[float, float] = (300.0, 3600.0),
        verify: VerifyFn[FakeSettings] | None = None,
    ) -> None:
        self.stop = threading.Event()
        self.clock = FakeClock(self.stop, end=end)
        self.cycle = FakeCycle(*outcomes, clock=self.clock.now)
        self.settings = settings or FakeSettings(schedule=MINUTE)
        self.outcomes = Outcomes(env={})
        self.outcomes.open(self.settings)
        self.runner = Runner(
            self.settings,
            Plan.of(self.settings),
            self.cycle,
            self.outcomes,
            stop=self.stop,
            verify=verify,
            clock=self.clock,
            backoff=backoff,
            jitter=lambda bound: 0.0,
        )

    def run(self) -> list[tuple[float, list[int] | None]]:
        self.runner.run()
        return [(call.at, call.event_ids) for call in self.cycle.calls]

    def reload(self, settings: FakeSettings) -> None:
        self.runner.replan(settings, Plan.of(settings))

    def cycles(self, result: str) -> float:
        registry = self.outcomes.metrics.registry
        value = registry.get_sample_value("syncer_cycles_total", {"result": result})
        assert value is not None
        return value


def raising(exc: Exception) -> Outcome:
    def outcome(call: Call) -> CycleReport:
        raise exc

    return outcome


REFUSED = raising(AuthError("403 Forbidden", status=403))


def test_the_first_cycle_runs_at_start_then_every_interval() -> None:
    rig = Rig()
    assert rig.run() == [(0, None), (60, None), (120, None), (180, None), (240, None)]
    assert rig.cycles("ok") == 5
    assert rig.outcomes.health_state.verdict()[1]["status"] == "ok"


def test_listed_events_are_passed_to_the_cycle_in_order() -> None:
    rig = Rig(settings=FakeSettings(schedule=MINUTE, events=(FakeEvent(7), FakeEvent(3))))
    assert rig.run()[:2] == [(0, [3, 7]), (60, [3, 7])]


def test_a_slow_cycle_is_never_overlapped_and_missed_wakes_merge() -> None:
    rig: Rig

    def slow(call: Call) -> CycleReport:
        rig.clock.advance(25)
        return make_report()

    rig = Rig(slow, settings=FakeSettings(schedule=FakeSchedule(interval=10, active_interval=10)))
    rig.clock.end = 100
    assert [at for at, _ in rig.run()] == [0, 30, 60, 90]  # each at the grid point after the last
    assert rig.cycle.max_running == 1


def test_events_that_gained_photos_are_synced_on_the_active_interval() -> None:
    schedule = FakeSchedule(interval=60, active_interval=20, active_window=300)
    rig = Rig(
        lambda call: make_report(event_id=9, new=1 if call.at == 0 else 0),
        settings=FakeSettings(schedule=schedule),
        end=130,
    )
    assert rig.run() == [
        (0, None),
        (20, [9]),  # gained photos at 0: active
        (40, [9]),
        (60, None),
        (80, [9]),
        (100, [9]),
        (120, None),
    ]


def test_a_reload_applies_the_new_settings_at_once() -> None:
    rig = Rig(settings=FakeSettings(schedule=MINUTE, events=(FakeEvent(1),)))
    second = FakeSettings(schedule=MINUTE, events=(FakeEvent(5),), label="second")
    rig.clock.at(100, lambda: rig.reload(second))
    assert rig.run() == [(0, [1]), (60, [1]), (100, [5]), (160, [5]), (220, [5])]
    assert rig.cycle.calls[-1].settings is second


def test_a_refused_key_pauses_with_a_growing_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="syncer.daemon")
    rig = Rig(REFUSED, end=12_000)
    # without the pause: a cycle every minute, 200 of them
    assert [at for at, _ in rig.run()] == [0, 300, 900, 2100, 4500, 8100, 11_700]
    status, body = rig.outcomes.health_state.verdict()
    assert (status, body["status"]) == (503, "paused")
    refused = [r for r in caplog.records if "refused the API key" in r.getMessage()]
    assert len(refused) == 7
    assert refused[0].levelno == logging.ERROR
    assert refused[0].getMessage() == (
        "9Pic refused the API key (HTTP 403); pausing, next try in 5 min; "
        "fix the key and send SIGHUP (restart instead if it is a systemd credential)"
    )
    assert [r.getMessage().split("next try in ")[1].split(";")[0] for r in refused[1:]] == [
        "10 min",
        "20 min",
        "40 min",
        "60 min",
        "60 min",
        "60 min",
    ]
    assert rig.cycles("auth") == 7


def test_a_reload_ends_the_pause_at_once() -> None:
    rig = Rig(REFUSED, end=400)
    fixed = replace(rig.settings, label="fixed")

    def fix() -> None:
        rig.cycle.outcomes = [lambda call: make_report()]
        rig.reload(fixed)
        rig.outcomes.reloaded(fixed)

    rig.clock.at(100, fix)
    assert [at for at, _ in rig.run()] == [0, 100, 160, 220, 280, 340, 400]
    assert rig.outcomes.health_state.verdict()[0] == 200


def test_a_refusal_from_before_a_reload_does_not_pause(caplog: pytest.LogCaptureFixture) -> None:
    rig: Rig

    def refused_while_reloaded(call: Call) -> CycleReport:
        rig.clock.advance(10)  # the reload comes at 5 s, while this cycle runs
        raise AuthError("401 Unauthorized", status=401)

    rig = Rig(refused_while_reloaded, lambda call: make_report(), end=100)
    rig.clock.at(5, lambda: rig.reload(rig.settings))
    assert [at for at, _ in rig.run()] == [0, 10, 65]
    assert rig.runner.paused_until is None
    assert "settings were reloaded meanwhile, trying again" in caplog.text


def test_errors_never_end_the_runner(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(
        raising(RuntimeError("bug")),
        raising(SyncerError("the API answered nonsense")),
        raising(ApiUnavailableError("503 after 5 attempts", status=503)),
        lambda call: make_report(new=1),
    )
    assert len(rig.run()) == 5
    assert rig.outcomes.unexpected_errors == 1
    assert (rig.cycles("error"), rig.cycles("failed"), rig.cycles("ok")) == (1, 2, 2)
    crash = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(crash) == 1
    assert crash[0].levelno == logging.ERROR
    assert crash[0].exc_info is not None


def test_unavailable_api_retries_next_wake_other_errors_wait_the_interval() -> None:
    events = (FakeEvent(1, interval=5), FakeEvent(2))
    settings = FakeSettings(schedule=FakeSchedule(interval=30, active_interval=30), events=events)
    rig = Rig(
        raising(ApiUnavailableError("429 for 15 min", status=429)),
        raising(RootUnavailableError("root missing")),
        lambda call: make_report(),
        settings=settings,
        end=36,
    )
    assert rig.run() == [
        (0, [1, 2]),
        (5, [1, 2]),  # unavailable: nothing was synced, all are due again
        (10, [1]),  # storage: event 2 waits for its interval from 5 s
        (15, [1]),
        (20, [1]),
        (25, [1]),
        (30, [1]),
        (35, [1, 2]),
    ]


def test_storage_errors_make_the_daemon_unhealthy_until_a_cycle_completes() -> None:
    verdicts: list[tuple[int, str]] = []

    def after_failure(call: Call) -> CycleReport:
        _, body = rig.outcomes.health_state.verdict()
        verdicts.append((rig.outcomes.health_state.verdict()[0], body.get("reason", "")))
        return make_report()

    rig = Rig(raising(RootUnavailableError("root /srv/9pic is missing")), after_failure, end=60)
    rig.run()
    assert verdicts == [(503, "storage: root /srv/9pic is missing")]
    assert rig.outcomes.health_state.verdict()[0] == 200
    assert rig.cycles("storage") == 1


def test_the_scheduled_verify_runs_after_a_completed_cycle() -> None:
    verified: list[float] = []
    rig: Rig

    def verify(settings: FakeSettings, stop: threading.Event) -> None:
        verified.append(rig.clock.now())
        if len(verified) == 2:
            raise RuntimeError("verify bug")

    def cycle(call: Call) -> CycleReport:
        if call.at == 240:
            raise RootUnavailableError("root gone")
        return make_report()

    schedule = FakeSchedule(interval=30, active_interval=30, verify_interval=100)
    rig = Rig(cycle, settings=FakeSettings(schedule=schedule), end=400, verify=verify)
    assert [at for at, _ in rig.run()] == list(range(0, 400, 30))
    # due at 120; due again from 220, but the cycle at 240 failed: verified after the next one;
    # the verify at 270 crashes, which is logged and ends nothing
    assert verified == [120, 270, 390]
    assert rig.outcomes.unexpected_errors == 1


def test_no_verify_after_a_cycle_that_was_stopped() -> None:
    verified: list[float] = []
    rig: Rig

    def stopped(call: Call) -> CycleReport:
        rig.stop.set()
        report = make_report()
        report.interrupted = True
        return report

    schedule = FakeSchedule(interval=30, active_interval=30, verify_interval=30)
    rig = Rig(
        lambda call: make_report(),
        stopped,
        settings=FakeSettings(schedule=schedule),
        verify=lambda settings, stop: verified.append(rig.clock.now()),
    )
    assert [at for at, _ in rig.run()] == [0, 30]
    assert verified == []  # due at 30, but the daemon is stopping


def test_a_stop_ends_the_wait() -> None:
    rig = Rig(end=10_000)
    rig.clock.at(90, rig.stop.set)
    assert [at for at, _ in rig.run()] == [0, 60]
    assert rig.clock.now() == 90


def test_cycles_check_the_files_on_disk_once_per_files_interval() -> None:
    settings = FakeSettings(schedule=replace(MINUTE, files_interval=120))
    rig = Rig(settings=settings, end=250.0)
    rig.run()
    assert [(call.at, call.files) for call in rig.cycle.calls] == [
        (0.0, True),
        (60.0, False),
        (120.0, True),
        (180.0, False),
        (240.0, True),
    ]


def test_an_interrupted_cycle_does_not_count_as_a_files_check() -> None:
    stopped = make_report()
    stopped.interrupted = True
    rig = Rig(lambda call: stopped, lambda call: make_report(), end=130.0)
    rig.run()
    assert [call.files for call in rig.cycle.calls] == [True, True, False]
