"""Several nodes on one PostgreSQL ledger: real CLI processes, one simulator, one root."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from postgres_server import PostgresServer

from harness.e2e import World, expected_tree, files_under, make_world, run_ok, temp_files
from harness.nodes import (
    NODE_NAMES,
    claimed_by,
    downloaded_count,
    finish,
    full_downloads,
    nodes,
    start_node,
    status_json,
    temp_folders,
)
from harness.waiting import wait_until
from syncer.ledger import Ledger


@pytest.fixture
def shared(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[World]:
    """60 photos whose bodies take a quarter of a second each, on an empty PostgreSQL ledger."""
    for world in make_world(tmp_path, photos=60, size=20_000):
        world.sim.faults.storage_bytes_per_second = 80_000
        world.ledger_url = postgres_url
        world.write_config()
        run_ok(world, "db", "upgrade")
        yield world


def check_complete(world: World) -> None:
    """Every photo in place with the right bytes, verified, each body fetched exactly once."""
    truth = world.truth()
    assert files_under(world.root) == expected_tree(world, [])
    assert not temp_files(world.root)
    assert run_ok(world, "verify").returncode == 0
    served = full_downloads(world)
    assert set(served) == set(truth)
    assert sum(served.values()) == len(truth)  # not one photo downloaded twice


def test_three_syncs_share_the_work_and_download_each_photo_once(shared: World) -> None:
    world = shared
    with nodes(world, "sync", "--json") as started:
        results = {name: finish(process) for name, process in started.items()}
    for name, (code, out, err) in results.items():
        assert code == 0, (name, out, err)
    reports = {name: json.loads(out) for name, (_, out, _) in results.items()}
    check_complete(world)
    assert sum(r["downloaded"] for r in reports.values()) == len(world.truth())
    assert sum(r["downloaded"] > 0 for r in reports.values()) >= 2  # the work was shared
    assert temp_folders(world.root) == sorted(NODE_NAMES)

    (row,) = status_json(world)
    assert (row["known"], row["downloaded"], row["pending"]) == (60, 60, 0)
    shown = {node["name"]: node for node in row["nodes"]}  # type: ignore[attr-defined]
    assert sorted(shown) == sorted(NODE_NAMES)
    assert all(node["claimed"] == 0 and node["downloading"] == 0 for node in shown.values())
    text = run_ok(world, "status").stdout
    assert all(f"node {name}: 0 claimed, 0 downloading, last seen" in text for name in NODE_NAMES)


def test_the_same_node_name_twice_is_refused_with_exit_75(shared: World) -> None:
    world = shared
    world.sim.faults.storage_bytes_per_second = 20_000  # a second per body: still working
    with nodes(world, "sync", names=["node-a"]) as started:
        wait_until(lambda: claimed_by(world, "node-a"), timeout=60, what="node-a to claim")
        second = start_node(world, "node-a", "sync")
        code, _, err = finish(second)
        started["node-a"].send_signal(signal.SIGINT)
        finish(started["node-a"])
    assert code == 75
    assert err.splitlines()[0].startswith("syncer: error: node 'node-a' is already working")
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_killed_node_leaves_its_photos_to_the_others_after_its_lease(shared: World) -> None:
    world = shared
    world.sim.faults.storage_bytes_per_second = 20_000  # a second per body
    with nodes(world, "sync", "--json", lease="3s") as started:
        wait_until(lambda: claimed_by(world, "node-a"), timeout=60, what="node-a to claim")
        wait_until(lambda: downloaded_count(world) >= 8, timeout=60, what="a few downloads")
        held = claimed_by(world, "node-a")
        started["node-a"].send_signal(signal.SIGKILL)
        killed = started.pop("node-a")
        killed.communicate(timeout=10)  # reaped, its pipes closed
        results = {name: finish(process) for name, process in started.items()}
    for name, (code, out, err) in results.items():
        assert code == 0, (name, out, err)
    assert held  # node-a died holding claims, which the others took over once they lapsed
    truth = world.truth()
    assert files_under(world.root) == expected_tree(world, [])
    assert run_ok(world, "verify").returncode == 0
    served = full_downloads(world)
    assert set(served) == set(truth)
    # a body node-a had received in full but not yet put in place is fetched once more
    assert all(n == 1 for n in served.values()) or sum(served.values()) <= len(truth) + len(held)
    assert not claimed_by(world, "node-b")
    assert not claimed_by(world, "node-c")
    # node-a's partial files stay in its own folder until node-a starts again
    assert [p.parent.name for p in temp_files(world.root)] == ["node-a"] * len(
        temp_files(world.root)
    )
    code, out, err = finish(start_node(world, "node-a", "sync"))
    assert code == 0, (out, err)
    assert not temp_files(world.root)


@pytest.mark.slow
def test_three_daemons_share_the_work_and_download_each_photo_once(shared: World) -> None:
    world = shared
    world.write_config(extra='[schedule]\ninterval = "2s"\njitter = "0s"\nactive_interval = "2s"\n')
    with nodes(world, "daemon") as started:
        wait_until(
            lambda: downloaded_count(world) == len(world.truth()), timeout=60, what="every photo"
        )
        for process in started.values():
            process.send_signal(signal.SIGTERM)
        results = {name: finish(process) for name, process in started.items()}
    for name, (code, _, err) in results.items():
        assert code in (0, 143), (name, err)
        assert "Traceback" not in err
    check_complete(world)


def test_a_selection_waits_while_another_node_keeps_the_event(shared: World) -> None:
    """``--only`` (and a window) on a node that cannot take the event's upkeep skips the event
    with one line, instead of downloading every photo other nodes left due."""
    world = shared
    assert world.ledger_url is not None
    now = datetime.now(UTC)
    with (
        Ledger.open(world.ledger_url) as holder,
        holder.joined("node-z", timedelta(minutes=1), now),
        holder.event_upkeep(world.event_id) as held,
    ):
        assert held
        only = finish(start_node(world, "node-b", "sync", "--bibs", "1", "--only"))
        window = finish(start_node(world, "node-b", "sync", "--from", "2026-01-01"))
    for code, out, err in (only, window):
        assert code == 4, (out, err)
        assert "another node walks this event now" in out + err
    assert full_downloads(world) == {}
