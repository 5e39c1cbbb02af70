"""Faults on the machine: a full disk, a missing or read-only root, a busy or foreign ledger."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import sha256_of
from harness.reliability import (
    Gate,
    Outcome,
    World,
    all_files,
    assert_complete,
    assert_no_bad_photo,
    assert_one_line_error,
    build_world,
    configure,
    file_size_limit,
    files_under,
    ledger_counts,
    sync,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, photos=20)


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) -> sha256."""
    return {str(p.relative_to(root)): sha256_of(p) for p in all_files(root)}


def assert_consistent(world: World) -> int:
    """Files on disk are right, none is temp, and the ledger counts exactly those as done."""
    stored = assert_no_bad_photo(world)
    assert ledger_counts(world.ledger).get("downloaded", 0) == stored
    return stored


# -- a full disk ------------------------------------------------------------------------------


def test_file_size_limit_stops_with_74_and_no_partial_file(tmp_path: Path) -> None:
    limit = file_size_limit(600_000)  # above the ledger and its WAL, below one photo
    for world in build_world(tmp_path, photos=6, size=1_000_000):
        out = sync(world, expect=(74,), launcher=limit)
        assert_one_line_error(out, 74, "full")
        assert assert_consistent(world) == 0
        sync(world)
        assert_complete(world)


def test_min_free_above_the_free_space_stops_before_writing(world: World) -> None:
    configure(world, storage={"min_free": "1000TiB"})
    out = sync(world, expect=(74,))
    assert_one_line_error(out, 74, "min_free")
    assert world.sim.stats.storage_requests == 0
    assert assert_consistent(world) == 0
    configure(world)
    sync(world)
    assert_complete(world)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_full_tmpfs_stops_with_74_then_resumes_when_space_is_back(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    for world in build_world(tmp_path, photos=30, size=200_000):
        root = small_tmpfs / "photos"
        configure(world, storage={"root": str(root), "min_free": 0})
        out = sync(world, expect=(74,))
        assert_one_line_error(out, 74, "full")
        stored = [p for p in all_files(root) if p.suffix == ".jpg"]
        assert 0 < len(stored) < len(world.truth())
        assert ledger_counts(world.ledger)["downloaded"] == len(files_under(root))
        assert not [p for p in all_files(root) if p.name.endswith(".part")]
        assert all(world.truth()[p.stem] == sha256_of(p) for p in stored)
        subprocess.run(["mount", "-o", "remount,size=20m", str(small_tmpfs)], check=True)
        sync(world)
        assert {Path(r).stem: s for r, s in files_under(root).items()} == world.truth()


# -- the root ---------------------------------------------------------------------------------


def test_root_under_a_regular_file_is_refused(world: World) -> None:
    blocker = world.tmp / "not-a-folder"
    blocker.write_text("a file, not a folder\n")
    configure(world, storage={"root": str(blocker / "photos")})
    out = sync(world, expect=(74,))
    assert_one_line_error(out, 74, str(blocker / "photos"), "is not a folder")
    assert blocker.read_text() == "a file, not a folder\n"
    assert world.sim.stats.storage_requests == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], check=False)
    if bound.returncode != 0:
        pytest.skip("cannot bind-mount here (no mount privilege)")
    try:
        done = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, check=False
        )
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_root_is_refused_with_74(world: World) -> None:
    sync(world)
    world.sim.add_photos(world.event_id, 5)
    before = tree(world.root)
    with read_only(world.root):
        out = sync(world, expect=(74,))
        assert_one_line_error(out, 74, str(world.root))
        assert tree(world.root) == before
    assert assert_consistent(world) == len(world.truth()) - 5
    sync(world)
    assert_complete(world)


def test_root_gone_after_a_first_sync_writes_nothing(world: World) -> None:
    sync(world)
    world.sim.add_photos(world.event_id, 5)
    moved = world.tmp / "unmounted-nas"
    world.root.rename(moved)
    out = sync(world, expect=(74,))
    assert_one_line_error(out, 74, "missing")
    assert not world.root.exists()
    moved.rename(world.root)
    sync(world)
    assert_complete(world)


def test_root_without_its_marker_writes_nothing(world: World) -> None:
    sync(world)
    world.sim.add_photos(world.event_id, 5)
    (world.root / ".syncer-root").unlink()
    before = tree(world.root)
    out = sync(world, expect=(74,))
    assert_one_line_error(out, 74, ".syncer-root")
    assert tree(world.root) == before
    assert world.sim.stats.storage_requests == len(world.truth()) - 5


# -- the ledger -------------------------------------------------------------------------------


def test_second_syncer_on_the_same_ledger_exits_75_naming_the_pid(tmp_path: Path) -> None:
    gate = Gate()
    for world in build_world(tmp_path, sleep=gate):
        sync(world)  # the ledger exists: a syncer locks it before its first API call
        world.sim.add_photos(world.event_id, 5)
        world.sim.faults.slow_api_seconds = 0.01
        first = world.start("sync", "--no-progress")
        try:
            assert gate.reached(), "the first syncer never called the API"  # it holds the lock
            out = sync(world, expect=(75,))
            assert_one_line_error(out, 75, f"pid {first.pid}")
            assert first.poll() is None, "the first syncer should still be running"
        finally:
            gate.opened.set()
            _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert_complete(world)


def _foreign_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE guests (name TEXT)")
        connection.execute("INSERT INTO guests VALUES ('Ada')")
    connection.close()


@pytest.mark.parametrize("kind", ["random bytes", "foreign sqlite"])
def test_unusable_ledger_file_is_refused_and_left_untouched(world: World, kind: str) -> None:
    world.ledger.parent.mkdir(parents=True)
    if kind == "random bytes":
        world.ledger.write_bytes(random.Random(7).randbytes(64 * 1024))
    else:
        _foreign_sqlite(world.ledger)
    before = sha256_of(world.ledger)
    words = ("not a database",) if kind == "random bytes" else ("not a syncer ledger",)
    for command in (("sync", "--json"), ("status",)):
        out = Outcome.of(world.start(*command))
        assert_one_line_error(out, 74, str(world.ledger), *words)
        assert sha256_of(world.ledger) == before
    assert sorted(p.name for p in world.ledger.parent.iterdir()) == sorted(
        [world.ledger.name, world.ledger.name + ".lock"]
    )
    assert world.sim.stats.api_requests == 0
    assert not world.root.exists()
