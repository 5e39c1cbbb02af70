"""Faults of the presigned links and of the storage host, end to end through `syncer sync`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from harness.reliability import (
    World,
    all_files,
    assert_complete,
    assert_no_bad_photo,
    build_world,
    configure,
    files_under,
    in_parallel,
    ledger_counts,
    status_row,
    sync,
)
from syncer.sim import Faults


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, photos=30)


def test_links_expired_on_first_use_are_presigned_again(world: World) -> None:
    world.sim.faults.expire_first_presign = True
    sync(world)
    stats = world.sim.stats
    assert stats.errors_served.get(403) == len(world.truth())  # every first link refused
    assert stats.urls_issued >= 2 * len(world.truth())
    assert_complete(world)


def test_connections_dropped_mid_body_are_never_saved_and_retried(world: World) -> None:
    world.sim.faults.drop_mid_body_every = 3
    report = sync(world).json()  # every cut body is tried again within the same run
    assert world.sim.stats.storage_requests > len(world.truth())  # some bodies were cut
    assert report["retries"] > 0
    assert_complete(world)


def test_failed_and_silently_dropped_links_complete_in_the_same_run(world: World) -> None:
    world.sim.faults.failed_every = 4
    world.sim.faults.drop_ids_every = 5
    report = sync(world).json()
    assert report["downloaded"] == len(world.truth())
    assert report["failed"] == 0
    assert report["retries"] > 0
    assert ledger_counts(world.ledger) == {"downloaded": len(world.truth())}
    assert_complete(world)


def _never_stored(tmp: Path, mode: str) -> None:
    for world in build_world(tmp, photos=20, faults=Faults(corrupt_storage=mode)):
        report = sync(world, expect=(4,)).json()  # every storage GET is bad (corrupt_every = 1)
        assert report["downloaded"] == 0
        assert report["failed"] == len(world.truth())
        assert not [p for p in all_files(world.root) if p.name != ".syncer-root"]
        assert ledger_counts(world.ledger) == {"failed": len(world.truth())}
        world.sim.faults.reset()
        sync(world)
        assert_complete(world)


@pytest.mark.slow
def test_bad_storage_bodies_are_never_stored_as_photos(tmp_path: Path) -> None:
    """HTML with 200, a body shorter than Content-Length, a text/html Content-Type."""
    modes = ("html200", "short", "ctype")
    in_parallel({mode: partial(_never_stored, tmp_path / mode, mode) for mode in modes})


def test_body_longer_than_content_length_is_never_stored(tmp_path: Path) -> None:
    _never_stored(tmp_path, "long")


def _never_linked(world: World) -> str:
    """Make one photo's link fail forever; a run gives up on it after two tries."""
    configure(world, download={"max_attempts": 2, "retry_base": "1h"})
    victim = sorted(world.truth())[0]
    world.sim.faults.failed_ids = {victim}
    return victim


def test_photo_that_never_gets_a_link_is_deferred_and_reported(world: World) -> None:
    victim = _never_linked(world)
    first = sync(world, expect=(4,)).json()
    assert (first["downloaded"], first["failed"]) == (len(world.truth()) - 1, 1)
    assert [d["image_id"] for d in first["deferred"]] == [victim]
    calls = world.sim.stats.presign_calls
    again = world.run("sync")  # a one-shot sync tries a failed photo again at once
    assert again.returncode == 4
    assert "failed x1: no download link" in again.stdout
    assert f"{victim}: next try " in again.stdout
    assert world.sim.stats.presign_calls > calls
    row = status_row(world)
    assert (row["downloaded"], row["failed"], row["unavailable"]) == (
        len(world.truth()) - 1,
        1,
        0,
    ), row
    calls = world.sim.stats.presign_calls
    sync(world, "--no-retry-failed")  # the deferred photo waits for its time
    assert world.sim.stats.presign_calls == calls
    assert victim not in {Path(rel).stem for rel in files_under(world.root)}
    assert assert_no_bad_photo(world) == len(world.truth()) - 1
    world.sim.faults.reset()
    sync(world)
    assert_complete(world)


def test_run_that_gives_up_on_a_photo_exits_4(world: World) -> None:
    _never_linked(world)
    sync(world, expect=(4,))
    sync(world, expect=(4,))
