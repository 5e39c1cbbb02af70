"""A storage root that is a regular file: one message, exit 74, whatever the ledger holds."""

from __future__ import annotations

import shutil
import subprocess

from harness.e2e import World, run_ok
from syncer.ledger import Ledger


def assert_root_is_a_file(world: World, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 74, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncer: error:")]
    assert errors == [f"syncer: error: storage root {world.root} is a file"], result.stderr
    assert world.root.read_text() == "not a folder"


def test_a_root_that_is_a_file_before_the_first_sync(world: World) -> None:
    world.root.write_text("not a folder")
    assert_root_is_a_file(world, world.run("sync"))


def test_a_root_that_is_a_file_after_downloads(world: World) -> None:
    run_ok(world, "sync")
    shutil.rmtree(world.root)
    world.root.write_text("not a folder")
    assert_root_is_a_file(world, world.run("sync"))
    assert_root_is_a_file(world, world.run("verify", "--repair"))


def test_verify_refuses_a_vanished_root_instead_of_requeueing_everything(world: World) -> None:
    run_ok(world, "sync")
    shutil.rmtree(world.root)
    result = world.run("verify", "--repair")
    assert result.returncode == 74, (result.stdout, result.stderr)
    assert f"storage root {world.root} is missing; is the NAS mounted?" in result.stderr
    with Ledger.open(world.ledger, create=False) as ledger:
        (row,) = ledger.status(world.event_id)
    assert (row.downloaded, row.pending) == (len(world.truth()), 0)
