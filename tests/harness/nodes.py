"""Several syncer nodes on one PostgreSQL ledger: one simulator, one root, one process each."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness.e2e import World
from harness.ledger import query

NODE_NAMES = ("node-a", "node-b", "node-c")


def start_node(world: World, name: str, *args: str, lease: str = "60s") -> subprocess.Popen[str]:
    """The real CLI as node ``name`` (``node.name`` and ``node.lease`` from the environment)."""
    env = {**world.env(), "SYNCER_NODE__NAME": name, "SYNCER_NODE__LEASE": lease}
    return subprocess.Popen(
        world.command(*args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def nodes(
    world: World, *args: str, names: Sequence[str] = NODE_NAMES, lease: str = "60s"
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """One process per name, killed on the way out if still running."""
    started = {name: start_node(world, name, *args, lease=lease) for name in names}
    try:
        yield started
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def full_downloads(world: World) -> dict[str, int]:
    """image id -> complete bodies served, as ``GET /_sim/stats`` tells it."""
    return dict(world.sim.stats.snapshot()["full_downloads"])


def claimed_by(world: World, name: str) -> list[int]:
    """Ids of the photos ``name`` holds a claim on now (lease not checked)."""
    assert world.ledger_url is not None
    rows = query(world.ledger_url, "SELECT id, claimed_by FROM photos")
    return [int(photo_id) for photo_id, holder in rows if holder == name]


def downloaded_count(world: World) -> int:
    assert world.ledger_url is not None
    rows = query(world.ledger_url, "SELECT count(*) FROM photos WHERE state = 'downloaded'")
    return int(rows[0][0])


def status_json(world: World) -> list[dict[str, object]]:
    result = world.run("status", "--json")
    assert result.returncode == 0, result.stderr
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def temp_folders(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".syncer-tmp").iterdir() if p.is_dir())
