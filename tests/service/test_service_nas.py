"""NAS behaviour of `syncer sync`: a missing root or marker, a full disk, no hard links."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_fixtures import World, files_under, make_world, run_ok, temp_files
from service_fixtures import EventSpec, event_status, photos_on_disk, write_config

from syncer.root import MARKER_NAME

EXIT_STORAGE = 74
BIBS = "1-300,A-17,0042,Bx9,42"


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (files and folders), relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_missing_root_or_marker_refuses_to_write_then_resumes(world: World) -> None:
    run_ok(world, "sync", "--no-progress")
    added = {p.image_id for p in world.sim.add_photos(world.event_id, 2)}
    away = world.tmp / "photos-unmounted"
    world.root.rename(away)
    result = world.run("sync", "--no-progress")
    assert result.returncode == EXIT_STORAGE, result.stderr
    assert "is missing" in result.stderr
    assert not world.root.exists()
    away.rename(world.root)

    before = snapshot(world.root)
    (world.root / MARKER_NAME).unlink()
    result = world.run("sync", "--no-progress")
    assert result.returncode == EXIT_STORAGE, result.stderr
    assert MARKER_NAME in result.stderr
    assert snapshot(world.root) == before - {MARKER_NAME}

    (world.root / MARKER_NAME).write_text("restored\n")
    run_ok(world, "sync", "--no-progress")
    stored = photos_on_disk(world.root)
    assert stored == world.truth()
    assert added <= stored.keys()


def test_min_free_above_the_free_space_stops_before_any_write(world: World) -> None:
    run_ok(world, "sync", "--no-progress")
    world.sim.add_photos(world.event_id, 3)
    before = snapshot(world.root)
    known = event_status(world)["known"]
    write_config(world, storage={"min_free": "1000TiB"})
    result = world.run("sync", "--no-progress")
    assert result.returncode == EXIT_STORAGE, result.stderr
    assert "storage.min_free" in result.stderr
    assert snapshot(world.root) == before
    assert event_status(world)["known"] == known  # not even walked
    write_config(world)
    run_ok(world, "sync", "--no-progress")
    assert photos_on_disk(world.root) == world.truth()


def with_file_size_limit(limit: int, argv: list[str]) -> list[str]:
    """``argv`` run under RLIMIT_FSIZE = ``limit`` bytes (set in a tiny wrapper, then exec)."""
    code = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", code, *argv]


def test_file_size_limit_mid_run_is_a_storage_error_and_resumes(tmp_path: Path) -> None:
    for world in make_world(tmp_path, photos=6, size=600_000):
        run_ok(world, "db", "upgrade")  # the ledger exists before the limit applies
        result = subprocess.run(
            with_file_size_limit(400_000, world.command("sync", "--no-progress")),
            env=world.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == EXIT_STORAGE, result.stderr
        assert "disk is full" in result.stderr
        assert "Traceback" not in result.stderr
        assert not temp_files(world.root)
        assert files_under(world.root) == {}
        row = event_status(world)
        assert (row["known"], row["downloaded"]) == (6, 0)
        run_ok(world, "sync", "--no-progress")
        assert photos_on_disk(world.root) == world.truth()


def multi_bib_groups(root: Path) -> list[list[Path]]:
    """The files of every photo stored in more than one BIB folder."""
    groups: dict[str, list[Path]] = {}
    for path in root.rglob("*.jpg"):
        if not path.relative_to(root).parts[0].startswith((".", "_trash")):
            groups.setdefault(path.stem, []).append(path)
    return [paths for paths in groups.values() if len(paths) > 1]


def test_links_copy_gives_independent_identical_files(world: World) -> None:
    write_config(world, events=[EventSpec(world.event_id, BIBS)], storage={"links": "copy"})
    run_ok(world, "sync", "--no-progress")
    groups = multi_bib_groups(world.root)
    assert groups, "the simulated event should have photos with several BIBs"
    truth = world.truth()
    for paths in groups:
        assert len({p.stat().st_ino for p in paths}) == len(paths)
        assert all(p.stat().st_nlink == 1 for p in paths)
        assert {p.read_bytes() for p in paths} == {
            world.sim.photo_path(world.event_id, paths[0].stem).read_bytes()
        }
        assert paths[0].stem in truth
    assert photos_on_disk(world.root) == truth
