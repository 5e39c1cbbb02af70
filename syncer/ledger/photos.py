"""Photos to download and their files: due lists, download results, placements."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, delete, func, select, update

from syncer.errors import SyncerError
from syncer.ledger.batches import chunked
from syncer.ledger.models import bib_members, events, photos, placements
from syncer.ledger.records import DuePhoto, PhotoResult, PlacedPhoto

Placements = Sequence[tuple[str, str | None]]
MAX_ERROR = 500  # characters of an error message kept per photo
OPEN_STATES = ("pending", "failed")  # photos still to download: what due lists


def failed_due(now: datetime, any_failed: bool) -> ColumnElement[bool]:
    """Failed photos that are due: all of them, or those whose delay has passed."""
    if any_failed:
        return photos.c.state == "failed"
    return (photos.c.state == "failed") & (photos.c.next_attempt_at <= now)


def due(
    conn: Connection,
    event_id: int,
    now: datetime,
    after_id: int,
    limit: int,
    *,
    any_failed: bool = False,
) -> list[DuePhoto]:
    """One page of due photos (pending, or failed and due again), in id order."""
    params = {"event": event_id, "after": after_id, "limit": limit, "now": now}
    rows = [
        *conn.execute(_DUE_PENDING, params),
        *conn.execute(_DUE_FAILED_ANY if any_failed else _DUE_FAILED, params),
    ]
    return _due_photos(conn, event_id, sorted(rows, key=lambda row: int(row.id))[:limit])


def _due_page(state_is_due: ColumnElement[bool]) -> Select[Any]:
    """Built once: constructing the statement costs more than running it on a ledger with
    nothing due (what every cycle of a daemon asks, again and again)."""
    columns = (photos.c.id, photos.c.image_id, photos.c.attempts, photos.c.missing_walks)
    return (
        select(*columns)
        .where(photos.c.event_id == bindparam("event"), photos.c.id > bindparam("after"))
        .where(state_is_due)
        .order_by(photos.c.id)
        .limit(bindparam("limit"))
    )


_DUE_PENDING = _due_page(photos.c.state == "pending")
_DUE_FAILED_ANY = _due_page(photos.c.state == "failed")
_DUE_FAILED = _due_page(
    (photos.c.state == "failed")
    & (photos.c.next_attempt_at <= bindparam("now", type_=photos.c.next_attempt_at.type))
)


def due_among(
    conn: Connection,
    event_id: int,
    image_ids: Collection[str],
    now: datetime,
    *,
    any_failed: bool = False,
) -> list[DuePhoto]:
    """The due photos among ``image_ids`` (a selection), in id order."""
    columns = (photos.c.id, photos.c.image_id, photos.c.attempts, photos.c.missing_walks)
    is_due = (photos.c.state == "pending") | failed_due(now, any_failed)
    rows: list[Any] = []
    for chunk in chunked(sorted(set(image_ids))):
        stmt = select(*columns).where(
            photos.c.event_id == event_id, photos.c.image_id.in_(chunk), is_due
        )
        rows.extend(conn.execute(stmt))
    return _due_photos(conn, event_id, sorted(rows, key=lambda row: int(row.id)))


def _due_photos(conn: Connection, event_id: int, rows: Sequence[Any]) -> list[DuePhoto]:
    bibs = bibs_for(conn, [row.id for row in rows])
    return [
        DuePhoto(
            row.id, event_id, row.image_id, bibs.get(row.id, ()), row.attempts, row.missing_walks
        )
        for row in rows
    ]


def count_due(conn: Connection, event_id: int, now: datetime, *, any_failed: bool = False) -> int:
    """How many photos :func:`due` would list over all pages (two index range counts)."""
    base = select(func.count()).where(photos.c.event_id == event_id)
    pending = conn.scalar(base.where(photos.c.state == "pending"))
    failed = conn.scalar(base.where(failed_due(now, any_failed)))
    return int(pending or 0) + int(failed or 0)


def bibs_for(conn: Connection, photo_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The sorted BIBs of each photo in ``photo_ids`` (photos without any are absent)."""
    found: dict[int, list[str]] = {}
    join = photos.join(
        bib_members,
        (bib_members.c.event_id == photos.c.event_id)
        & (bib_members.c.image_id == photos.c.image_id),
    )
    for chunk in chunked(photo_ids):
        stmt = select(photos.c.id, bib_members.c.bib).select_from(join)
        for photo_id, bib in conn.execute(stmt.where(photos.c.id.in_(chunk))):
            found.setdefault(photo_id, []).append(bib)
    return {photo_id: tuple(sorted(bibs)) for photo_id, bibs in found.items()}


def placements_for(conn: Connection, photo_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The placed relative paths of each photo, in the order they were recorded."""
    found: dict[int, list[str]] = {}
    for chunk in chunked(photo_ids):
        stmt = (
            select(placements.c.photo_id, placements.c.relpath)
            .where(placements.c.photo_id.in_(chunk))
            .order_by(placements.c.id)
        )
        for photo_id, relpath in conn.execute(stmt):
            found.setdefault(photo_id, []).append(relpath)
    return {photo_id: tuple(paths) for photo_id, paths in found.items()}


def placed(
    conn: Connection, conditions: Iterable[ColumnElement[bool]], limit: int | None
) -> list[PlacedPhoto]:
    """Photos matching ``conditions`` in id order, with their BIBs and placements."""
    stmt = (
        select(
            photos.c.id,
            photos.c.event_id,
            photos.c.image_id,
            photos.c.sha256,
            photos.c.bytes,
            photos.c.missing_walks,
        )
        .where(*conditions)
        .order_by(photos.c.id)
        .limit(limit)
    )
    rows = list(conn.execute(stmt))
    ids = [row.id for row in rows]
    bibs, paths = bibs_for(conn, ids), placements_for(conn, ids)
    return [
        PlacedPhoto(
            photo_id=row.id,
            event_id=row.event_id,
            image_id=row.image_id,
            bibs=bibs.get(row.id, ()),
            placements=paths.get(row.id, ()),
            sha256=row.sha256,
            bytes=row.bytes,
            missing_walks=row.missing_walks,
        )
        for row in rows
    ]


def record_results(
    conn: Connection, results: Sequence[PhotoResult], now: datetime, *, shared: bool = False
) -> int:
    """Apply a batch of download outcomes; return how many were left out.

    On a ledger ``shared`` by nodes only photos still open are recorded: their rows are
    checked (and locked) in the transaction that records them and their placements, so a
    photo another node finished meanwhile keeps that node's record. Alone, every photo taken
    is still open (the single writer took it): no check is needed.
    """
    ids = [r.photo_id for r in results]
    open_ids = _still_open(conn, ids) if shared else set(ids)
    by_outcome: dict[str, list[PhotoResult]] = {"downloaded": [], "retry": [], "unavailable": []}
    for result in results:
        if result.photo_id in open_ids:
            by_outcome[result.outcome].append(result)
    _record_downloaded(conn, by_outcome["downloaded"], now)
    _record_failed(conn, by_outcome["retry"], "failed", now)
    _record_failed(conn, by_outcome["unavailable"], "unavailable", now)
    return len(results) - sum(map(len, by_outcome.values()))


def _still_open(conn: Connection, photo_ids: Sequence[int]) -> set[int]:
    """Lock the rows of ``photo_ids`` for this transaction; return those still open.

    Raises SyncerError naming ids the ledger does not have.
    """
    open_ids: set[int] = set()
    known: set[int] = set()
    for chunk in chunked(sorted(set(photo_ids))):
        stmt = select(photos.c.id, photos.c.state).where(photos.c.id.in_(chunk)).with_for_update()
        for photo_id, state in conn.execute(stmt):
            known.add(photo_id)
            if state in OPEN_STATES:
                open_ids.add(photo_id)
    unknown = sorted(set(photo_ids) - known)
    if unknown:
        raise SyncerError(f"unknown photo ids in the ledger: {unknown[:10]}")
    return open_ids


def _record_downloaded(conn: Connection, results: Sequence[PhotoResult], now: datetime) -> None:
    if not results:
        return
    stmt = (
        update(photos)
        .where(photos.c.id == bindparam("photo_id_"))
        .values(
            state="downloaded",
            bytes=bindparam("bytes_"),
            sha256=bindparam("sha256_"),
            content_type=bindparam("content_type_"),
            downloaded_at=now,
            next_attempt_at=None,
            last_error=None,
            placements_dirty=False,
            claimed_by=None,
            lease_until=None,
        )
    )
    rows = [
        {
            "photo_id_": r.photo_id,
            "bytes_": r.bytes,
            "sha256_": r.sha256,
            "content_type_": r.content_type,
        }
        for r in results
    ]
    _execute_for_each(conn, stmt, rows)
    replace_placements(conn, {r.photo_id: r.placement_pairs() for r in results})
    _recheck_stale(conn, results)


def _recheck_stale(conn: Connection, results: Sequence[PhotoResult]) -> None:
    """Photos placed by memberships that changed meanwhile (their event's members_version rose
    after they were taken) get their placements checked again, like any photo whose BIBs or
    people changed after its download."""
    by_version: dict[int, list[int]] = {}
    for result in results:
        if result.members_version is not None:
            by_version.setdefault(result.members_version, []).append(result.photo_id)
    for version, photo_ids in by_version.items():
        changed = select(events.c.event_id).where(events.c.members_version != version)
        for chunk in chunked(photo_ids):
            conn.execute(
                update(photos)
                .where(photos.c.id.in_(chunk), photos.c.event_id.in_(changed))
                .values(placements_dirty=True)
            )


def _record_failed(
    conn: Connection, results: Sequence[PhotoResult], state: str, now: datetime
) -> None:
    if not results:
        return
    stmt = (
        update(photos)
        .where(photos.c.id == bindparam("photo_id_"))
        .values(
            state=state,
            attempts=photos.c.attempts + 1,
            next_attempt_at=bindparam("retry_at_", type_=photos.c.next_attempt_at.type),
            last_error=bindparam("error_"),
            claimed_by=None,
            lease_until=None,
        )
    )
    rows = [
        {
            "photo_id_": r.photo_id,
            "retry_at_": (r.retry_at or now) if state == "failed" else None,
            "error_": (r.error or "unknown error")[:MAX_ERROR],
        }
        for r in results
    ]
    _execute_for_each(conn, stmt, rows)


def _execute_for_each(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``stmt`` once per row (executemany); every row must name an existing photo."""
    changed = conn.execute(stmt, list(rows)).rowcount
    if changed != len(rows):
        known = set(conn.scalars(select(photos.c.id).where(photos.c.id.in_(_ids(rows)))))
        unknown = sorted(set(_ids(rows)) - known)
        raise SyncerError(f"unknown photo ids in the ledger: {unknown[:10]}")


def _ids(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    return [int(row["photo_id_"]) for row in rows]


def replace_placements(conn: Connection, wanted: Mapping[int, Placements]) -> None:
    """Give each photo exactly the placements listed; a path another photo held moves over
    to the new photo and its former owner is marked for re-placement."""
    if not wanted:
        return
    conn.execute(
        delete(placements).where(placements.c.photo_id == bindparam("photo_id_")),
        [{"photo_id_": photo_id} for photo_id in wanted],
    )
    claims: dict[str, tuple[int, str | None]] = {}
    displaced: set[int] = set()
    for photo_id, pairs in wanted.items():
        for relpath, bib in pairs:
            _check_relpath(photo_id, relpath)
            previous = claims.get(relpath)
            if previous is not None and previous[0] != photo_id:
                displaced.add(previous[0])
            claims[relpath] = (photo_id, bib)
    holders = occupied(conn, list(claims))
    if holders:
        conn.execute(
            delete(placements).where(placements.c.relpath == bindparam("relpath_")),
            [{"relpath_": relpath} for relpath in holders],
        )
        displaced.update(holders.values())
    if claims:
        rows = [{"photo_id": p, "relpath": r, "bib": b} for r, (p, b) in claims.items()]
        conn.execute(placements.insert(), rows)
    _mark_displaced(conn, displaced)


def _check_relpath(photo_id: int, relpath: str) -> None:
    if not relpath or relpath.startswith("/") or "\\" in relpath:
        raise SyncerError(f"photo {photo_id}: placement {relpath!r} is not a relative POSIX path")


def _mark_displaced(conn: Connection, photo_ids: Collection[int]) -> None:
    if photo_ids:
        conn.execute(
            update(photos)
            .where(photos.c.id == bindparam("photo_id_"))
            .values(placements_dirty=True),
            [{"photo_id_": photo_id} for photo_id in sorted(photo_ids)],
        )


def set_placements_many(conn: Connection, items: Sequence[tuple[int, Placements]]) -> None:
    """Record where photos' files are now; their placements are clean again."""
    if not items:
        return
    wanted = dict(items)
    rows = [{"photo_id_": photo_id} for photo_id in wanted]
    _execute_for_each(
        conn,
        update(photos).where(photos.c.id == bindparam("photo_id_")).values(placements_dirty=False),
        rows,
    )
    replace_placements(conn, wanted)


def mark_removed(conn: Connection, photo_id: int, trash: Placements) -> None:
    """The photo left the event: its files now sit at the ``trash`` paths."""
    stmt = (
        update(photos)
        .where(photos.c.id == bindparam("photo_id_"))
        .values(state="removed", placements_dirty=False)
    )
    _execute_for_each(conn, stmt, [{"photo_id_": photo_id}])
    replace_placements(conn, {photo_id: trash})


def requeue(conn: Connection, photo_ids: Collection[int], reason: str) -> int:
    """Download these photos again from scratch; return how many exist."""
    if not photo_ids:
        return 0
    stmt = (
        update(photos)
        .where(photos.c.id == bindparam("photo_id_"))
        .values(state="pending", attempts=0, next_attempt_at=None, last_error=reason[:MAX_ERROR])
    )
    return int(conn.execute(stmt, [{"photo_id_": i} for i in sorted(set(photo_ids))]).rowcount)


def downloaded_files(conn: Connection, event_id: int) -> list[tuple[int, str]]:
    """``(photo id, relative path)`` of every file of the event's downloaded photos, in no
    particular order."""
    stmt = (
        select(placements.c.photo_id, placements.c.relpath)
        .join(photos, photos.c.id == placements.c.photo_id)
        .where(photos.c.event_id == event_id, photos.c.state == "downloaded")
    )
    return [(photo_id, relpath) for photo_id, relpath in conn.execute(stmt)]


def mark_dirty(conn: Connection, photo_ids: Collection[int]) -> None:
    """These photos' files must be placed again (from a file of theirs that is still there)."""
    _mark_displaced(conn, photo_ids)


def occupied(conn: Connection, relpaths: Collection[str]) -> dict[str, int]:
    """Which of ``relpaths`` are already placements, and of which photo."""
    taken: dict[str, int] = {}
    for chunk in chunked(relpaths):
        stmt = select(placements.c.relpath, placements.c.photo_id).where(
            placements.c.relpath.in_(chunk)
        )
        taken.update({relpath: photo_id for relpath, photo_id in conn.execute(stmt)})
    return taken
