"""``verify --repair`` says what it re-queued and what to do next; ``--sync`` does it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.e2e import World, files_under, run_ok


def damage_two(world: World) -> tuple[str, str]:
    run_ok(world, "sync")
    missing, corrupt = sorted(files_under(world.root))[:2]
    (world.root / missing).unlink()
    (world.root / corrupt).write_bytes(b"\xff\xd8\xff rotten")
    return missing, corrupt


def test_repair_counts_what_it_requeued_and_points_at_sync(world: World) -> None:
    missing, corrupt = damage_two(world)
    result = run_ok(world, "verify", "--repair")
    last = result.stdout.strip().splitlines()[-1]
    assert last == "re-queued 2 photos for download; run `syncer sync` to download them"
    assert f"missing: {missing}" in result.stdout
    assert f"corrupt: {corrupt}" in result.stdout
    assert missing not in files_under(world.root)
    assert json.loads(run_ok(world, "sync", "--json").stdout)["downloaded"] == 2
    assert files_under(world.root)[corrupt] == world.truth()[Path(corrupt).stem]
    clean = run_ok(world, "verify", "--repair")
    assert "re-queued" not in clean.stdout


def test_repair_with_sync_downloads_the_requeued_photos(world: World) -> None:
    missing, corrupt = damage_two(world)
    result = run_ok(world, "verify", "--sync")
    assert "re-queued 2 photos for download; downloading them now" in result.stdout
    assert "2 downloaded" in result.stdout
    on_disk = files_under(world.root)
    truth = world.truth()
    assert (on_disk[missing], on_disk[corrupt]) == (
        truth[Path(missing).stem],
        truth[Path(corrupt).stem],
    )
    assert run_ok(world, "verify").returncode == 0


def test_repair_with_sync_as_json_is_one_object(world: World) -> None:
    damage_two(world)
    data = json.loads(run_ok(world, "verify", "--repair", "--sync", "--json").stdout)
    assert data["requeued"] == 2
    assert data["sync"]["downloaded"] == 2
    assert data["sync"]["exit_code"] == 0


def test_sync_is_skipped_when_nothing_was_requeued(world: World) -> None:
    run_ok(world, "sync")
    world.sim.stop()  # any attempt to reach the API would now fail
    data = json.loads(run_ok(world, "verify", "--sync", "--json").stdout)
    assert data["requeued"] == 0
    assert "sync" not in data
