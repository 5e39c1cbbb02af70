"""Events, gallery walks (resume, missing photos) and BIB membership."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from harness.ledger import EVENT, T0, downloaded, event_record, images, photo_ids, query, walk
from syncer.errors import SyncerError
from syncer.ledger import EventRecord, Ledger, WalkMemo, WalkState


def test_upsert_event_inserts_and_refreshes(ledger: Ledger) -> None:
    ledger.upsert_event(event_record(EVENT))
    ledger.upsert_event(event_record(12, name="Trail"))
    assert ledger.event(EVENT) == event_record(EVENT)
    ledger.upsert_event(EventRecord(EVENT, name="Renamed", slug=None, date=None, status="closed"))
    assert ledger.event(EVENT) == EventRecord(
        EVENT, name="Renamed", slug="city-marathon", date="2026-04-30", status="closed"
    )
    assert ledger.event_ids() == [12, EVENT]
    assert ledger.event(999) is None


def test_fresh_walks_count_up(ledger: Ledger) -> None:
    assert ledger.begin_walk(EVENT, T0) == WalkState(walk_no=1, resume_page=1)
    assert ledger.event_ids() == [EVENT]  # a walk creates a bare event row
    ledger.finish_walk(EVENT, 1, T0)
    assert ledger.begin_walk(EVENT, T0 + timedelta(minutes=1)) == WalkState(2, 1)


def test_interrupted_walk_resumes_at_next_page(ledger: Ledger) -> None:
    state = ledger.begin_walk(EVENT, T0)
    ledger.record_page(EVENT, state.walk_no, 1, images("a"), T0)
    ledger.record_page(EVENT, state.walk_no, 2, images("b"), T0)
    assert ledger.begin_walk(EVENT, T0 + timedelta(hours=5)) == WalkState(1, 3)
    # still anchored at the original start: six hours after it, the walk starts over
    assert ledger.begin_walk(EVENT, T0 + timedelta(hours=6, seconds=1)) == WalkState(2, 1)


def test_resume_window_is_configurable(ledger: Ledger) -> None:
    state = ledger.begin_walk(EVENT, T0)
    ledger.record_page(EVENT, state.walk_no, 1, images("a"), T0)
    later = T0 + timedelta(minutes=30)
    assert ledger.begin_walk(EVENT, later, resume_within=timedelta(minutes=10)) == WalkState(2, 1)


def test_record_page_counts_new_photos_once(ledger: Ledger) -> None:
    state = ledger.begin_walk(EVENT, T0)
    assert ledger.record_page(EVENT, state.walk_no, 1, images("a", "b", "a"), T0) == 2
    assert ledger.record_page(EVENT, state.walk_no, 2, images("b", "c"), T0) == 1
    assert ledger.record_page(EVENT, state.walk_no, 3, [], T0) == 0
    assert sorted(photo_ids(ledger)) == ["a", "b", "c"]
    assert ledger.counts_by_state()["pending"] == 3


def test_pages_recorded_together_count_new_photos_once_and_resume_after_the_last(
    ledger: Ledger,
) -> None:
    state = ledger.begin_walk(EVENT, T0)
    pages = [(1, images("a", "b")), (2, images("b", "c")), (3, images())]
    assert ledger.record_pages(EVENT, state.walk_no, pages, T0) == 3
    assert ledger.record_pages(EVENT, state.walk_no, [(4, images("a", "d"))], T0) == 1
    assert ledger.record_pages(EVENT, state.walk_no, [], T0) == 0
    assert sorted(photo_ids(ledger)) == ["a", "b", "c", "d"]
    assert ledger.begin_walk(EVENT, T0 + timedelta(hours=1)) == WalkState(1, 5)


def test_rewalk_keeps_the_sizes_seen_first(ledger_target: str | Path) -> None:
    """Re-walks only mark photos seen (one UPDATE a page): sizes are recorded on first sight."""
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["a", "b"]])
        state = ledger.begin_walk(EVENT, T0 + timedelta(hours=1))
        ledger.record_page(EVENT, state.walk_no, 1, images("a", width=10, height=20), T0)
        ledger.record_page(EVENT, state.walk_no, 2, images("b", width=None, height=None), T0)
    rows = query(ledger_target, "SELECT image_id, width, height FROM photos ORDER BY image_id")
    assert rows == [("a", 3000, 2000), ("b", 3000, 2000)]


def test_photos_missing_from_complete_walks(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["c"], "456/c.jpg")], T0)
    assert ledger.missing(EVENT, min_walks=1) == []
    later = T0 + timedelta(days=1)
    state = ledger.begin_walk(EVENT, later)
    ledger.record_page(EVENT, state.walk_no, 1, images("a", "b"), later)
    assert ledger.finish_walk(EVENT, state.walk_no, later) == 1
    # an interrupted walk proves nothing
    interrupted = ledger.begin_walk(EVENT, later + timedelta(days=1))
    ledger.record_page(EVENT, interrupted.walk_no, 1, images("a"), later)
    assert [p.missing_walks for p in ledger.missing(EVENT, min_walks=1)] == [1]
    assert ledger.missing(EVENT, min_walks=2) == []
    walk(ledger, EVENT, [["a", "b"]], later + timedelta(days=2))
    (gone,) = ledger.missing(EVENT, min_walks=2)
    assert (gone.image_id, gone.missing_walks, gone.placements) == ("c", 2, ("456/c.jpg",))
    # seen again: the count starts over
    walk(ledger, EVENT, [["a", "b", "c"]], later + timedelta(days=3))
    assert ledger.missing(EVENT, min_walks=1) == []


MARKS = "SELECT image_id, last_seen_walk, last_seen_at, missing_walks FROM photos ORDER BY 1"


def test_a_rewalk_of_known_photos_writes_nothing_but_its_end(ledger_target: str | Path) -> None:
    """With the walk's memo, pages of photos known as listed are remembered, not written; a
    walk stopped meanwhile starts again from its first page."""
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["a", "b"], ["c"]])
        before = query(ledger_target, MARKS)
        later = T0 + timedelta(hours=1)
        state = ledger.begin_walk(EVENT, later)
        memo = WalkMemo()
        assert ledger.record_pages(EVENT, state.walk_no, [(1, images("a", "b"))], later, memo) == 0
        assert ledger.record_pages(EVENT, state.walk_no, [(2, images("c"))], later, memo) == 0
        assert query(ledger_target, MARKS) == before
        assert ledger.begin_walk(EVENT, later) == WalkState(state.walk_no, 1)
        assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 0
        assert ledger.missing(EVENT, min_walks=1) == []
        (status,) = ledger.status(EVENT)
        assert status.last_walk_completed_at == later


def test_a_quiet_page_costs_no_statement(ledger_target: str | Path) -> None:
    """The walk reads which photos were listed before once, with its first page; a page of
    them then runs nothing at all, and a page with news is written as before."""
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["a", "b"], ["c"]])
        later = T0 + timedelta(hours=1)
        state = ledger.begin_walk(EVENT, later)
        statements: list[str] = []

        def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement.split(None, 1)[0].upper())

        event.listen(ledger._engine, "before_cursor_execute", capture)
        try:
            memo = WalkMemo()
            assert ledger.record_pages(EVENT, state.walk_no, [(1, images("a"))], later, memo) == 0
            assert statements.count("SELECT") == 1
            assert memo.listed_before == {"a", "b", "c"}
            statements.clear()
            assert (
                ledger.record_pages(EVENT, state.walk_no, [(2, images("b", "c"))], later, memo) == 0
            )
            assert statements == []
            assert ledger.record_pages(EVENT, state.walk_no, [(3, images("d"))], later, memo) == 1
            assert "INSERT" in statements
        finally:
            event.remove(ledger._engine, "before_cursor_execute", capture)
        assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 0


def test_a_walk_remembers_what_was_listed_when_it_began(ledger: Ledger) -> None:
    """Photos missing or removed when the walk began are written when listed again."""
    walk(ledger, EVENT, [["a", "b", "c"]])
    walk(ledger, EVENT, [["a", "b"]], T0 + timedelta(hours=1))  # c: missing once
    later = T0 + timedelta(hours=2)
    state = ledger.begin_walk(EVENT, later)
    memo = WalkMemo()
    assert ledger.record_pages(EVENT, state.walk_no, [(1, images("a", "c"))], later, memo) == 0
    assert memo.listed_before == {"a", "b"}
    assert memo.marked, "the page that lists the missing photo is written"
    assert ledger.record_pages(EVENT, state.walk_no, [(2, images("b"))], later, memo) == 0
    assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 0
    assert ledger.missing(EVENT, min_walks=1) == []


def test_a_walk_with_a_memo_counts_what_it_did_not_list(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    ledger.record_results([downloaded(photo_ids(ledger)["c"], "456/c.jpg")], T0)
    later = T0 + timedelta(hours=1)
    state = ledger.begin_walk(EVENT, later)
    memo = WalkMemo()
    ledger.record_pages(EVENT, state.walk_no, [(1, images("a", "b"))], later, memo)
    assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 1
    assert [p.image_id for p in ledger.missing(EVENT, min_walks=1)] == ["c"]
    # listed again: a missing photo is not one the memo may keep, so its page is written
    state = ledger.begin_walk(EVENT, later + timedelta(hours=1))
    memo = WalkMemo()
    pages = [(1, images("a", "b", "c"))]
    assert ledger.record_pages(EVENT, state.walk_no, pages, later, memo) == 0
    assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 0
    assert ledger.missing(EVENT, min_walks=1) == []


def test_a_page_that_is_written_marks_the_pages_remembered_before_it(
    ledger_target: str | Path,
) -> None:
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["a", "b"], ["c"]])
        later = T0 + timedelta(hours=1)
        state = ledger.begin_walk(EVENT, later)
        memo = WalkMemo()
        ledger.record_pages(EVENT, state.walk_no, [(1, images("a", "b"))], later, memo)
        assert ledger.record_pages(EVENT, state.walk_no, [(2, images("c", "d"))], later, memo) == 1
        assert memo.unmarked == set()
        # the walk may resume after page 2: everything before it is marked
        assert ledger.begin_walk(EVENT, later) == WalkState(state.walk_no, 3)
        marks = {row[0]: row[1] for row in query(ledger_target, MARKS)}
        assert marks == dict.fromkeys("abcd", state.walk_no)
        assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 0


def test_a_resumed_walk_with_a_memo_counts_only_what_no_part_of_it_listed(
    ledger: Ledger,
) -> None:
    walk(ledger, EVENT, [["a", "b"], ["c"], ["d"]])
    ledger.record_results([downloaded(photo_ids(ledger)["d"], "456/d.jpg")], T0)
    later = T0 + timedelta(hours=1)
    first = ledger.begin_walk(EVENT, later)
    ledger.record_pages(EVENT, first.walk_no, [(1, images("a", "b"))], later)  # then killed
    state = ledger.begin_walk(EVENT, later)
    assert state == WalkState(first.walk_no, 2)
    memo = WalkMemo(marked=True)
    # "a" is listed again (pages shift while a walk goes on): as many unmarked as not marked
    assert ledger.record_pages(EVENT, state.walk_no, [(2, images("a", "c"))], later, memo) == 0
    assert memo.unmarked == {"a", "c"}
    assert ledger.finish_walk(EVENT, state.walk_no, later, memo) == 1
    assert [p.image_id for p in ledger.missing(EVENT, min_walks=1)] == ["d"]


def test_finish_walk_records_completion(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]], T0)
    walk(ledger, EVENT, [["a"]], T0 + timedelta(hours=1))
    (status,) = ledger.status(EVENT)
    assert status.last_walk_completed_at == T0 + timedelta(hours=1)
    assert ledger.begin_walk(EVENT, T0 + timedelta(hours=2)) == WalkState(3, 1)


def test_removed_photo_seen_again_is_pending(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    photo = photo_ids(ledger)["a"]
    ledger.record_results([downloaded(photo, "456/a.jpg")], T0)
    ledger.mark_removed(photo, [(".trash/456/a.jpg", None)])
    assert ledger.counts_by_state()["removed"] == 1
    later = T0 + timedelta(hours=1)
    state = ledger.begin_walk(EVENT, later)
    ledger.record_page(EVENT, state.walk_no, 1, images("b"), later)
    assert ledger.finish_walk(EVENT, state.walk_no, later) == 0  # removed photos are not missing
    walk(ledger, EVENT, [["a", "b"]], T0 + timedelta(days=1))
    assert photo_ids(ledger) == {"a": photo, "b": photo + 1}
    assert ledger.counts_by_state()["removed"] == 0


def test_bib_members_insert_unknown_photos(ledger: Ledger) -> None:
    assert ledger.set_bib_members(EVENT, "1234", ["x", "y"], T0) == 2
    assert ledger.set_bib_members(EVENT, "1234", ["x", "y"], T0) == 0
    due = {p.image_id: p.bibs for p in ledger.due(EVENT, T0)}
    assert due == {"x": ("1234",), "y": ("1234",)}


def test_bib_change_marks_downloaded_photos_dirty(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids[i], f"456/{i}.jpg") for i in ("a", "b")], T0)
    assert ledger.dirty(EVENT) == []
    assert ledger.set_bib_members(EVENT, "77", ["a", "c"], T0) == 2
    (dirty,) = ledger.dirty(EVENT)  # "c" is not downloaded yet: nothing to re-place
    assert (dirty.image_id, dirty.bibs, dirty.placements) == ("a", ("77",), ("456/a.jpg",))
    ledger.set_placements(ids["a"], [("456/a.jpg", None), ("456/77/a.jpg", "77")])
    assert ledger.dirty(EVENT) == []
    assert ledger.set_bib_members(EVENT, "77", ["c"], T0) == 1  # "a" left the BIB
    assert [p.image_id for p in ledger.dirty(EVENT)] == ["a"]


def test_a_photo_placed_while_its_bibs_changed_is_checked_again(ledger: Ledger) -> None:
    """A download taken before a BIB search (another node's) found its BIB: placed in
    ``_no_bib``, recorded afterwards; the recorded version tells that it needs placing again."""
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    taken_at = ledger.members_version(EVENT)
    assert [p.bibs for p in ledger.due(EVENT, T0)] == [(), ()]  # taken: no BIB known yet
    assert ledger.set_bib_members(EVENT, "77", ["a"], T0) == 1  # meanwhile, a BIB search
    assert ledger.members_version(EVENT) > taken_at
    late = replace(downloaded(ids["a"], "456/_no_bib/a.jpg"), members_version=taken_at)
    fresh = replace(
        downloaded(ids["b"], "456/_no_bib/b.jpg"), members_version=ledger.members_version(EVENT)
    )
    ledger.record_results([late, fresh], T0)
    (dirty,) = ledger.dirty(EVENT)
    assert (dirty.image_id, dirty.bibs, dirty.placements) == ("a", ("77",), ("456/_no_bib/a.jpg",))
    unchecked = downloaded(ids["b"], "456/_no_bib/b.jpg")  # no version: placed as recorded
    ledger.record_results([unchecked], T0)
    assert [p.image_id for p in ledger.dirty(EVENT)] == ["a"]


def test_retain_bibs_forgets_other_bibs(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "456/a.jpg")], T0)
    ledger.set_bib_members(EVENT, "1", ["a", "b"], T0)
    ledger.set_bib_members(EVENT, "2", ["b"], T0)
    ledger.set_bib_members(99, "1", ["z"], T0)
    ledger.set_placements(ids["a"], [("456/a.jpg", None), ("456/1/a.jpg", "1")])
    assert ledger.retain_bibs(EVENT, ["2"]) == 2
    assert ledger.retain_bibs(EVENT, ["2"]) == 0
    assert {p.image_id: p.bibs for p in ledger.due(EVENT, T0)} == {"b": ("2",)}
    assert [p.image_id for p in ledger.dirty(EVENT)] == ["a"]
    assert [p.bibs for p in ledger.due(99, T0)] == [("1",)]  # other events untouched


def test_empty_bib_is_refused(ledger: Ledger) -> None:
    with pytest.raises(SyncerError, match="BIB cannot be empty"):
        ledger.set_bib_members(EVENT, "", ["a"], T0)


@pytest.mark.parametrize("multi_rowcount", [True, False], ids=["rowcount", "counted"])
def test_one_page_of_known_new_and_removed_photos(
    ledger_target: str | Path, monkeypatch: pytest.MonkeyPatch, multi_rowcount: bool
) -> None:
    """New photos are counted whether or not the driver reports executemany row counts.

    (The switch is SQLite's; PostgreSQL counts the ids its inserts return either way.)
    """
    monkeypatch.setattr(
        SQLiteDialect_pysqlite, "supports_sane_multi_rowcount", multi_rowcount, raising=False
    )
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["known", "gone"]])
        gone = photo_ids(ledger)["gone"]
        ledger.record_results([downloaded(gone, "456/gone.jpg")], T0)
        ledger.mark_removed(gone, [(".trash/456/gone.jpg", None)])
        later = T0 + timedelta(days=1)
        state = ledger.begin_walk(EVENT, later)
        page = images("known", "fresh", "gone", "fresh")
        assert ledger.record_page(EVENT, state.walk_no, 1, page, later) == 1
        assert ledger.finish_walk(EVENT, state.walk_no, later) == 0
    rows = query(
        ledger_target,
        "SELECT image_id, state, attempts, last_seen_walk, missing_walks FROM photos"
        " ORDER BY image_id",
    )
    assert rows == [
        ("fresh", "pending", 0, state.walk_no, 0),
        ("gone", "pending", 0, state.walk_no, 0),
        ("known", "pending", 0, state.walk_no, 0),
    ]
