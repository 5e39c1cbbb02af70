"""Runs and read-only summaries: status per event, counts for metrics."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from syncer.errors import SyncerError
from syncer.ledger.models import events, photos, runs
from syncer.ledger.records import PHOTO_STATES, RUN_KINDS, EventStatus

TOP_FAILURES = 10


def start_run(conn: Connection, kind: str, event_ids: Sequence[int], now: datetime) -> int:
    if kind not in RUN_KINDS:
        raise SyncerError(f"unknown run kind {kind!r} (expected one of {', '.join(RUN_KINDS)})")
    stmt = runs.insert().values(
        kind=kind, started_at=now, event_ids=json.dumps(sorted(set(event_ids)))
    )
    key = conn.execute(stmt).inserted_primary_key
    if key is None:
        raise SyncerError("the ledger did not return the id of the new run")
    return int(key[0])


def finish_run(
    conn: Connection, run_id: int, now: datetime, counts: Mapping[str, int], exit_code: int
) -> None:
    stmt = (
        update(runs)
        .where(runs.c.id == run_id)
        .values(ended_at=now, counts=json.dumps(dict(counts), sort_keys=True), exit_code=exit_code)
    )
    if conn.execute(stmt).rowcount != 1:
        raise SyncerError(f"unknown run id {run_id}")


def record_concurrency(conn: Connection, run_id: int, downloads: int) -> None:
    stmt = update(runs).where(runs.c.id == run_id).values(concurrency=downloads)
    if conn.execute(stmt).rowcount != 1:
        raise SyncerError(f"unknown run id {run_id}")


def counts_by_state(conn: Connection) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(PHOTO_STATES, 0)
    stmt = select(photos.c.state, func.count()).group_by(photos.c.state)
    counts.update({state: int(n) for state, n in conn.execute(stmt)})
    return counts


def has_downloads(conn: Connection) -> bool:
    """Whether any photo is downloaded (stops at the first one found)."""
    stmt = select(select(photos.c.id).where(photos.c.state == "downloaded").exists())
    return bool(conn.scalar(stmt))


def bytes_downloaded(conn: Connection) -> int:
    stmt = select(func.coalesce(func.sum(photos.c.bytes), 0)).where(photos.c.state == "downloaded")
    return int(conn.scalar(stmt) or 0)


def status(conn: Connection, event_id: int | None) -> list[EventStatus]:
    """One summary per known event (or just ``event_id``), in event id order."""
    stmt = select(
        events.c.event_id, events.c.name, events.c.slug, events.c.last_walk_completed_at
    ).order_by(events.c.event_id)
    if event_id is not None:
        stmt = stmt.where(events.c.event_id == event_id)
    rows = list(conn.execute(stmt))
    ids = [row.event_id for row in rows]
    counts, sizes = _state_counts(conn, event_id)
    failures = _failures(conn, event_id)
    last_runs = _last_run_ends(conn, ids)
    concurrency = _last_concurrency(conn, ids)
    result = []
    for row in rows:
        by_state = counts.get(row.event_id, {})
        states: dict[str, Any] = {state: by_state.get(state, 0) for state in PHOTO_STATES}
        result.append(
            EventStatus(
                event_id=row.event_id,
                name=row.name,
                slug=row.slug,
                known=sum(by_state.values()),
                **states,
                bytes=sizes.get(row.event_id, 0),
                failures=tuple(failures.get(row.event_id, ())),
                last_walk_completed_at=row.last_walk_completed_at,
                last_run_ended_at=last_runs.get(row.event_id),
                concurrency=concurrency.get(row.event_id),
            )
        )
    return result


def _state_counts(
    conn: Connection, event_id: int | None
) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    stmt = select(
        photos.c.event_id, photos.c.state, func.count(), func.coalesce(func.sum(photos.c.bytes), 0)
    ).group_by(photos.c.event_id, photos.c.state)
    if event_id is not None:
        stmt = stmt.where(photos.c.event_id == event_id)
    counts: dict[int, dict[str, int]] = {}
    sizes: dict[int, int] = {}
    for event, state, n, size in conn.execute(stmt):
        counts.setdefault(event, {})[state] = int(n)
        if state == "downloaded":
            sizes[event] = int(size)
    return counts, sizes


def _failures(conn: Connection, event_id: int | None) -> dict[int, list[tuple[str, int]]]:
    """The most common reasons of failed and unavailable photos, per event."""
    reason = func.coalesce(photos.c.last_error, "unknown error")
    n = func.count().label("n")
    stmt = (
        select(photos.c.event_id, reason, n)
        .where(photos.c.state.in_(["failed", "unavailable"]))
        .group_by(photos.c.event_id, reason)
        .order_by(photos.c.event_id, n.desc(), reason)
    )
    if event_id is not None:
        stmt = stmt.where(photos.c.event_id == event_id)
    found: dict[int, list[tuple[str, int]]] = {}
    for event, text, count in conn.execute(stmt):
        top = found.setdefault(event, [])
        if len(top) < TOP_FAILURES:
            top.append((str(text), int(count)))
    return found


def _last_concurrency(conn: Connection, event_ids: Collection[int]) -> dict[int, int]:
    """Downloads at once in the newest run covering each event that recorded it (running or
    finished)."""
    wanted = set(event_ids)
    found: dict[int, int] = {}
    stmt = (
        select(runs.c.concurrency, runs.c.event_ids)
        .where(runs.c.concurrency.is_not(None))
        .order_by(runs.c.id.desc())
    )
    result = conn.execute(stmt.execution_options(yield_per=100))
    try:
        for downloads, covered in result:
            for event in set(json.loads(covered)) & wanted:
                found[event] = int(downloads)
            wanted -= found.keys()
            if not wanted:
                break
    finally:
        result.close()
    return found


def _last_run_ends(conn: Connection, event_ids: Collection[int]) -> dict[int, datetime]:
    """When the last finished run covering each event ended (newest runs read first)."""
    wanted = set(event_ids)
    found: dict[int, datetime] = {}
    stmt = (
        select(runs.c.ended_at, runs.c.event_ids)
        .where(runs.c.ended_at.is_not(None))
        .order_by(runs.c.ended_at.desc())
    )
    result = conn.execute(stmt.execution_options(yield_per=100))
    try:
        for ended_at, covered in result:
            for event in set(json.loads(covered)) & wanted:
                found[event] = ended_at
            wanted -= found.keys()
            if not wanted:
                break
    finally:
        result.close()  # a server-side cursor left early must be closed, not collected
    return found
