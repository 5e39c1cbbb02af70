"""`syncer sync` end to end: the real CLI in a subprocess against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from harness.e2e import World, expected_tree, files_under, run_ok, temp_files
from syncer.layout import NameRules, bib_dirname
from syncer.sim.world import ODD_BIBS

BIBS = "1-60,A-17,0042,Bx9"


def bib_list() -> list[str]:
    return [str(n) for n in range(1, 61)] + ["A-17", "0042", "Bx9"]


def sync_json(world: World, *args: str, expect: tuple[int, ...] = (0,)) -> dict[str, object]:
    result = run_ok(world, "sync", "--json", *args, expect=expect)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_full_sync_matches_truth_with_bib_layout(world: World) -> None:
    world.write_config(bibs=BIBS)
    data = sync_json(world)
    assert data["downloaded"] == len(world.truth())
    assert files_under(world.root) == expected_tree(world, bib_list())
    assert not temp_files(world.root)
    assert world.sim.stats.storage_requests_with_api_key == 0


def test_multi_bib_photo_is_stored_once_and_linked(world: World) -> None:
    world.write_config(bibs=BIBS)
    sync_json(world)
    tree = expected_tree(world, bib_list())
    by_image: dict[str, list[Path]] = {}
    for rel in tree:
        by_image.setdefault(Path(rel).stem, []).append(world.root / rel)
    multi = [paths for paths in by_image.values() if len(paths) > 1]
    assert multi, "the simulated event should have photos with several BIBs"
    for paths in multi:
        assert len({p.stat().st_ino for p in paths}) == 1


def test_second_run_downloads_nothing(world: World) -> None:
    world.write_config(bibs=BIBS)
    sync_json(world)
    storage_before = world.sim.stats.storage_requests
    presign_before = world.sim.stats.presign_calls
    started = time.monotonic()
    data = sync_json(world)
    elapsed = time.monotonic() - started
    assert data["downloaded"] == 0
    assert data["new"] == 0
    assert world.sim.stats.storage_requests == storage_before
    assert world.sim.stats.presign_calls == presign_before
    assert elapsed < 30


def _photo_rows(world: World) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(f"file:{world.ledger}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT image_id, state, last_seen_walk, missing_walks FROM photos")
        return {row[0]: row[1:] for row in rows}


def test_a_resync_of_an_unchanged_gallery_writes_no_photo_row(world: World) -> None:
    """A no-op walk writes only its end (a daemon on a NAS rewrites no table every cycle);
    a photo gone upstream is still counted missing by the next complete walk."""
    sync_json(world)
    before = _photo_rows(world)
    assert sync_json(world)["new"] == 0
    assert _photo_rows(world) == before
    gone = next(iter(world.truth()))
    world.sim.remove_photo(world.event_id, gone)
    sync_json(world)
    after = _photo_rows(world)
    assert after[gone][2] == 1  # one complete walk did not list it
    assert {k: v for k, v in after.items() if k != gone} == {
        k: v for k, v in before.items() if k != gone
    }


def test_new_photos_between_runs_are_picked_up(world: World) -> None:
    sync_json(world)
    added = world.sim.add_photos(world.event_id, 5, earlier=True)
    data = sync_json(world)
    assert data["new"] == 5
    assert data["downloaded"] == 5
    stored = {Path(rel).stem for rel in files_under(world.root)}
    assert {p.image_id for p in added} <= stored


def test_added_bib_links_instead_of_downloading(world: World) -> None:
    world.write_config(bibs="1-30")
    sync_json(world)
    storage_before = world.sim.stats.storage_requests
    world.write_config(bibs=BIBS)
    data = sync_json(world)
    assert data["downloaded"] == 0
    assert world.sim.stats.storage_requests == storage_before
    assert files_under(world.root) == expected_tree(world, bib_list())


def test_dry_run_writes_nothing(world: World) -> None:
    data = sync_json(world, "--dry-run")
    assert data["dry_run"] is True
    assert data["due"] == len(world.truth())
    assert not world.root.exists()
    assert not world.ledger.exists()
    assert world.sim.stats.storage_requests == 0


def test_dry_run_after_a_sync_reports_only_new_photos(world: World) -> None:
    sync_json(world)
    world.sim.add_photos(world.event_id, 3)
    data = sync_json(world, "--dry-run")
    assert data["due"] == 3
    assert len(files_under(world.root)) == len(world.truth()) - 3


def test_dry_run_reads_a_ledger_given_as_an_sqlite_url(world: World) -> None:
    world.ledger_url = f"sqlite:///{world.ledger}"
    world.write_config()
    sync_json(world)
    world.sim.add_photos(world.event_id, 2)
    assert sync_json(world, "--dry-run")["due"] == 2


def test_status_and_verify_report_the_archive(world: World) -> None:
    sync_json(world)
    status = json.loads(run_ok(world, "status", "--json").stdout)
    row = next(r for r in status if r["event_id"] == world.event_id)
    assert row["downloaded"] == len(world.truth())
    assert row["pending"] == 0
    victim = sorted(files_under(world.root))[0]
    (world.root / victim).write_bytes(b"\xff\xd8\xff rotten")
    result = world.run("verify", "--json")
    assert result.returncode == 4
    assert json.loads(result.stdout)["corrupt"] == [victim]
    run_ok(world, "verify", "--repair")
    sync_json(world)
    assert run_ok(world, "verify").returncode == 0
    assert files_under(world.root)[victim] == world.truth()[Path(victim).stem]


def test_organiser_bibs_of_any_shape_get_folders_of_their_own(world: World) -> None:
    """'../../etc', 'a/b' beside 'a_b', '..', '50%': accepted, searched, each its own folder."""
    bibs = [*ODD_BIBS, "A-17", "7"]
    world.write_config(bibs=bibs)
    data = sync_json(world)
    assert data["exit_code"] == 0
    tree = expected_tree(world, bibs)
    assert files_under(world.root) == tree
    folders = {rel.split("/")[1] for rel in tree}
    assert {bib_dirname(b, NameRules()) for b in ODD_BIBS} <= folders
    assert len({f.casefold() for f in folders}) == len(folders)
    assert not (world.tmp / "etc").exists()
    assert {p.name for p in world.root.iterdir() if not p.name.startswith(".")} == {tree_top(tree)}
    searches = world.sim.stats.api_by_route["bibs"]
    assert searches == len(bibs)
    sync_json(world)
    assert world.sim.stats.api_by_route["bibs"] == searches  # no new photos: no BIB call


def tree_top(tree: dict[str, str]) -> str:
    (top,) = {rel.split("/")[0] for rel in tree}
    return top


def test_without_hard_links_a_bib_event_is_searched_before_it_downloads(world: World) -> None:
    """Where moving a photo out of ``_no_bib`` would be a copy, every photo is written once,
    straight into its BIB folders: nothing is re-placed on a first sync."""
    world.write_config(bibs=BIBS)
    text = world.config.read_text(encoding="utf-8")
    world.config.write_text(text.replace("[storage]\n", '[storage]\nlinks = "copy"\n'), "utf-8")
    data = sync_json(world)
    assert (data["downloaded"], data["relinked"]) == (len(world.truth()), 0)
    assert files_under(world.root) == expected_tree(world, bib_list())
