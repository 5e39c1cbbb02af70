"""Kill `syncer sync` with SIGKILL at many moments; the rerun must leave a perfect archive.

The kill points are drawn from a seeded RNG over the whole length of a reference run, which is
slowed down (API and storage delays in the simulator) so that walk, presign, download, rename and
ledger commits each take a visible share of it.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import World, files_under, make_world, run_ok, temp_files
from syncer.ledger import Ledger
from syncer.sim import Faults
from syncer.verify import verify

KILL_POINTS = 20
KILL_SHARES = 4  # tests the moments are shared among, run at once
SEED = 20261129


@pytest.fixture
def slow_world(tmp_path: Path) -> Iterator[World]:
    faults = Faults()
    faults.slow_api_seconds = 0.02
    faults.slow_storage_seconds = 0.02
    yield from make_world(tmp_path, photos=150, size=30_000, faults=faults)


def reset(world: World) -> None:
    shutil.rmtree(world.root, ignore_errors=True)
    shutil.rmtree(world.ledger.parent, ignore_errors=True)


def check_archive(
    world: World, complete_before: dict[str, str], served_before: dict[str, int]
) -> None:
    """Every photo right, nothing temp, ledger == disk, nothing complete fetched again."""
    truth = world.truth()
    stored = files_under(world.root)
    assert {Path(rel).stem: sha for rel, sha in stored.items()} == truth
    assert not temp_files(world.root)
    with Ledger.open(world.ledger) as ledger:
        row = next(r for r in ledger.status() if r.event_id == world.event_id)
        assert (row.downloaded, row.pending, row.failed) == (len(truth), 0, 0)
        checked = verify(ledger, world.root)
    assert (checked.photos, checked.missing, checked.corrupt) == (len(truth), [], [])
    served = world.sim.stats.snapshot()["objects_served"]
    fetched_again = [i for i in complete_before if served.get(i, 0) > served_before.get(i, 0)]
    assert fetched_again == []


@pytest.mark.slow
@pytest.mark.parametrize("share", range(KILL_SHARES))
def test_sigkill_at_many_moments_then_rerun(slow_world: World, share: int) -> None:
    """``KILL_POINTS`` moments spread over a whole sync, in ``KILL_SHARES`` tests that run at
    once (each kills at every ``KILL_SHARES``-th moment, so each spans the whole run)."""
    world = slow_world
    started = time.monotonic()
    run_ok(world, "sync", "--no-progress")
    reference = time.monotonic() - started
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.05, 0.95) for _ in range(KILL_POINTS))[share::KILL_SHARES]
    for delay in (point * reference for point in points):
        reset(world)
        with world.start("sync", "--no-progress") as process:  # its pipes are closed after
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        complete_before = (
            {
                Path(rel).stem: sha
                for rel, sha in files_under(world.root).items()
                if world.truth().get(Path(rel).stem) == sha
            }
            if world.root.exists()
            else {}
        )
        served_before = world.sim.stats.snapshot()["objects_served"]
        rerun = world.run("sync", "--no-progress")
        assert rerun.returncode == 0, (delay, rerun.stderr)
        check_archive(world, complete_before, served_before)


def test_sigterm_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    faults = Faults()
    faults.slow_storage_seconds = 0.05
    for world in make_world(tmp_path, photos=120, size=30_000, faults=faults):
        process = world.start("sync", "--no-progress", "--json")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(files_under(world.root)) < 10:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        out, err = process.communicate(timeout=30)
        assert time.monotonic() - stopped_at < 10
        assert process.returncode == 143, err  # 128 + SIGTERM: stopped, not done
        summary = json.loads(out)
        assert summary["interrupted"] is True
        assert 0 < summary["downloaded"] < 120
        assert not temp_files(world.root)
        world.sim.faults.slow_storage_seconds = 0.0
        run_ok(world, "sync")
        assert {Path(r).stem: s for r, s in files_under(world.root).items()} == world.truth()
