"""Keeping the archive right over time: photos removed upstream, and bit rot on the root."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.e2e import World, photos_on_disk, run_ok, sha256_of
from harness.service import (
    FAST_SCHEDULE,
    HEALTH_ON,
    DaemonRun,
    EventSpec,
    event_status,
    ledger_status,
    write_config,
)
from harness.waiting import wait_until

Start = Callable[[World], DaemonRun]

TRASH = "_trash"
TRASH_SHARE = 0.25  # of the 12 photos: at most 3 per cycle


def sync_json(world: World) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run_ok(world, "sync", "--json").stdout)
    return data


def trashed_files(root: Path) -> dict[str, str]:
    """image_id -> sha256 of the photos under ``_trash/<YYYY-MM-DD>/``."""
    found: dict[str, str] = {}
    for path in (root / TRASH).rglob("*.jpg"):
        day = path.relative_to(root / TRASH).parts[0]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day), path
        found[path.stem] = sha256_of(path)
    return found


@pytest.mark.slow
def test_trash_moves_removed_photos_after_two_walks_within_the_share(world: World) -> None:
    write_config(world, storage={"on_remote_delete": "trash", "trash_max_share": TRASH_SHARE})
    sync_json(world)
    before = world.truth()
    gone = [p.image_id for p in world.sim.photos(world.event_id)[:4]]
    for image_id in gone:
        world.sim.remove_photo(world.event_id, image_id)

    assert sync_json(world)["trashed"] == 0  # one walk without them: maybe a shifting page
    assert photos_on_disk(world.root) == before

    assert sync_json(world)["trashed"] == 3  # the second walk: 25% of 12 photos
    in_trash = trashed_files(world.root)
    assert len(in_trash) == 3
    assert set(in_trash) <= set(gone)
    assert {image: before[image] for image in in_trash} == in_trash
    assert photos_on_disk(world.root) == {k: v for k, v in before.items() if k not in in_trash}

    assert sync_json(world)["trashed"] == 1
    assert trashed_files(world.root) == {image: before[image] for image in gone}
    assert photos_on_disk(world.root) == world.truth()
    row = ledger_status(world)
    assert (row["removed"], row["downloaded"]) == (4, len(world.truth()))
    assert sync_json(world)["trashed"] == 0


@pytest.mark.slow
def test_keep_never_moves_removed_photos(world: World) -> None:
    sync_json(world)
    before = world.truth()
    for photo in world.sim.photos(world.event_id)[:3]:
        world.sim.remove_photo(world.event_id, photo.image_id)
    for _ in range(3):
        assert sync_json(world)["trashed"] == 0
    assert photos_on_disk(world.root) == before
    assert not (world.root / TRASH).exists()
    assert ledger_status(world)["removed"] == 0


def placements_of(root: Path, image_id: str) -> list[Path]:
    return sorted(p for p in root.rglob(f"{image_id}.jpg") if p.relative_to(root).parts[0] != TRASH)


@pytest.mark.slow
def test_verify_finds_bit_rot_and_repair_restores_it(world: World) -> None:
    write_config(world, events=[EventSpec(world.event_id, "1-300,A-17,0042,Bx9,42")])
    sync_json(world)
    truth = world.truth()
    image_id = next(i for i in truth if len(placements_of(world.root, i)) > 1)
    paths = placements_of(world.root, image_id)
    data = bytearray(paths[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    paths[0].write_bytes(bytes(data))  # hard links: every placement rots at once
    rels = {p.relative_to(world.root).as_posix() for p in paths}

    found = world.run("verify")
    assert found.returncode == 4, found.stdout
    assert {
        line.split("corrupt: ")[1] for line in found.stdout.splitlines() if "corrupt: " in line
    } == rels

    repaired = world.run("verify", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    report = json.loads(repaired.stdout)
    assert (report["requeued"], sorted(report["corrupt"])) == (1, sorted(rels))
    assert not any(p.exists() for p in paths)
    assert ledger_status(world)["pending"] == 1

    assert sync_json(world)["downloaded"] == 1
    assert all(sha256_of(p) == truth[image_id] for p in paths)
    assert photos_on_disk(world.root) == truth
    assert run_ok(world, "verify").returncode == 0


def test_status_knows_the_last_run_of_the_configured_events(world: World) -> None:
    sync_json(world)
    assert event_status(world)["last_run_ended_at"] is not None


def test_daemon_verifies_on_schedule_and_heals_bit_rot(world: World, daemons: Start) -> None:
    schedule = {**FAST_SCHEDULE, "verify_interval": "1s"}
    write_config(world, sections={"schedule": schedule, "health": HEALTH_ON})
    daemon = daemons(world)
    daemon.wait_cycles(1)
    victim = next(p for p in sorted(world.root.rglob("*.jpg")) if "_trash" not in p.parts)
    good = victim.read_bytes()
    victim.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # one flipped byte
    wait_until(
        lambda: _bytes_or_none(victim) == good,  # set aside, then fetched again: may be absent
        timeout=20,
        what="the rotten photo healed",
    )
    assert "1 corrupt" in daemon.log()
    assert daemon.stop() == 0


def _bytes_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
