"""The real `syncer daemon` against the simulator: new photos, SIGTERM, SIGHUP, a revoked key."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.e2e import World, make_world, photos_on_disk, run_ok, temp_files
from harness.service import (
    FAST_SCHEDULE,
    HEALTH_ON,
    DaemonRun,
    EventSpec,
    event_folder,
    event_status,
    ledger_status,
    other_event,
    write_config,
)
from harness.waiting import wait_until
from syncer.sim import Faults

Start = Callable[[World], DaemonRun]
SERVICE = {"schedule": FAST_SCHEDULE, "health": HEALTH_ON}


def test_photos_added_between_cycles_are_picked_up(world: World, daemons: Start) -> None:
    write_config(world, sections=SERVICE)
    daemon = daemons(world)
    daemon.wait_cycles(1)
    assert photos_on_disk(world.root) == world.truth()
    first = daemon.cycles()
    added = world.sim.add_photos(world.event_id, 3)
    wait_until(
        lambda: photos_on_disk(world.root) == world.truth(), timeout=15, what="the new photos"
    )
    stored = photos_on_disk(world.root)
    assert {p.image_id: stored[p.image_id] for p in added} == {p.image_id: p.sha256 for p in added}
    daemon.wait_cycles(first + 1)  # the cycle that found them ends too
    assert daemon.stop() == 0
    assert ledger_status(world)["downloaded"] == len(world.truth())


@pytest.fixture
def slow_world(tmp_path: Path) -> Iterator[World]:
    """48 photos served slowly, so that a cycle is still downloading when the test acts."""
    yield from make_world(tmp_path, photos=48, size=8_000, faults=Faults(slow_storage_seconds=0.15))


@pytest.mark.slow
def test_sigterm_mid_download_leaves_a_consistent_archive(
    slow_world: World, daemons: Start
) -> None:
    world = slow_world
    write_config(world, sections={"schedule": FAST_SCHEDULE}, download={"workers": 2})
    daemon = daemons(world)
    wait_until(lambda: len(photos_on_disk(world.root)) >= 4, what="a few photos on disk")
    sent = time.monotonic()
    assert daemon.stop(timeout=15) == 0, daemon.log()
    assert time.monotonic() - sent < 10
    assert "daemon stopped" in daemon.log()
    truth = world.truth()
    stored = photos_on_disk(world.root)
    assert 0 < len(stored) < len(truth)
    assert {image: truth[image] for image in stored} == stored  # complete and correct
    assert not temp_files(world.root)
    row = event_status(world)
    assert (row["known"], row["downloaded"]) == (len(truth), len(stored))
    assert row["pending"] + row["failed"] == len(truth) - len(stored)
    world.sim.faults.slow_storage_seconds = 0.0
    run_ok(world, "sync", "--no-progress")
    assert photos_on_disk(world.root) == truth
    assert ledger_status(world)["downloaded"] == len(truth)


@pytest.mark.slow
def test_sighup_reloads_the_config_for_the_next_cycle(world: World, daemons: Start) -> None:
    second = other_event(world)
    write_config(world, sections=SERVICE)
    daemon = daemons(world)
    daemon.wait_cycles(1)
    write_config(world, events=[EventSpec(world.event_id), EventSpec(second)], sections=SERVICE)
    daemon.wait_cycles(daemon.cycles() + 2)  # the daemon does not re-read the file by itself
    assert not (world.root / event_folder(world, second)).exists()
    daemon.process.send_signal(signal.SIGHUP)
    expected = {p.image_id: p.sha256 for p in world.sim.photos(second)}
    wait_until(
        lambda: {k: v for k, v in photos_on_disk(world.root).items() if k in expected} == expected,
        timeout=15,
        what="the second event's photos",
    )
    assert (world.root / event_folder(world, second)).is_dir()
    assert "settings reloaded: 2 events" in daemon.log()
    assert daemon.stop() == 0


@pytest.mark.slow
def test_a_revoked_key_pauses_the_daemon_quietly(world: World, daemons: Start) -> None:
    write_config(world, sections=SERVICE)
    daemon = daemons(world)
    daemon.wait_cycles(1)
    world.sim.revoke_key(world.sim.api_key)
    before = world.sim.stats.api_requests
    daemon.wait_cycles(1, result="auth")
    status, body = daemon.health()
    assert (status, body["status"]) == (503, "paused")
    assert world.sim.stats.api_requests - before <= 4  # a refused key is not retried
    # how long the pause lasts, and that no cycle runs during it: tests/daemon/test_daemon_runner.py
    refusals = [line for line in daemon.log().splitlines() if "refused the API key" in line]
    assert len(refusals) == 1, refusals
    assert "pausing, next try in 5 min" in refusals[0]
    assert world.sim.api_key not in daemon.log()
    assert daemon.stop() == 0


def test_an_unmounted_root_makes_the_daemon_unhealthy_until_it_returns(
    world: World, daemons: Start
) -> None:
    write_config(world, sections=SERVICE)
    daemon = daemons(world)
    daemon.wait_cycles(1)
    away = world.tmp / "photos-unmounted"
    world.root.rename(away)
    world.sim.add_photos(world.event_id, 2)
    daemon.wait_cycles(1, result="storage")
    status, body = daemon.health()
    assert (status, body["status"]) == (503, "failing")
    assert "is missing" in body["reason"]
    assert not world.root.exists()
    away.rename(world.root)
    wait_until(
        lambda: photos_on_disk(world.root) == world.truth(), timeout=15, what="the resumed sync"
    )
    wait_until(lambda: daemon.health()[0] == 200, timeout=10, what="a healthy daemon")
    assert daemon.stop() == 0
