"""/healthz, /metrics and systemd notifications of the real `syncer daemon`."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from harness.daemon import NotifyListener
from harness.e2e import World
from harness.service import FAST_SCHEDULE, HEALTH_ON, DaemonRun, write_config
from harness.waiting import wait_until

Start = Callable[..., DaemonRun]
SERVICE = {"schedule": FAST_SCHEDULE, "health": HEALTH_ON}


def sample(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_healthz_and_metrics_over_http(world: World, daemons: Start) -> None:
    world.sim.faults.retry_after = 0.05
    world.sim.faults.throttle_every = 3
    write_config(world, sections=SERVICE)
    started = time.time()
    daemon = daemons(world)
    daemon.wait_cycles(1)
    status, body = daemon.health()
    assert (status, body["status"]) == (200, "ok")
    assert body["last_success"] is not None
    world.sim.faults.throttle_every = None
    samples = daemon.metrics()
    truth = world.sim.photos(world.event_id)
    assert sample(samples, "syncer_photos", state="downloaded") == len(truth)
    assert sample(samples, "syncer_photos", state="pending") == 0
    assert sample(samples, "syncer_downloaded_bytes_total") == sum(p.size for p in truth)
    assert sample(samples, "syncer_cycle_duration_seconds_count") >= 1
    assert sample(samples, "syncer_cycle_duration_seconds_sum") > 0
    assert sample(samples, "syncer_api_throttled_total") >= 1
    throttled = sum(
        value
        for (name, labels), value in samples.items()
        if name == "syncer_api_responses_total" and ("status", "429") in labels
    )
    answered = sum(
        value
        for (name, labels), value in samples.items()
        if name == "syncer_api_responses_total" and ("status", "200") in labels
    )
    assert throttled == sample(samples, "syncer_api_throttled_total")
    assert answered > 0
    assert started <= sample(samples, "syncer_last_success_timestamp_seconds") <= time.time()
    assert daemon.get("/nothing-here")[0] == 404
    assert daemon.stop() == 0


def test_metrics_follow_photos_by_state_across_cycles(world: World, daemons: Start) -> None:
    write_config(world, sections=SERVICE)
    daemon = daemons(world)
    daemon.wait_cycles(1)
    world.sim.add_photos(world.event_id, 2)
    total = len(world.truth())
    wait_until(
        lambda: sample(daemon.metrics(), "syncer_photos", state="downloaded") == total,
        timeout=15,
        what="the new photos in syncer_photos",
    )
    assert daemon.stop() == 0


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    folder = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))  # AF_UNIX paths are short
    listener = NotifyListener(folder / "notify")
    yield listener
    listener.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_systemd_notifications(world: World, daemons: Start, listener: NotifyListener) -> None:
    write_config(world, sections={"schedule": FAST_SCHEDULE})
    env = {"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": "1000000"}
    daemon = daemons(world, env=env)
    listener.receive_until(lambda m: m == "READY=1", timeout=20)
    listener.receive_until(
        lambda m: m.startswith("STATUS=cycle 1: 12 new, 12 downloaded"), timeout=20
    )
    count = listener.messages.count("WATCHDOG=1")
    listener.receive_until(lambda m: listener.messages.count("WATCHDOG=1") > count + 1, timeout=20)
    assert daemon.stop() == 0
    listener.receive_until(lambda m: m == "STOPPING=1", timeout=20)
    assert listener.messages.index("READY=1") < listener.messages.index("STOPPING=1")
    assert world.sim.api_key not in "".join(listener.messages)


def test_no_watchdog_pings_without_watchdog_usec(
    world: World, daemons: Start, listener: NotifyListener
) -> None:
    write_config(world, sections={"schedule": FAST_SCHEDULE})
    daemon = daemons(world, env={"NOTIFY_SOCKET": str(listener.path)})
    listener.receive_until(lambda m: m.startswith("STATUS=cycle 2:"), timeout=20)
    assert daemon.stop() == 0
    listener.receive_until(lambda m: m == "STOPPING=1", timeout=20)
    assert "READY=1" in listener.messages
    assert "WATCHDOG=1" not in listener.messages
