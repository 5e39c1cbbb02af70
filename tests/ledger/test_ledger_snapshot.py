"""A dry run's private copy of a ledger: every row, the same answers, the source untouched."""

from __future__ import annotations

from pathlib import Path

from harness.ledger import EVENT, T0, downloaded, event_record, photo_ids, walk
from syncer.ledger import Ledger

SHA = "a" * 64


def _fill(ledger: Ledger) -> None:
    ledger.upsert_event(event_record())
    walk(ledger, EVENT, [["a", "b", "c"], ["d"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "e/_no_bib/a.jpg")], T0)
    ledger.begin_person_search(EVENT, "Ana", SHA, "r1")
    search = ledger.person_search(EVENT, "Ana", SHA)
    assert search is not None
    ledger.record_person_matches(search, ["b"], T0, request_id="r1")
    ledger.record_clip(EVENT, "Ana", "c1.mp4", "e/_people/Ana/clips/c1.mp4", 10, "f" * 64, T0)


def _answers(ledger: Ledger) -> tuple[object, ...]:
    return (
        ledger.event(EVENT),
        sorted(photo_ids(ledger).items()),
        sorted(ledger.downloaded_files(EVENT)),
        ledger.people_status(EVENT),
        ledger.person_search(EVENT, "Ana", SHA),
        ledger.stored_clips(),
        ledger.members_version(EVENT),
    )


def test_a_copy_holds_every_row_and_gives_the_same_answers(ledger: Ledger, tmp_path: Path) -> None:
    _fill(ledger)
    before = _answers(ledger)
    with Ledger.open(tmp_path / "copy.sqlite3") as copy:
        assert ledger.copy_into(copy) > 0
        assert _answers(copy) == before
        copy.record_results([downloaded(photo_ids(copy)["b"], "e/_no_bib/b.jpg")], T0)
    assert _answers(ledger) == before  # the copy's writes stay in the copy


def test_has_schema(ledger_target: str | Path, tmp_path: Path) -> None:
    assert not Ledger.has_schema(tmp_path / "none.sqlite3")
    assert not (tmp_path / "none.sqlite3").exists()
    assert not Ledger.has_schema(ledger_target)  # an empty database, or no file yet
    Ledger.open(ledger_target).close()
    assert Ledger.has_schema(ledger_target)
