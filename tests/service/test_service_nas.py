"""NAS behaviour of `syncer sync`: a missing root or marker, a full disk, no hard links."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import (
    World,
    expected_tree,
    files_under,
    make_world,
    photos_on_disk,
    run_ok,
    temp_files,
)
from harness.service import (
    EventSpec,
    ledger_status,
    write_config,
)
from syncer.root import MARKER_NAME

EXIT_STORAGE = 74
BIBS = "1-300,A-17,0042,Bx9,42"


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (files and folders), relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.slow
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


@pytest.mark.slow
def test_min_free_above_the_free_space_stops_before_any_write(world: World) -> None:
    run_ok(world, "sync", "--no-progress")
    world.sim.add_photos(world.event_id, 3)
    before = snapshot(world.root)
    known = ledger_status(world)["known"]
    write_config(world, storage={"min_free": "1000TiB"})
    result = world.run("sync", "--no-progress")
    assert result.returncode == EXIT_STORAGE, result.stderr
    assert "storage.min_free" in result.stderr
    assert snapshot(world.root) == before
    assert ledger_status(world)["known"] == known  # not even walked
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


@pytest.fixture
def big_world(tmp_path: Path) -> Iterator[World]:
    """Six photos of ~600 KB: bigger than the file size limit below, unlike the ledger."""
    yield from make_world(tmp_path, photos=6, size=600_000)


def test_file_size_limit_mid_run_is_a_storage_error_and_resumes(big_world: World) -> None:
    world = big_world
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
    row = ledger_status(world)
    assert (row["known"], row["downloaded"]) == (6, 0)  # walked: the write failed mid-run
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


WINDOWS_FORBIDDEN = re.compile(r'[<>:"\\|?*\x00-\x1f]')
WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?", re.IGNORECASE)


def windows_safe(name: str) -> bool:
    return not (
        WINDOWS_FORBIDDEN.search(name)
        or WINDOWS_RESERVED.fullmatch(name)
        or name.endswith((".", " "))
    )


def _try(argv: list[str]) -> str | None:
    """None when ``argv`` succeeded, else why not."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{argv[0]}: {exc}"
    return None if done.returncode == 0 else f"{argv[0]}: {done.stderr.strip()[:200]}"


def mount_vfat(image: Path, mountpoint: Path) -> tuple[list[str] | None, list[str]]:
    """Mount ``image``: the kernel driver (loop device), else FUSE ``fusefat``.

    Returns (unmount command, reasons it failed); the command is None when nothing worked.
    """
    reasons: list[str] = []
    if os.geteuid() == 0:
        why = _try(["mount", "-t", "vfat", "-o", "loop", str(image), str(mountpoint)])
        if why is None:
            return ["umount", str(mountpoint)], reasons
        reasons.append(why)
    else:
        reasons.append("mount -o loop needs root")
    if shutil.which("fusefat") and shutil.which("fusermount"):
        why = _try(["fusefat", "-o", "rw+", str(image), str(mountpoint)])
        if why is None:
            return ["fusermount", "-u", str(mountpoint)], reasons
        reasons.append(why)
    else:
        reasons.append("fusefat (apt: fusefat) is not installed")
    return None, reasons


@pytest.fixture
def vfat(tmp_path: Path) -> Iterator[Path]:
    """A freshly formatted FAT filesystem, mounted; skipped where none can be mounted."""
    if shutil.which("mkfs.vfat") is None:
        pytest.skip("mkfs.vfat (apt: dosfstools) is not installed")
    image, mountpoint = tmp_path / "fat.img", tmp_path / "fat"
    mountpoint.mkdir()
    with image.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    why = _try(["mkfs.vfat", "-n", "SYNCER", str(image)])
    if why is not None:
        pytest.skip(f"cannot format a FAT image: {why}")
    unmount, reasons = mount_vfat(image, mountpoint)
    if unmount is None:
        pytest.skip("cannot mount a FAT filesystem here: " + "; ".join(reasons))
    try:
        yield mountpoint
    finally:
        subprocess.run(unmount, capture_output=True, timeout=30, check=False)


@pytest.mark.slow
def test_sync_onto_a_real_vfat_filesystem(world: World, vfat: Path) -> None:
    root = vfat / "photos"
    odd = [p.image_id for p in world.sim.add_photos(world.event_id, 2, bibs=("CON", "a:b?"))]
    bibs = [str(n) for n in range(1, 301)] + ["A-17", "0042", "Bx9", "42"]
    spec = BIBS + ",CON,a:b?"
    write_config(world, events=[EventSpec(world.event_id, spec)], storage={"root": str(root)})
    first = run_ok(world, "sync", "--no-progress")
    assert "no hard links" in first.stderr
    stored = files_under(root)
    usual = {rel: sha for rel, sha in stored.items() if Path(rel).stem not in odd}
    assert usual == {r: s for r, s in expected_tree(world, bibs).items() if Path(r).stem not in odd}
    truth = world.truth()
    for image_id in odd:  # one file in each of its two (renamed) BIB folders
        mine = [sha for rel, sha in stored.items() if Path(rel).stem == image_id]
        assert mine == [truth[image_id]] * 2
    for path in root.rglob("*"):
        assert all(windows_safe(part) for part in path.relative_to(root).parts), path
    for paths in multi_bib_groups(root):
        assert {p.read_bytes() for p in paths} == {paths[0].read_bytes()}
    assert multi_bib_groups(root)
    assert not temp_files(root)
    again = json.loads(run_ok(world, "sync", "--json").stdout)
    assert (again["downloaded"], again["failed"]) == (0, 0)
    assert run_ok(world, "verify").returncode == 0
