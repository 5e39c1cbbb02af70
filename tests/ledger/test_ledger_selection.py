"""Photos found without a walk (a timeline window, a search) and the due photos of a selection."""

from __future__ import annotations

from datetime import timedelta

from harness.ledger import EVENT, T0, downloaded, images, photo_ids, walk
from syncer.ledger import Ledger, PhotoResult


def test_found_photos_get_rows_seen_in_no_walk(ledger: Ledger) -> None:
    assert ledger.add_found(EVENT, images("a", "b"), T0) == 2
    assert ledger.add_found(EVENT, images("b", "c"), T0) == 1
    assert set(photo_ids(ledger)) == {"a", "b", "c"}
    assert ledger.bibs_to_search(EVENT, ["7"]).mark == 2  # each addition raised the mark
    assert ledger.add_found(EVENT, [], T0) == 0


def test_a_found_photo_already_downloaded_stays_downloaded(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "e/a.jpg")], T0)
    assert ledger.add_found(EVENT, images("a", "b"), T0) == 0
    assert {k: n for k, n in ledger.counts_by_state().items() if n} == {
        "downloaded": 1,
        "pending": 1,
    }
    walk(ledger, EVENT, [["a", "b"]], T0 + timedelta(hours=1))  # a later full walk agrees
    assert [p.image_id for p in ledger.due(EVENT, T0)] == ["b"]


def test_due_among_takes_only_the_selection(ledger: Ledger) -> None:
    walk(ledger, EVENT, [[f"p{n:04d}" for n in range(1200)]])
    ids = photo_ids(ledger)
    chosen = {f"p{n:04d}" for n in range(0, 1200, 2)} | {"not-in-the-ledger"}
    failed_later = PhotoResult(ids["p0002"], "retry", error="x", retry_at=T0 + timedelta(hours=1))
    ledger.record_results([downloaded(ids["p0000"], "e/p0000.jpg"), failed_later], T0)
    due = ledger.due_among(EVENT, chosen, T0)
    assert [p.image_id for p in due] == [f"p{n:04d}" for n in range(4, 1200, 2)]
    assert [p.photo_id for p in due] == sorted(p.photo_id for p in due)
    with_failed = ledger.due_among(EVENT, chosen, T0, any_failed=True)
    assert with_failed[0].image_id == "p0002"
    assert ledger.due_among(EVENT, set(), T0) == []
