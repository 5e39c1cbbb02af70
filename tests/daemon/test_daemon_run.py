"""syncer.daemon.Daemon in-process, with a fake cycle function and tiny intervals."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from harness.daemon import (
    Call,
    FakeCycle,
    FakeEvent,
    FakeHealth,
    FakeSchedule,
    FakeSettings,
    NotifyListener,
    Outcome,
    SettingsSource,
    idle,
    make_report,
    running,
)
from harness.waiting import wait_until
from syncer.daemon import Daemon
from syncer.errors import (
    ApiUnavailableError,
    AuthError,
    ConfigError,
    RootUnavailableError,
    SyncerError,
)
from syncer.report import CycleReport

FAST = FakeSchedule(interval=0.05, active_interval=0.05)


def make_daemon(
    cycle: FakeCycle,
    settings: FakeSettings | SettingsSource | None = None,
    *,
    env: dict[str, str] | None = None,
    **options: object,
) -> tuple[Daemon[FakeSettings], threading.Event]:
    ready = threading.Event()
    load = (
        settings
        if isinstance(settings, SettingsSource)
        else SettingsSource(settings or FakeSettings(schedule=FAST))
    )
    daemon = Daemon(load, cycle, env=env or {}, ready=ready, **options)  # type: ignore[arg-type]
    return daemon, ready


def raising(exc: Exception) -> Outcome:
    def outcome(call: Call) -> CycleReport:
        raise exc

    return outcome


def gaps(calls: list[Call]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(calls)]


def cycles_metric(daemon: Daemon[FakeSettings], result: str) -> float:
    value = daemon.metrics.registry.get_sample_value("syncer_cycles_total", {"result": result})
    assert value is not None
    return value


def test_first_cycle_at_start_then_on_the_schedule() -> None:
    cycle = FakeCycle()
    daemon, ready = make_daemon(cycle)
    with running(daemon, ready):
        started = time.monotonic()
        calls = cycle.wait_calls(4)
    assert calls[0].at - started < 1.0
    assert all(call.event_ids is None for call in calls)
    assert all(gap >= 0.02 for gap in gaps(calls)), gaps(calls)
    assert cycles_metric(daemon, "ok") >= 4
    assert daemon.health_state.verdict()[1]["status"] == "ok"


def test_listed_events_are_passed_to_the_cycle() -> None:
    cycle = FakeCycle()
    settings = FakeSettings(schedule=FAST, events=(FakeEvent(7), FakeEvent(3)))
    daemon, ready = make_daemon(cycle, settings)
    with running(daemon, ready):
        calls = cycle.wait_calls(2)
    assert [call.event_ids for call in calls[:2]] == [[3, 7], [3, 7]]


def test_a_slow_cycle_never_overlaps_the_next() -> None:
    def slow(call: Call) -> CycleReport:
        call.stop.wait(0.15)
        return make_report()

    cycle = FakeCycle(slow)
    settings = FakeSettings(schedule=FakeSchedule(interval=0.01, active_interval=0.01))
    daemon, ready = make_daemon(cycle, settings)
    with running(daemon, ready):
        calls = cycle.wait_calls(3)
    assert cycle.max_running == 1
    assert all(gap >= 0.14 for gap in gaps(calls)), gaps(calls)


def test_reload_picks_up_new_settings() -> None:
    cycle = FakeCycle()
    source = SettingsSource(FakeSettings(schedule=FAST, events=(FakeEvent(1),)))
    daemon, ready = make_daemon(cycle, source)
    with running(daemon, ready):
        cycle.wait_calls(1)
        source.settings = FakeSettings(schedule=FAST, events=(FakeEvent(5),), label="second")
        assert daemon.reload()
        count = len(cycle.calls)
        calls = cycle.wait_calls(count + 2)
    later = calls[count + 1]
    assert (later.settings.label, later.event_ids) == ("second", [5])
    assert daemon.settings is source.settings


def test_a_reload_request_is_served_by_the_main_loop() -> None:
    cycle = FakeCycle()
    source = SettingsSource(FakeSettings(schedule=FAST))
    daemon, ready = make_daemon(cycle, source)
    with running(daemon, ready):
        source.settings = replace(source.settings, label="second")
        daemon.request_reload()
        wait_until(lambda: daemon.settings is source.settings, timeout=5, what="the reload request")
    assert source.loads == 2


def test_a_bad_reload_keeps_the_old_settings(caplog: pytest.LogCaptureFixture) -> None:
    cycle = FakeCycle()
    source = SettingsSource(FakeSettings(schedule=FAST))
    daemon, ready = make_daemon(cycle, source)
    with running(daemon, ready):
        cycle.wait_calls(1)
        first = daemon.settings
        source.error = ConfigError("config: download.workers: Input should be a valid integer")
        assert not daemon.reload()
        source.error = None
        source.settings = FakeSettings(schedule=FakeSchedule(interval=0.0))
        assert not daemon.reload()
        count = len(cycle.calls)
        calls = cycle.wait_calls(count + 1)
    assert daemon.settings is first
    assert calls[-1].settings is first
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "reload failed, keeping the previous settings: "
        "config: download.workers: Input should be a valid integer",
        "reload failed, keeping the previous settings: "
        "config: schedule.interval: must be a positive duration, got 0.0",
    ]


def test_a_refused_key_pauses_with_a_growing_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="syncer.daemon")
    cycle = FakeCycle(raising(AuthError("403 Forbidden", status=403)))
    daemon, ready = make_daemon(cycle, auth_backoff=(0.4, 10.0))
    with running(daemon, ready):
        calls = cycle.wait_calls(3, timeout=5)
        window_end = calls[0].at + 1.5
        idle(window_end - time.monotonic())  # 1.5 s: 30 cycles without the pause
        in_window = [call for call in cycle.calls if call.at < window_end]
        status, body = daemon.health_state.verdict()
    assert len(in_window) == 3  # at 0, 0.4 and 1.2 s
    assert gaps(calls)[0] >= 0.39
    assert gaps(calls)[1] >= 0.79
    assert (status, body["status"]) == (503, "paused")
    refused = [r for r in caplog.records if "refused the API key" in r.getMessage()]
    assert len(refused) == len(cycle.calls)
    assert refused[0].levelno == logging.ERROR
    assert refused[0].getMessage() == (
        "9Pic refused the API key (HTTP 403); pausing, next try in 0.4 s; "
        "fix the key and send SIGHUP (restart instead if it is a systemd credential)"
    )
    assert "next try in 0.8 s" in refused[1].getMessage()
    assert cycles_metric(daemon, "auth") == len(cycle.calls)


def test_a_reload_ends_the_pause_at_once() -> None:
    cycle = FakeCycle(raising(AuthError("403 Forbidden", status=403)))
    daemon, ready = make_daemon(cycle, auth_backoff=(30.0, 60.0))
    with running(daemon, ready):
        cycle.wait_calls(1)
        wait_until(
            lambda: daemon.health_state.verdict()[1]["status"] == "paused",
            timeout=5,
            what="the pause",
        )
        idle(0.2)  # four ticks
        assert len(cycle.calls) == 1
        cycle.outcomes = [lambda call: make_report()]
        fixed = time.monotonic()
        assert daemon.reload()
        calls = cycle.wait_calls(2, timeout=5)
        assert calls[1].at - fixed < 5  # not the 30 s pause
        wait_until(
            lambda: daemon.health_state.verdict()[0] == 200, timeout=5, what="a healthy verdict"
        )


def test_errors_never_kill_the_daemon(caplog: pytest.LogCaptureFixture) -> None:
    cycle = FakeCycle(
        raising(RuntimeError("bug")),
        raising(SyncerError("the API answered nonsense")),
        raising(ApiUnavailableError("503 after 5 attempts", status=503)),
        lambda call: make_report(new=1),
    )
    daemon, ready = make_daemon(cycle)
    with running(daemon, ready):
        cycle.wait_calls(5)
    assert daemon.unexpected_errors == 1
    assert cycles_metric(daemon, "error") == 1
    assert cycles_metric(daemon, "failed") == 2
    assert cycles_metric(daemon, "ok") >= 2
    crash = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(crash) == 1
    assert crash[0].levelno == logging.ERROR
    assert crash[0].exc_info is not None


def test_storage_errors_make_the_daemon_unhealthy_until_a_cycle_completes() -> None:
    release = threading.Event()

    def blocked(call: Call) -> CycleReport:
        release.wait(5)
        return make_report()

    cycle = FakeCycle(raising(RootUnavailableError("root /srv/9pic is missing")), blocked)
    daemon, ready = make_daemon(cycle)
    with running(daemon, ready):
        cycle.wait_calls(2)
        status, body = daemon.health_state.verdict()
        release.set()
        cycle.wait_calls(3)
    assert (status, body["status"]) == (503, "failing")
    assert body["reason"] == "storage: root /srv/9pic is missing"
    assert daemon.health_state.verdict()[0] == 200
    assert cycles_metric(daemon, "storage") == 1


def test_unavailable_api_retries_next_tick_other_errors_wait_the_interval() -> None:
    cycle = FakeCycle(
        raising(ApiUnavailableError("429 for 15 min", status=429)),
        raising(RootUnavailableError("root missing")),
        lambda call: make_report(),
    )
    events = (FakeEvent(1, interval=0.05), FakeEvent(2))
    settings = FakeSettings(schedule=FakeSchedule(interval=30, active_interval=30), events=events)
    daemon, ready = make_daemon(cycle, settings)
    with running(daemon, ready):
        calls = cycle.wait_calls(4)
    assert [call.event_ids for call in calls[:4]] == [[1, 2], [1, 2], [1], [1]]


def test_stop_while_a_cycle_runs_returns_promptly() -> None:
    def until_stopped(call: Call) -> CycleReport:
        call.stop.wait(30)
        report = make_report()
        report.interrupted = True
        return report

    cycle = FakeCycle(until_stopped)
    daemon, ready = make_daemon(cycle, stop_timeout=10.0)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()))
    thread.start()
    assert ready.wait(5)
    cycle.wait_calls(1)
    asked = time.monotonic()
    daemon.request_stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 2
    assert result == [0]
    assert cycle.calls[0].stop.is_set()
    assert cycle.running == 0
    assert daemon.health_state.last_success is None  # an interrupted cycle is no success


def test_stop_gives_up_on_a_cycle_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    def stubborn(call: Call) -> CycleReport:
        release.wait(10)
        return make_report()

    cycle = FakeCycle(stubborn)
    daemon, ready = make_daemon(cycle, stop_timeout=0.2)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()))
    thread.start()
    try:
        assert ready.wait(5)
        cycle.wait_calls(1)
        asked = time.monotonic()
        daemon.request_stop()
        thread.join(5)
        took = time.monotonic() - asked
    finally:
        release.set()
    assert result == [0]
    assert 0.15 <= took < 2
    assert any("did not stop within 0.2 s" in r.getMessage() for r in caplog.records)


def test_startup_errors_are_raised() -> None:
    source = SettingsSource(FakeSettings())
    source.error = ConfigError("config: unknown key storage.rooot")
    daemon, _ = make_daemon(FakeCycle(), source)
    with pytest.raises(ConfigError, match=r"unknown key storage\.rooot"):
        daemon.run()
    bad = FakeSettings(schedule=FAST, health=FakeHealth(listen="0.0.0.0:9187"))
    daemon, _ = make_daemon(FakeCycle(), bad)
    with pytest.raises(ConfigError, match="not a loopback address"):
        daemon.run()


def test_notify_health_and_watchdog(tmp_path: Path) -> None:
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "100000"}
    cycle = FakeCycle(lambda call: make_report(new=2, downloaded=1))
    settings = FakeSettings(schedule=FAST, health=FakeHealth(listen="127.0.0.1:0"))
    daemon, ready = make_daemon(cycle, settings, env=env)
    try:
        with running(daemon, ready):
            listener.receive_until(lambda m: m == "READY=1")
            address = daemon.health_address
            assert address is not None
            with httpx.Client(trust_env=False) as client:
                answer = client.get(f"http://{address[0]}:{address[1]}/healthz")
            assert answer.status_code == 200
            listener.receive_until(lambda m: m == "STATUS=cycle 1: 2 new, 1 downloaded, 0 failed")
            listener.receive_until(lambda m: m == "WATCHDOG=1")
            daemon.request_reload()
            listener.receive_until(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="))
        messages = listener.receive_until(lambda m: m == "STOPPING=1")
    finally:
        listener.close()
    reloading = next(i for i, m in enumerate(messages) if m.startswith("RELOADING=1"))
    assert "READY=1" in messages[reloading + 1 :]
    assert messages.index("READY=1") < messages.index("STOPPING=1")


def _healthz(address: tuple[str, int] | None) -> int:
    """The /healthz status at ``address``, or 0 when nothing answers there."""
    assert address is not None
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            return client.get(f"http://{address[0]}:{address[1]}/healthz").status_code
    except httpx.ConnectError:
        return 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_reload_moves_the_health_endpoint() -> None:
    source = SettingsSource(FakeSettings(schedule=FAST, health=FakeHealth(listen="127.0.0.1:0")))
    daemon, ready = make_daemon(FakeCycle(), source)
    with running(daemon, ready):
        before = daemon.health_address
        assert _healthz(before) == 200
        port = _free_port()
        source.settings = replace(source.settings, health=FakeHealth(f"127.0.0.1:{port}"))
        assert daemon.reload()
        assert daemon.health_address == ("127.0.0.1", port)
        assert _healthz(daemon.health_address) == 200
        assert _healthz(before) == 0
        source.settings = replace(source.settings, health=FakeHealth(listen=""))
        assert daemon.reload()
        assert daemon.health_address is None
        assert _healthz(("127.0.0.1", port)) == 0


def test_a_reload_to_a_busy_port_keeps_the_health_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = SettingsSource(FakeSettings(schedule=FAST, health=FakeHealth(listen="127.0.0.1:0")))
    daemon, ready = make_daemon(FakeCycle(), source)
    with running(daemon, ready), socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        before = daemon.health_address
        source.settings = FakeSettings(
            schedule=FAST, health=FakeHealth(f"127.0.0.1:{busy}"), label="second"
        )
        assert daemon.reload()  # the other settings apply
        assert daemon.settings.label == "second"
        assert daemon.health_address == before
        assert _healthz(before) == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("health endpoint not moved, still as before: ")
    assert str(busy) in errors[0]


def test_a_reload_to_all_addresses_on_the_same_port_moves_the_endpoint() -> None:
    """0.0.0.0:P cannot bind beside 127.0.0.1:P: the old listener makes way for the new one."""
    port = _free_port()
    first = FakeSettings(schedule=FAST, health=FakeHealth(listen=f"127.0.0.1:{port}"))
    source = SettingsSource(first)
    daemon, ready = make_daemon(FakeCycle(), source)
    with running(daemon, ready):
        assert _healthz(("127.0.0.1", port)) == 200
        wide = FakeHealth(listen=f"0.0.0.0:{port}", allow_remote=True)
        source.settings = replace(first, health=wide)
        assert daemon.reload()
        assert daemon.health_address == ("0.0.0.0", port)
        assert _healthz(("127.0.0.1", port)) == 200


def test_a_failed_move_on_the_same_port_brings_the_old_endpoint_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = _free_port()
    first = FakeSettings(schedule=FAST, health=FakeHealth(listen=f"127.0.0.1:{port}"))
    source = SettingsSource(first)
    daemon, ready = make_daemon(FakeCycle(), source)
    with running(daemon, ready), socket.socket() as squatter:
        squatter.bind(("127.0.0.2", port))  # 0.0.0.0:port stays impossible without the old one
        squatter.listen()
        wide = FakeHealth(listen=f"0.0.0.0:{port}", allow_remote=True)
        source.settings = replace(first, health=wide)
        assert daemon.reload()
        assert daemon.health_address == ("127.0.0.1", port)
        assert _healthz(("127.0.0.1", port)) == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert [e.split(":")[0] for e in errors] == ["health endpoint not moved, still as before"]
