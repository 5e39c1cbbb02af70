"""The queries a daemon runs every cycle walk their index: no scan or sort of the whole event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from harness.ledger import EVENT, T0, due_query_plans, photo_query_plans, walk
from syncer.ledger import Ledger


def test_due_reads_pending_and_failed_photos_in_index_order(ledger_path: Path) -> None:
    """SQLite's query plan (EXPLAIN QUERY PLAN is SQLite's)."""
    with Ledger.open(ledger_path) as ledger:
        _check_plans(ledger)


def _check_plans(ledger: Ledger) -> None:
    pages = [[f"{page:03}-{n:03}" for n in range(100)] for page in range(20)]
    walk(ledger, EVENT, pages, now=T0 - timedelta(hours=1))
    assert ledger.count_due(EVENT, T0) == len(pages) * 100
    plans = due_query_plans(ledger)
    assert len(plans) == 2  # pending, and failed photos due again
    for one in plans:
        assert "ix_photos_event_id_state_id" in one
        assert "TEMP B-TREE" not in one  # rows come in index order: no sort of the whole set


def test_photos_to_place_again_are_read_from_their_own_index(ledger_path: Path) -> None:
    """Not every downloaded photo of the event through the state's index, every cycle."""
    with Ledger.open(ledger_path) as ledger:
        walk(ledger, EVENT, [["a", "b"]])
        (plan,) = photo_query_plans(ledger, lambda: ledger.dirty(EVENT))
        assert "ix_photos_event_id_placements_dirty_id" in plan
