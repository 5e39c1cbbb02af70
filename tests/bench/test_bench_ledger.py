"""Throughput of the hot paths on a real file: gallery pages in, due pages out.

Run with ``-s`` to see the measured rates. The bar is 20,000 photos/s; the assertions use
10,000/s so a busy machine does not make the suite flaky.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from harness.ledger import EVENT, T0
from syncer.ledger import Ledger, SeenImage

PAGES = 1_000
PER_PAGE = 100
MIN_RATE = 10_000  # photos per second


def gallery(page: int) -> list[SeenImage]:
    return [
        SeenImage(image_id=f"{page:04}-{n:03}-4e1e-b8e8-ac8e8f2fc244", width=3240, height=4860)
        for n in range(PER_PAGE)
    ]


def walk_all(ledger: Ledger, pages: list[list[SeenImage]], hours: int) -> tuple[float, int]:
    now = T0 + timedelta(hours=hours)
    state = ledger.begin_walk(EVENT, now)
    new = 0
    started = time.perf_counter()
    for number, images in enumerate(pages, start=1):
        new += ledger.record_page(EVENT, state.walk_no, number, images, now)
    elapsed = time.perf_counter() - started
    ledger.finish_walk(EVENT, state.walk_no, now)
    return PAGES * PER_PAGE / elapsed, new


def due_query_plans(ledger: Ledger) -> list[str]:
    """The SQLite query plans of the photo SELECTs that one ``due()`` call runs."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM photos" in statement:
            statements.append((statement, params))

    event.listen(ledger._engine, "before_cursor_execute", capture)
    try:
        ledger.due(EVENT, T0, after_id=5, limit=500)
    finally:
        event.remove(ledger._engine, "before_cursor_execute", capture)
    plans = []
    with ledger._engine.connect() as conn:
        for statement, params in statements:
            if "JOIN bib_members" in statement:
                continue
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plans.append(" ; ".join(str(row[-1]) for row in rows))
    return plans


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("perf") / "ledger.sqlite3"


def test_record_page_rates(big_ledger: Path) -> None:
    pages = [gallery(page) for page in range(PAGES)]
    with Ledger.open(big_ledger) as ledger:
        insert_rate, new = walk_all(ledger, pages, hours=0)
        upsert_rate, again = walk_all(ledger, pages, hours=7)
    print(f"\nrecord_page: new {insert_rate:,.0f} photos/s, re-walk {upsert_rate:,.0f} photos/s")
    assert (new, again) == (PAGES * PER_PAGE, 0)
    assert insert_rate >= MIN_RATE
    assert upsert_rate >= MIN_RATE


def test_due_pages_through_everything_without_loading_it(big_ledger: Path) -> None:
    with Ledger.open(big_ledger) as ledger:
        assert ledger.count_due(EVENT, T0) == PAGES * PER_PAGE
        started = time.perf_counter()
        total, after, pages = 0, 0, 0
        while page := ledger.due(EVENT, T0, after_id=after, limit=500):
            total += len(page)
            after = page[-1].photo_id
            pages += 1
        elapsed = time.perf_counter() - started
        plans = due_query_plans(ledger)
    plan = " | ".join(plans)
    print(f"due: {total:,} photos in {pages} pages, {total / elapsed:,.0f} photos/s ({plan})")
    assert total == PAGES * PER_PAGE
    assert len(plans) == 2  # pending, and failed photos due again
    for one in plans:
        assert "ix_photos_event_id_state_id" in one
        assert "TEMP B-TREE" not in one  # rows come in index order: no sort of the whole set
    assert total / elapsed >= MIN_RATE
