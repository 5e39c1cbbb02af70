"""Placements checked again only because memberships changed meanwhile: files already right
are kept (not counted as re-placed, not touched); a real ledger file and a real root."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

from harness.ledger import EVENT, T0, downloaded, photo_ids, walk
from syncer.downloader import Downloader
from syncer.layout import DEFAULT_TEMPLATE, NameRules, Template
from syncer.ledger import EventRecord, Ledger
from syncer.placement import Placer, reconcile


class NoDownloads:
    def place(self, source: Path, targets: tuple[Path, ...]) -> None:
        raise AssertionError("nothing was to be placed")


def test_a_photo_checked_again_whose_files_are_right_is_kept(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        walk(ledger, EVENT, [["a"]])
        ledger.set_bib_members(EVENT, "77", ["a"], T0)
        record = ledger.event(EVENT) or EventRecord(EVENT, None, None, None, None)
        placer = Placer(tmp_path / "photos", Template.parse(DEFAULT_TEMPLATE), NameRules(), record)
        ((rel, bib),) = placer.placements("a", ("77",))
        target = placer.path(rel)
        target.parent.mkdir(parents=True)
        target.write_bytes(b"\xff\xd8\xff photo \xff\xd9")
        stale = ledger.members_version(EVENT) - 1  # taken before the BIB search recorded "77"
        result = downloaded(photo_ids(ledger)["a"], rel, bibs=(bib,))
        ledger.record_results([replace(result, members_version=stale)], T0)
        assert [p.image_id for p in ledger.dirty(EVENT)] == ["a"]
        moved, lost = reconcile(ledger, placer, cast(Downloader, NoDownloads()))
        assert (moved, lost) == (0, [])
        assert ledger.dirty(EVENT) == []
        assert target.read_bytes() == b"\xff\xd8\xff photo \xff\xd9"
