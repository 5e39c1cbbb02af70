"""`syncer sync` against a distant store: API calls and storage bodies answer late.

Through the CLI in a subprocess: the download concurrency starts at 8 and grows while the
store's latency, not the machine, bounds the throughput; status shows where it stands.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import World, expected_tree, files_under, make_world, run_ok, temp_files
from syncer.sim import Faults

API_DELAY = 0.08
STORAGE_DELAY = 0.05  # before the first byte of every photo


@pytest.fixture
def distant(tmp_path: Path) -> Iterator[World]:
    faults = Faults(slow_api_seconds=API_DELAY, slow_storage_seconds=STORAGE_DELAY)
    yield from make_world(tmp_path, photos=400, size=4_000, faults=faults)


def test_a_distant_store_gets_more_downloads_at_once(distant: World) -> None:
    world = distant
    text = world.config.read_text(encoding="utf-8")  # the harness pins workers: unpin them
    world.config.write_text(text.replace("workers = 4\n", ""), encoding="utf-8")
    result = run_ok(world, "sync", "--json", "-v", "--event", str(world.event_id))
    data = json.loads(result.stdout)
    assert data["downloaded"] == len(world.truth())
    assert files_under(world.root) == expected_tree(world, [])
    assert not temp_files(world.root)
    steps = [
        (int(a), int(b)) for a, b in re.findall(r"downloads at once: (\d+) -> (\d+)", result.stderr)
    ]
    assert steps, result.stderr[-3000:]
    assert steps[0] == (8, 16)  # the first measurement pays: the climb doubles
    status = json.loads(run_ok(world, "status", "--json").stdout)
    row = next(row for row in status if row["event_id"] == world.event_id)
    assert row["concurrency"] == steps[-1][1]  # the last target, as the ledger recorded it
    assert 4 <= row["concurrency"] <= 32


def test_downloads_start_while_the_walk_still_pages(tmp_path: Path) -> None:
    faults = Faults(slow_api_seconds=0.15)
    for world in make_world(tmp_path, photos=1_000, size=1_000, faults=faults):
        world.write_config(extra="")
        text = world.config.read_text(encoding="utf-8")
        world.config.write_text(  # two API calls at once: the walk takes about 5 x 0.15 s
            text.replace("[api]\n", "[api]\nmax_concurrency = 2\n"), encoding="utf-8"
        )
        data = json.loads(run_ok(world, "sync", "--json", "--event", str(world.event_id)).stdout)
        assert data["downloaded"] == len(world.truth()) == 1_000
        assert files_under(world.root) == expected_tree(world, [])
        stats = world.sim.stats
        _, last_page = stats.api_window["images"]
        assert stats.storage_window is not None
        first_body, _ = stats.storage_window
        assert first_body < last_page  # a photo was fetched before the walk asked its last page


def test_downloads_run_while_the_bibs_are_searched(tmp_path: Path) -> None:
    """With a BIB list, photos download during the BIB searches too; one found by a search
    after its download moves from ``_no_bib`` to its BIB folders: the tree ends as a
    sequential sync would leave it, and no photo is downloaded twice."""
    bibs = [str(n) for n in range(1, 151)]
    faults = Faults(slow_api_seconds=0.05)
    for world in make_world(tmp_path, photos=200, size=1_000, faults=faults):
        world.write_config(bibs="1-150")
        text = world.config.read_text(encoding="utf-8")
        world.config.write_text(  # two API calls at once: 150 searches take about 4 s
            text.replace("[api]\n", "[api]\nmax_concurrency = 2\n"), encoding="utf-8"
        )
        data = json.loads(run_ok(world, "sync", "--json", "--event", str(world.event_id)).stdout)
        assert data["downloaded"] == len(world.truth()) == 200
        assert data["relinked"] > 0  # some were downloaded before a search found their BIB
        assert files_under(world.root) == expected_tree(world, bibs)
        assert not temp_files(world.root)
        stats = world.sim.stats
        assert set(stats.full_downloads.values()) == {1}  # each photo fetched once
        _, last_search = stats.api_window["bibs"]
        assert stats.storage_window is not None
        assert stats.storage_window[0] < last_search  # photos came before the searches ended
        assert json.loads(run_ok(world, "sync", "--json").stdout)["downloaded"] == 0
        assert files_under(world.root) == expected_tree(world, bibs)
