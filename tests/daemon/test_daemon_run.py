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
    make_report,
    running,
)
from harness.waiting import wait_until
from syncer.daemon import Daemon
from syncer.errors import (
    AuthError,
    ConfigError,
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


def test_cycles_run_in_their_own_thread_from_the_start() -> None:
    cycle = FakeCycle()
    daemon, ready = make_daemon(cycle)
    with running(daemon, ready) as main:
        calls = cycle.wait_calls(3)
        assert cycle.threads - {main.ident} == cycle.threads  # never in the main thread
    assert all(call.event_ids is None for call in calls)
    assert cycles_metric(daemon, "ok") >= 3
    assert daemon.cycles == len(cycle.calls)
    assert daemon.health_state.verdict()[1]["status"] == "ok"


def test_the_scheduled_verify_runs_in_the_cycle_thread() -> None:
    cycle = FakeCycle()
    verified: list[int | None] = []
    settings = FakeSettings(schedule=replace(FAST, verify_interval=0.05))

    def verify(current: FakeSettings, stop: threading.Event) -> None:
        verified.append(threading.get_ident())

    daemon, ready = make_daemon(cycle, settings, verify=verify)
    with running(daemon, ready):
        wait_until(lambda: len(verified) >= 2, timeout=5, what="two scheduled verifies")
    assert set(verified) == cycle.threads


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
        cycle.outcomes = [lambda call: make_report()]
        fixed = time.monotonic()
        assert daemon.reload()
        calls = cycle.wait_calls(2, timeout=5)
        assert calls[1].at - fixed < 5  # not the 30 s pause
        wait_until(
            lambda: daemon.health_state.verdict()[0] == 200, timeout=5, what="a healthy verdict"
        )


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
    assert not daemon.abandoned
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
        assert daemon.abandoned
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
