"""Due photos, download results, placements, removal and requeueing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.ledger import EVENT, T0, downloaded, photo_ids, query, walk
from syncer.errors import SyncerError
from syncer.ledger import Ledger, PhotoResult


def retry(photo_id: int, at: datetime | None, error: str = "HTTP 503") -> PhotoResult:
    return PhotoResult(photo_id=photo_id, outcome="retry", error=error, retry_at=at)


def test_due_lists_pending_and_failed_when_due(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c", "d", "e"]])
    ids = photo_ids(ledger)
    ledger.record_results(
        [
            retry(ids["a"], T0 + timedelta(minutes=10)),
            downloaded(ids["b"], "456/b.jpg"),
            PhotoResult(ids["c"], "unavailable", error="not in failed_urls"),
        ],
        T0,
    )
    assert [p.image_id for p in ledger.due(EVENT, T0)] == ["d", "e"]
    assert ledger.count_due(EVENT, T0) == 2
    at_retry = T0 + timedelta(minutes=10)
    due = ledger.due(EVENT, at_retry)
    assert [(p.image_id, p.attempts) for p in due] == [("a", 1), ("d", 0), ("e", 0)]
    assert ledger.count_due(EVENT, at_retry) == 3
    assert ledger.due(EVENT + 1, at_retry) == []


def test_retry_without_a_time_is_due_at_once(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    ledger.record_results([retry(photo_ids(ledger)["a"], None)], T0)
    assert [p.attempts for p in ledger.due(EVENT, T0)] == [1]


def test_due_pages_by_id(ledger: Ledger) -> None:
    walk(ledger, EVENT, [[f"img{i:03}" for i in range(25)]])
    ids = sorted(photo_ids(ledger).values())
    ledger.record_results([retry(ids[3], T0), retry(ids[4], T0 + timedelta(hours=1))], T0)
    seen: list[int] = []
    after = 0
    while page := ledger.due(EVENT, T0, after_id=after, limit=7):
        assert len(page) <= 7
        seen.extend(p.photo_id for p in page)
        after = page[-1].photo_id
    assert seen == [i for i in ids if i != ids[4]]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    states=st.lists(st.sampled_from(["pending", "retry-due", "retry-later", "done"]), max_size=40),
    limit=st.integers(min_value=1, max_value=9),
)
def test_due_paging_matches_count(tmp_path: Path, states: list[str], limit: int) -> None:
    with Ledger.open("sqlite://") as ledger:
        walk(ledger, EVENT, [[f"p{i:02}" for i in range(len(states))]])
        ids = photo_ids(ledger)
        results = []
        for i, state in enumerate(states):
            photo = ids[f"p{i:02}"]
            if state == "retry-due":
                results.append(retry(photo, T0 - timedelta(seconds=1)))
            elif state == "retry-later":
                results.append(retry(photo, T0 + timedelta(seconds=1)))
            elif state == "done":
                results.append(downloaded(photo, f"456/p{i:02}.jpg"))
        ledger.record_results(results, T0)
        collected: list[int] = []
        after = 0
        while page := ledger.due(EVENT, T0, after_id=after, limit=limit):
            collected.extend(p.photo_id for p in page)
            after = page[-1].photo_id
        expected = [ids[f"p{i:02}"] for i, s in enumerate(states) if s in ("pending", "retry-due")]
        assert collected == expected
        assert ledger.count_due(EVENT, T0) == len(expected)


def test_record_results_stores_everything(ledger_target: str | Path) -> None:
    with Ledger.open(ledger_target) as ledger:
        walk(ledger, EVENT, [["a", "b", "c"]])
        ids = photo_ids(ledger)
        ledger.record_results([retry(ids["a"], T0)], T0)
        later = T0 + timedelta(minutes=5)
        ledger.record_results(
            [
                downloaded(ids["a"], "456/a.jpg", "456/9/a.jpg", bibs=(None, "9")),
                retry(ids["b"], later + timedelta(minutes=1), error="x" * 2000),
                PhotoResult(ids["c"], "unavailable", error="gone"),
            ],
            later,
        )
    rows = query(
        ledger_target,
        "SELECT image_id, state, attempts, bytes, sha256, content_type, downloaded_at,"
        " last_error, next_attempt_at FROM photos ORDER BY image_id",
    )
    places = query(ledger_target, "SELECT relpath, bib FROM placements ORDER BY id")
    a, b, c = rows
    assert a == (
        "a",
        "downloaded",
        1,
        1000 + ids["a"],
        f"{ids['a']:064x}",
        "image/jpeg",
        "2026-05-01T08:05:00.000000+00:00",
        None,
        None,
    )
    assert b[1:3] == ("failed", 1)
    assert b[7] == "x" * 500
    assert b[8] == "2026-05-01T08:06:00.000000+00:00"
    assert c[1:3] == ("unavailable", 1)
    assert c[7] == "gone"
    assert places == [("456/a.jpg", None), ("456/9/a.jpg", "9")]


def test_record_results_is_one_transaction(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    good = downloaded(photo_ids(ledger)["a"], "456/a.jpg")
    with pytest.raises(SyncerError, match=r"unknown photo ids in the ledger: \[999\]"):
        ledger.record_results([good, downloaded(999, "456/zzz.jpg")], T0)
    assert ledger.counts_by_state()["downloaded"] == 0
    assert ledger.occupied(["456/a.jpg"]) == {}


def test_photo_result_checks_its_fields() -> None:
    with pytest.raises(SyncerError, match="1 bibs_placed for 2 placements"):
        PhotoResult(1, "downloaded", placements=("a", "b"), bibs_placed=("x",))
    with pytest.raises(SyncerError, match="timezone-aware"):
        PhotoResult(1, "retry", retry_at=datetime(2026, 1, 1))
    with pytest.raises(SyncerError, match="unknown outcome"):
        PhotoResult(1, "lost")  # type: ignore[arg-type]


def test_downloaded_lists_placements_and_bibs(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    walk(ledger, 7, [["z"]])
    ids = {**photo_ids(ledger), **photo_ids(ledger, 7)}
    ledger.set_bib_members(EVENT, "9", ["a"], T0)
    ledger.set_bib_members(EVENT, "10", ["a"], T0)
    ledger.record_results(
        [
            downloaded(
                ids["a"], "456/a.jpg", "456/9/a.jpg", "456/10/a.jpg", bibs=(None, "9", "10")
            ),
            downloaded(ids["z"], "7/z.jpg"),
        ],
        T0,
    )
    (a,) = ledger.downloaded(EVENT)
    assert a.placements == ("456/a.jpg", "456/9/a.jpg", "456/10/a.jpg")
    assert a.bibs == ("10", "9")
    assert (a.sha256, a.bytes, a.missing_walks) == (f"{ids['a']:064x}", 1000 + ids["a"], 0)
    assert [p.image_id for p in ledger.downloaded()] == ["a", "z"]
    assert [p.image_id for p in ledger.downloaded(after_id=ids["a"])] == ["z"]
    assert [p.image_id for p in ledger.downloaded(limit=1)] == ["a"]


def test_placements_can_be_replaced_and_looked_up(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "456/a.jpg")], T0)
    ledger.set_placements_many([(ids["a"], [("456/a.jpg", None), ("456/5/a.jpg", "5")])])
    assert ledger.occupied(["456/a.jpg", "456/5/a.jpg", "456/b.jpg"]) == {
        "456/a.jpg": ids["a"],
        "456/5/a.jpg": ids["a"],
    }
    ledger.set_placements(ids["a"], [("456/5/a.jpg", "5")])
    assert ledger.occupied(["456/a.jpg", "456/5/a.jpg"]) == {"456/5/a.jpg": ids["a"]}


def test_a_taken_path_moves_to_the_new_photo(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "456/same.jpg")], T0)
    ledger.record_results([downloaded(ids["b"], "456/same.jpg")], T0)
    assert ledger.occupied(["456/same.jpg"]) == {"456/same.jpg": ids["b"]}
    (displaced,) = ledger.dirty(EVENT)
    assert (displaced.image_id, displaced.placements) == ("a", ())


def test_placements_must_be_relative(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    with pytest.raises(SyncerError, match="not a relative POSIX path"):
        ledger.set_placements(photo_ids(ledger)["a"], [("/etc/passwd", None)])


def test_mark_removed_keeps_trash_paths(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    photo = photo_ids(ledger)["a"]
    ledger.record_results([downloaded(photo, "456/a.jpg")], T0)
    ledger.mark_removed(photo, [(".trash/456/a.jpg", None)])
    assert ledger.downloaded(EVENT) == []
    assert ledger.occupied(["456/a.jpg", ".trash/456/a.jpg"]) == {".trash/456/a.jpg": photo}
    assert ledger.counts_by_state()["removed"] == 1


def test_requeue_starts_over(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    ids = photo_ids(ledger)
    far = T0 + timedelta(days=3)
    ledger.record_results(
        [downloaded(ids["a"], "456/a.jpg"), retry(ids["b"], far), retry(ids["b"], far)], T0
    )
    assert ledger.due(EVENT, T0) == []
    assert ledger.requeue([ids["a"], ids["b"], 12345], "file missing on disk") == 2
    due = ledger.due(EVENT, T0)
    assert [(p.image_id, p.attempts) for p in due] == [("a", 0), ("b", 0)]
    (status,) = ledger.status(EVENT)
    assert status.pending == 2
    assert ledger.requeue([], "nothing") == 0


def test_due_uses_aware_times_in_any_zone(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    ledger.record_results([retry(photo_ids(ledger)["a"], T0 + timedelta(hours=1))], T0)
    plus_two = timezone(timedelta(hours=2))
    assert ledger.due(EVENT, (T0 + timedelta(minutes=59)).astimezone(plus_two)) == []
    assert len(ledger.due(EVENT, (T0 + timedelta(hours=1)).astimezone(plus_two))) == 1


def test_utc_round_trip(ledger: Ledger) -> None:
    moment = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    ledger.begin_walk(EVENT, moment)
    ledger.finish_walk(EVENT, 1, moment)
    (status,) = ledger.status(EVENT)
    assert status.last_walk_completed_at == moment
    assert status.last_walk_completed_at.tzinfo is UTC
