"""BIB search coverage: which BIBs need searching again, and upgrading a 0001 ledger to it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from harness.ledger import EVENT, T0, downloaded, images, photo_ids, walk
from syncer.ledger import EventRecord, Ledger
from syncer.ledger.migrate import alembic_config, head_revision


def mark(ledger: Ledger, event_id: int = EVENT) -> int:
    return ledger.bibs_to_search(event_id, []).mark


def search_all(ledger: Ledger, bibs: list[str], found: dict[str, list[str]]) -> None:
    """One complete pass over ``bibs``, as the planner records it."""
    todo = ledger.bibs_to_search(EVENT, bibs)
    ledger.record_bib_searches(EVENT, {b: found.get(b, []) for b in todo.bibs}, todo.mark, T0)


def test_the_mark_grows_with_new_and_revived_photos_only(ledger: Ledger) -> None:
    assert mark(ledger) == 0
    walk(ledger, EVENT, [["a", "b"], ["c"]])
    after_first = mark(ledger)
    assert after_first > 0
    walk(ledger, EVENT, [["a", "b"], ["c"]])  # nothing new
    assert mark(ledger) == after_first
    walk(ledger, EVENT, [["a", "b"], ["c", "d"]])
    assert mark(ledger) > after_first
    grown = mark(ledger)
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["c"], "456/c.jpg")], T0)
    ledger.mark_removed(ids["c"], [("_trash/c.jpg", None)])
    walk(ledger, EVENT, [["a", "b"], ["d"]])
    assert mark(ledger) == grown  # a photo going away adds nothing to search for
    walk(ledger, EVENT, [["a", "b"], ["c", "d"]])  # listed again: its BIBs may have changed
    assert mark(ledger) > grown


def test_a_complete_pass_covers_every_bib_until_new_photos_come(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    bibs = ["1", "2", "A/b", "../../etc"]
    assert ledger.bibs_to_search(EVENT, bibs).bibs == tuple(bibs)
    search_all(ledger, bibs, {"1": ["a"], "A/b": ["b", "c"]})
    assert ledger.bibs_to_search(EVENT, bibs).bibs == ()
    walk(ledger, EVENT, [["a", "b", "c"]])
    assert ledger.bibs_to_search(EVENT, bibs).bibs == ()
    walk(ledger, EVENT, [["a", "b", "c", "new"]])
    assert ledger.bibs_to_search(EVENT, bibs).bibs == tuple(bibs)
    assert ledger.bibs_to_search(99, bibs).bibs == tuple(bibs)  # per event


def test_a_bib_added_later_is_searched_alone(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    search_all(ledger, ["1", "2"], {"1": ["a"]})
    assert ledger.bibs_to_search(EVENT, ["1", "2", "3"]).bibs == ("3",)


def test_a_bib_dropped_from_the_list_loses_its_coverage(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    search_all(ledger, ["1", "2"], {"1": ["a"], "2": ["b"]})
    assert ledger.retain_bibs(EVENT, ["2"]) == 1
    assert ledger.bibs_to_search(EVENT, ["1", "2"]).bibs == ("1",)


def test_a_dropped_bib_without_photos_keeps_its_coverage(ledger: Ledger) -> None:
    """Its search found nothing as of its mark; that stays true while it is not listed."""
    walk(ledger, EVENT, [["a", "b"]])
    search_all(ledger, ["1", "2"], {"2": ["b"]})
    assert ledger.retain_bibs(EVENT, []) == 1
    assert ledger.bibs_to_search(EVENT, ["1", "2"]).bibs == ("2",)


def test_a_list_searched_completely_is_settled_until_it_or_the_photos_change(
    ledger: Ledger,
) -> None:
    walk(ledger, EVENT, [["a", "b"]])
    bibs = ["1", "2", "3"]
    todo = ledger.bibs_to_search(EVENT, bibs)
    assert not todo.settled
    ledger.record_bib_searches(EVENT, {b: [] for b in todo.bibs}, todo.mark, T0)
    ledger.finish_bib_pass(EVENT, todo)
    assert ledger.bibs_to_search(EVENT, bibs).settled
    assert ledger.bibs_to_search(EVENT, bibs).bibs == ()
    assert not ledger.bibs_to_search(EVENT, [*bibs, "4"]).settled
    assert ledger.bibs_to_search(EVENT, [*bibs, "4"]).bibs == ("4",)
    assert not ledger.bibs_to_search(EVENT, bibs[:2]).settled  # a shorter list: checked again
    assert ledger.bibs_to_search(EVENT, bibs[:2]).bibs == ()
    walk(ledger, EVENT, [["a", "b", "c"]])
    assert ledger.bibs_to_search(EVENT, bibs) == ledger.bibs_to_search(EVENT, bibs)
    again = ledger.bibs_to_search(EVENT, bibs)
    assert (again.settled, again.bibs) == (False, tuple(bibs))


def test_an_interrupted_pass_keeps_what_completed(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    todo = ledger.bibs_to_search(EVENT, ["1", "2", "3"])
    ledger.record_bib_searches(EVENT, {"1": ["a"]}, todo.mark, T0)
    assert ledger.bibs_to_search(EVENT, ["1", "2", "3"]).bibs == ("2", "3")


def test_a_photo_found_only_by_a_search_makes_the_pass_incomplete(ledger: Ledger) -> None:
    """Searches done before it appeared have not seen it: the next cycle searches again."""
    walk(ledger, EVENT, [["a"]])
    todo = ledger.bibs_to_search(EVENT, ["1", "2"])
    assert ledger.record_bib_searches(EVENT, {"1": [], "2": ["late"]}, todo.mark, T0) == 1
    assert "late" in photo_ids(ledger)
    assert ledger.bibs_to_search(EVENT, ["1", "2"]).bibs == ("1", "2")


def test_memberships_are_replaced_per_bib_in_one_batch(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    todo = ledger.bibs_to_search(EVENT, ["1", "2"])
    assert ledger.record_bib_searches(EVENT, {"1": ["a", "b"], "2": ["c"]}, todo.mark, T0) == 3
    assert ledger.record_bib_searches(EVENT, {"1": ["b"], "2": ["c"]}, todo.mark, T0) == 1
    due = {p.image_id: p.bibs for p in ledger.due(EVENT, T0)}
    assert due == {"a": (), "b": ("1",), "c": ("2",)}


def _cover_thirty_thousand_bibs(ledger: Ledger) -> tuple[float, float]:
    """Record 30,000 complete searches in one batch, then check the coverage; the seconds
    each took."""
    walk(ledger, EVENT, [[f"p{i}" for i in range(100)]])
    bibs = [str(n) for n in range(1, 30_001)]
    todo = ledger.bibs_to_search(EVENT, bibs)
    started = time.perf_counter()
    found = {b: ([f"p{int(b) % 100}"] if int(b) % 300 == 0 else []) for b in todo.bibs}
    assert ledger.record_bib_searches(EVENT, found, todo.mark, T0) == 100
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    assert ledger.bibs_to_search(EVENT, bibs).bibs == ()
    assert ledger.retain_bibs(EVENT, bibs) == 0
    return recorded, time.perf_counter() - started


def test_thirty_thousand_bibs_are_covered_in_one_batch(ledger: Ledger) -> None:
    _cover_thirty_thousand_bibs(ledger)


@pytest.mark.bench
def test_thirty_thousand_bibs_are_covered_quickly(ledger: Ledger) -> None:
    recorded, checked = _cover_thirty_thousand_bibs(ledger)
    assert recorded < 3.0, f"recording 30,000 searches took {recorded:.2f} s"
    assert checked < 0.5, f"checking their coverage took {checked:.2f} s"


def test_a_0001_postgresql_ledger_with_odd_bibs_upgrades_in_place(postgres_url: str) -> None:
    """The upgrade marks the photos of BIBs that now have folders of their own (a boolean on
    PostgreSQL, not the integer 1)."""
    command.upgrade(alembic_config(postgres_url), "0001")
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO events (event_id, name, walk_no) VALUES (456, 'Old', 3)"))
        for image_id in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO photos (event_id, image_id, first_seen_at, last_seen_at, state) "
                    "VALUES (456, :id, :t, :t, 'downloaded')"
                ),
                {"id": image_id, "t": T0},
            )
        conn.execute(
            text(
                "INSERT INTO bib_members (event_id, bib, image_id) "
                "VALUES (456, '7', 'a'), (456, 'A?1', 'b')"
            )
        )
    engine.dispose()
    assert Ledger.upgrade(postgres_url) == ("0001", head_revision())
    with Ledger.open(postgres_url, create=False) as ledger:
        assert [p.image_id for p in ledger.dirty(EVENT)] == ["b"]


def test_a_0001_ledger_with_data_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "0001")
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO events (event_id, name, walk_no) VALUES (456, 'Old Run', 3)")
        raw.execute(
            "INSERT INTO photos (event_id, image_id, first_seen_at, last_seen_at, state) "
            "VALUES (456, 'a', ?, ?, 'downloaded')",
            (T0.isoformat(), T0.isoformat()),
        )
        for image_id in ("b", "c"):
            raw.execute(
                "INSERT INTO photos (event_id, image_id, first_seen_at, last_seen_at, state) "
                "VALUES (456, ?, ?, ?, 'downloaded')",
                (image_id, T0.isoformat(), T0.isoformat()),
            )
        raw.execute(
            "INSERT INTO bib_members (event_id, bib, image_id) "
            "VALUES (456, '7', 'a'), (456, 'A?1', 'b'), (456, '_no_bib', 'c'), (456, '7', 'c')"
        )
    raw.close()
    assert Ledger.upgrade(path) == ("0001", head_revision())
    with Ledger.open(path, create=False) as ledger:
        assert ledger.event(EVENT) == EventRecord(EVENT, "Old Run", None, None, None)
        assert ledger.counts_by_state()["downloaded"] == 3
        # 'A?1' and '_no_bib' have folders of their own now: their photos are placed again
        assert [p.image_id for p in ledger.dirty(EVENT)] == ["b", "c"]
        todo = ledger.bibs_to_search(EVENT, ["7", "8"])
        assert (todo.mark, todo.bibs) == (0, ("7", "8"))  # searched once after the upgrade
        ledger.record_bib_searches(EVENT, {"7": ["a"], "8": []}, todo.mark, T0)
        assert ledger.bibs_to_search(EVENT, ["7", "8"]).bibs == ()
        state = ledger.begin_walk(EVENT, T0)
        ledger.record_page(EVENT, state.walk_no, 1, images("a", "new"), T0)
        assert ledger.bibs_to_search(EVENT, ["7", "8"]).bibs == ("7", "8")
