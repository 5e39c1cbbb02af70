"""Throughput of the hot paths on a real file: gallery pages in, due pages out.

Run with ``-s`` to see the measured rates. The bar is 20,000 photos/s; the assertions use
10,000/s so a busy machine does not make them flaky. Wall-clock bars, so they run apart from
the suite: ``pytest -m bench -n 0``; the query plans are also checked in tests/ledger.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from harness.ledger import EVENT, T0, due_query_plans
from syncer.ledger import Ledger, SeenImage

PAGES = 1_000
PER_PAGE = 100
MIN_RATE = 10_000  # photos per second

pytestmark = pytest.mark.bench


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
