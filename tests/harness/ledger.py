"""Helpers shared by the ledger tests: a fixed clock, walk/record shortcuts, query plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from syncer.ledger import EventRecord, Ledger, PhotoResult, SeenImage

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
EVENT = 456


def images(*ids: str, width: int | None = 3000, height: int | None = 2000) -> list[SeenImage]:
    return [SeenImage(image_id=i, width=width, height=height) for i in ids]


def event_record(event_id: int = EVENT, name: str | None = "City Marathon") -> EventRecord:
    return EventRecord(
        event_id=event_id, name=name, slug="city-marathon", date="2026-04-30", status="published"
    )


def walk(ledger: Ledger, event_id: int, pages: list[list[str]], now: datetime = T0) -> int:
    """One complete walk over ``pages`` of image ids; returns the walk number."""
    state = ledger.begin_walk(event_id, now)
    for number, ids in enumerate(pages, start=state.resume_page):
        ledger.record_page(event_id, state.walk_no, number, images(*ids), now)
    ledger.finish_walk(event_id, state.walk_no, now)
    return state.walk_no


def photo_ids(ledger: Ledger, event_id: int = EVENT) -> dict[str, int]:
    """image_id -> photo_id of every due photo of the event."""
    far = datetime(2100, 1, 1, tzinfo=UTC)
    return {p.image_id: p.photo_id for p in ledger.due(event_id, far, limit=100_000)}


def downloaded(photo_id: int, *paths: str, bibs: tuple[str | None, ...] = ()) -> PhotoResult:
    return PhotoResult(
        photo_id=photo_id,
        outcome="downloaded",
        bytes=1000 + photo_id,
        sha256=f"{photo_id:064x}",
        content_type="image/jpeg",
        placements=paths,
        bibs_placed=bibs,
    )


def query(target: str | Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql``, read straight from the database of a ledger (not through it)."""
    url = target if isinstance(target, str) else f"sqlite:///{target}"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def due_query_plans(ledger: Ledger, event_id: int = EVENT) -> list[str]:
    """The SQLite query plans of the photo SELECTs that one ``due()`` call runs."""
    return photo_query_plans(ledger, lambda: ledger.due(event_id, T0, after_id=5, limit=500))


def photo_query_plans(ledger: Ledger, call: Callable[[], object]) -> list[str]:
    """The SQLite query plans of the photo SELECTs that ``call`` runs (not the BIB joins)."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM photos" in statement:
            statements.append((statement, params))

    event.listen(ledger._engine, "before_cursor_execute", capture)
    try:
        call()
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
