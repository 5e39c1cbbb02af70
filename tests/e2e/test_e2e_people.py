"""People folders (FaceFind) and Motion clips through the real CLI against the simulator."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import World, make_world, run_ok
from syncer.layout import NameRules, event_dirname
from syncer.sim import Faults
from syncer.sim.mp4 import boxes
from syncer.sim.selfie import selfie_jpeg


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, photos=40, faults=Faults(clip_polls=1))


def _bib_of(world: World) -> str:
    """A BIB that some but not all photos of the event carry."""
    counts: dict[str, int] = {}
    for photo in world.sim.photos(world.event_id):
        for bib in photo.bibs:
            counts[bib] = counts.get(bib, 0) + 1
    return max(sorted(counts), key=lambda bib: counts[bib])


def _selfie(world: World, bib: str, name: str = "ana.jpg") -> Path:
    path = world.tmp / name
    path.write_bytes(selfie_jpeg([bib]))
    return path


def _matched(world: World, bib: str) -> set[str]:
    return {
        p.image_id
        for p in world.sim.photos(world.event_id)
        if bib.casefold() in {b.casefold() for b in p.bibs}
    }


def _top(world: World) -> Path:
    event = next(e for e in world.sim.events() if e.event_id == world.event_id)
    return world.root / event_dirname(event.event_id, event.slug, NameRules())


def _people_config(world: World, selfie: Path, *, clips: bool = False) -> None:
    extra = (
        "[[events.people]]\n"
        'name = "Ana"\n'
        f'selfie = "{selfie}"\n'
        f"clips = {'true' if clips else 'false'}\n"
    )
    world.write_config(extra=extra)


def _calls(world: World, route: str) -> int:
    calls: int = world.sim.stats.snapshot()["api_by_route"].get(route, 0)
    return calls


def _status_people(world: World) -> list[dict[str, object]]:
    rows = json.loads(run_ok(world, "status", "--json").stdout)
    row = next(r for r in rows if r["event_id"] == world.event_id)
    people: list[dict[str, object]] = row["people"]
    return people


def test_people_folder_is_complete_and_hard_linked(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib))
    run_ok(world, "sync")
    wanted = _matched(world, bib)
    folder = _top(world) / "_people" / "Ana"
    assert {p.stem for p in folder.glob("*.jpg")} == wanted
    for image_id in wanted:
        main = _top(world) / "_no_bib" / f"{image_id}.jpg"
        assert os.path.samefile(main, folder / f"{image_id}.jpg")
    assert world.sim.stats.downloaded_more_than_once() == {}
    assert _status_people(world) == [
        {"person": "Ana", "matches": len(wanted), "placed": len(wanted), "pending": 0, "clips": 0}
    ]
    posts = _calls(world, "faces_search")
    assert posts == 1
    again = run_ok(world, "sync")
    assert "person Ana: no new photos to search" in again.stdout
    assert _calls(world, "faces_search") == posts


@pytest.mark.slow
def test_selfie_flag_links_photos_already_on_disk(world: World) -> None:
    run_ok(world, "sync")
    served = sum(world.sim.stats.full_downloads.values())
    bib = _bib_of(world)
    selfie = _selfie(world, bib, "bea.jpg")
    result = run_ok(world, "sync", "--selfie", str(selfie))
    assert sum(world.sim.stats.full_downloads.values()) == served  # nothing downloaded again
    folder = _top(world) / "_people" / "bea"
    assert {p.stem for p in folder.glob("*.jpg")} == _matched(world, bib)
    assert f"person bea: {len(_matched(world, bib))} new matches" in result.stdout


@pytest.mark.slow
def test_later_cycle_with_new_photos_searches_again_and_keeps_matches(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib))
    run_ok(world, "sync")
    before = _matched(world, bib)
    world.sim.add_photos(world.event_id, 3, bibs=[bib])
    result = run_ok(world, "sync")
    after = _matched(world, bib)
    assert len(after) == len(before) + 3
    folder = _top(world) / "_people" / "Ana"
    assert {p.stem for p in folder.glob("*.jpg")} == after
    assert "person Ana: 3 new matches" in result.stdout


@pytest.mark.slow
def test_clips_are_complete_verified_and_not_fetched_again(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib), clips=True)
    first = run_ok(world, "sync")
    clips = sorted((_top(world) / "_people" / "Ana" / "clips").iterdir())
    served = world.sim.stats.snapshot()["clip_downloads"]
    assert clips, first.stdout
    assert len(clips) == len(served)
    for clip in clips:
        blob = clip.read_bytes()
        assert blob[4:8] == b"ftyp"
        assert sum(size for _, size in boxes(blob)) == len(blob)
    assert world.sim.stats.storage_requests_with_api_key == 0
    assert _status_people(world)[0]["clips"] == len(clips)
    assert _calls(world, "clip_start") == 1
    second = run_ok(world, "sync")
    assert world.sim.stats.snapshot()["clip_downloads"] == served
    assert _calls(world, "clip_start") == 1  # no second job: its clips are all stored
    assert "FAILED" not in second.stdout


@pytest.mark.slow
def test_clips_deleted_or_rotten_are_found_and_fetched_again(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib), clips=True)
    run_ok(world, "sync")
    folder = _top(world) / "_people" / "Ana" / "clips"
    clips = sorted(folder.iterdir())  # 1 to 3, as the job's request_id has it
    assert clips
    good = {clip.name: clip.read_bytes() for clip in clips}
    deleted, rotten = clips[0], clips[-1]

    deleted.unlink()  # a plain sync notices a clip deleted by hand
    resync = run_ok(world, "sync")
    assert deleted.read_bytes() == good[deleted.name]
    assert "clips missing on disk" in resync.stderr

    blob = bytearray(rotten.read_bytes())
    blob[-1] ^= 0xFF  # bit rot: same size, other bytes
    rotten.write_bytes(bytes(blob))
    bad = {rotten}
    if deleted != rotten:
        deleted.unlink()
        bad.add(deleted)
    checked = world.run("verify", "--json")
    assert checked.returncode == 4, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["clips"] == len(clips)
    top = _top(world).name
    assert f"{top}/_people/Ana/clips/{rotten.name}" in report["corrupt"]
    if deleted != rotten:
        assert f"{top}/_people/Ana/clips/{deleted.name}" in report["missing"]

    repaired = run_ok(world, "verify", "--sync")
    count = len(bad)
    assert f"{count} clip{'' if count == 1 else 's'} to fetch again" in repaired.stdout
    assert {clip.name: clip.read_bytes() for clip in folder.iterdir()} == good
    assert list((world.root / "_trash").rglob(rotten.name)), "the rotten clip is set aside"
    assert _calls(world, "clip_start") == 1  # the same finished job gave the clips again
    assert json.loads(run_ok(world, "verify", "--json").stdout)["corrupt"] == []


@pytest.mark.slow
def test_clips_asked_for_after_9pic_forgot_the_search_search_again(world: World) -> None:
    bib = _bib_of(world)
    selfie = _selfie(world, bib)
    _people_config(world, selfie)
    run_ok(world, "sync")
    world.sim.forget_face_searches()  # how long 9Pic keeps a search is undocumented
    _people_config(world, selfie, clips=True)
    result = run_ok(world, "sync")
    assert "searching again" in result.stderr
    clips = list((_top(world) / "_people" / "Ana" / "clips").iterdir())
    assert clips, result.stdout
    assert "FAILED" not in result.stdout
    assert _calls(world, "faces_search") == 2


@pytest.mark.slow
def test_clips_flag_and_a_failed_job_is_a_person_failure(world: World) -> None:
    bib = _bib_of(world)
    selfie = _selfie(world, bib)
    world.sim.faults.clip_fail = True
    failed = world.run("sync", "--selfie", str(selfie), "--person", "Ana", "--clips")
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert "person Ana" in failed.stdout
    assert "FAILED: clips" in failed.stdout
    assert "Traceback" not in failed.stderr
    world.sim.faults.clip_fail = False
    fixed = run_ok(world, "sync", "--selfie", str(selfie), "--person", "Ana", "--clips")
    assert list((_top(world) / "_people" / "Ana" / "clips").iterdir()), fixed.stdout


@pytest.mark.slow
def test_disabled_flags_are_one_line_and_the_sync_goes_on(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib), clips=True)
    world.sim.set_flag(world.event_id, "selfie_search", False)
    result = run_ok(world, "sync")
    assert "selfie search is disabled" in result.stderr
    assert not (_top(world) / "_people").exists()
    assert len(list((_top(world) / "_no_bib").glob("*.jpg"))) == 40
    world.sim.set_flag(world.event_id, "selfie_search", True)
    world.sim.set_flag(world.event_id, "video_selfie_search", False)
    result = run_ok(world, "sync")
    assert "video clipping by selfie is disabled" in result.stderr
    assert (_top(world) / "_people" / "Ana").is_dir()
    assert not (_top(world) / "_people" / "Ana" / "clips").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"<html>not an image</html>", "is not an image"),
    ],
)
def test_bad_selfie_is_one_line_exit_78_before_any_call(
    world: World, content: bytes | None, expected: str
) -> None:
    selfie = world.tmp / "me.jpg"
    if content is not None:
        selfie.write_bytes(content)
    world.write_config(extra='[people]\nmax_selfie_size = "1MB"\n')
    result = world.run("sync", "--selfie", str(selfie))
    assert result.returncode == 78, result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the error and, maybe, a hint
    assert world.sim.stats.api_requests == 0


@pytest.mark.slow
def test_a_missing_people_copy_is_restored_from_the_main_file(world: World) -> None:
    bib = _bib_of(world)
    _people_config(world, _selfie(world, bib))
    run_ok(world, "sync")
    served = sum(world.sim.stats.full_downloads.values())
    image_id = sorted(_matched(world, bib))[0]
    copy = _top(world) / "_people" / "Ana" / f"{image_id}.jpg"
    copy.unlink()
    run_ok(world, "sync")
    assert os.path.samefile(copy, _top(world) / "_no_bib" / f"{image_id}.jpg")
    assert sum(world.sim.stats.full_downloads.values()) == served


@pytest.mark.slow
def test_kill_9_during_a_clip_download_resumes(tmp_path: Path) -> None:
    faults = Faults(clip_polls=1)
    for world in make_world(tmp_path, photos=20, faults=faults, clip_bytes=400_000):
        bib = _bib_of(world)
        _people_config(world, _selfie(world, bib))
        run_ok(world, "sync")  # the photos first, quickly
        _people_config(world, _selfie(world, bib), clips=True)
        faults.storage_bytes_per_second = 50_000  # a clip takes 8 s now
        process = world.start("sync")
        temp = world.root / ".syncer-tmp"
        deadline = time.monotonic() + 60
        while not list(temp.rglob("*.part")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert list(temp.rglob("*.part")), "no clip download began"
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        clips = _top(world) / "_people" / "Ana" / "clips"
        assert not clips.exists() or all(
            f.read_bytes()[4:8] == b"ftyp" for f in clips.iterdir()
        )  # only whole clips, ever
        faults.storage_bytes_per_second = None
        resumed = run_ok(world, "sync")
        assert "FAILED" not in resumed.stdout
        assert _calls(world, "clip_start") == 1  # the same job, polled again
        files = sorted(clips.iterdir())
        assert files
        for clip in files:
            blob = clip.read_bytes()
            assert sum(size for _, size in boxes(blob)) == len(blob)
        assert not list(temp.rglob("*.part"))
        assert _status_people(world)[0]["clips"] == len(files)


def test_selfie_only_walks_no_gallery_and_gets_exactly_the_matches(world: World) -> None:
    bib = _bib_of(world)
    selfie = _selfie(world, bib, "cara.jpg")
    result = run_ok(world, "sync", "--selfie", str(selfie), "--clips", "--only")
    stats = world.sim.stats.snapshot()
    assert stats["api_by_route"].get("images", 0) == 0  # no gallery page at all
    assert stats["originals_by_method"].get("selfie", 0) >= 1
    assert "image_ids" not in stats["originals_by_method"]  # every link from method selfie
    wanted = _matched(world, bib)
    folder = _top(world) / "_people" / "cara"
    assert {p.stem for p in folder.glob("*.jpg")} == wanted
    assert {p.stem for p in (_top(world) / "_no_bib").glob("*.jpg")} == wanted
    assert list((folder / "clips").iterdir()), result.stdout
    assert world.sim.stats.downloaded_more_than_once() == {}
