"""Events and gallery walks: what the planner writes while enumerating All Photos."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, bindparam, func, select, update

from syncer.ledger.batches import chunked
from syncer.ledger.engine import upsert_insert
from syncer.ledger.models import events, photos
from syncer.ledger.records import EventRecord, Listed, WalkState

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

_EVENT_FIELDS = ("name", "slug", "date", "status")


def upsert_event(conn: Connection, record: EventRecord) -> None:
    """Insert or refresh an event; ``None`` fields keep the stored value."""
    stmt = upsert_insert(conn, events).values(
        event_id=record.event_id, **{field: getattr(record, field) for field in _EVENT_FIELDS}
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[events.c.event_id],
        set_={f: func.coalesce(stmt.excluded[f], events.c[f]) for f in _EVENT_FIELDS},
    )
    conn.execute(stmt)


def ensure_event(conn: Connection, event_id: int) -> None:
    """Make sure the event has a row (a bare one if it was never described)."""
    stmt = upsert_insert(conn, events).values(event_id=event_id)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[events.c.event_id]))


def read_event(conn: Connection, event_id: int) -> EventRecord | None:
    row = conn.execute(
        select(events.c.event_id, *(events.c[f] for f in _EVENT_FIELDS)).where(
            events.c.event_id == event_id
        )
    ).first()
    return None if row is None else EventRecord(*row)


def event_ids(conn: Connection) -> list[int]:
    return list(conn.scalars(select(events.c.event_id).order_by(events.c.event_id)))


def begin_walk(
    conn: Connection, event_id: int, now: datetime, resume_within: timedelta
) -> WalkState:
    """Resume a recent interrupted walk, or start the next one from page 1."""
    ensure_event(conn, event_id)
    walk_no, next_page, started_at = conn.execute(
        select(events.c.walk_no, events.c.walk_next_page, events.c.walk_started_at).where(
            events.c.event_id == event_id
        )
    ).one()
    if next_page is not None and started_at is not None and now - started_at <= resume_within:
        return WalkState(walk_no=walk_no, resume_page=next_page)
    conn.execute(
        update(events)
        .where(events.c.event_id == event_id)
        .values(walk_no=walk_no + 1, walk_next_page=1, walk_started_at=now)
    )
    return WalkState(walk_no=walk_no + 1, resume_page=1)


def record_page(
    conn: Connection,
    event_id: int,
    walk_no: int,
    page: int,
    images: Sequence[Listed],
    now: datetime,
) -> int:
    """Upsert the photos of one gallery page; return how many were new."""
    return record_pages(conn, event_id, walk_no, [(page, images)], now)


@dataclass
class WalkMemo:
    """What one walk remembers instead of writing it: the photos listed on pages that held
    only photos the ledger knew as listed by the walks before (known, not removed, not
    missing). Such pages are not written at all: their photos' seen marks are written with the
    next page that has to be written anyway (the walk's resume position then moves past both),
    or never: the walk's end counts them as listed. A no-op walk writes nothing but its end; a
    walk that is stopped starts again from the last page written.

    Which photos were listed before is read once, with the walk's first page: a page of them
    then costs no statement at all (each one would release the GIL and queue for it again
    behind the threads fetching the next pages). A change another process makes meanwhile (a
    node of a shared ledger closing its own walk) is caught up with by the next walk."""

    marked: bool = False  # seen marks of this walk were written (pages, or a resumed walk's)
    unmarked: set[str] = field(default_factory=set)  # listed, seen mark not written
    listed_before: frozenset[str] | None = None  # read with the first page


def listed_before(conn: Connection, event_id: int) -> frozenset[str]:
    """The event's photos known as listed by the walks before: not removed, not missing.

    SQLite hands them over as one JSON array: fetched row by row, every row would release the
    GIL and wait for it again behind the threads fetching pages (a server driver fetches the
    whole result at once anyway)."""
    if _json_lists(conn):
        array = conn.execute(_LISTED_JSON, {"event": event_id}).scalar_one()
        return frozenset(json.loads(array))
    return frozenset(conn.execute(_LISTED, {"event": event_id}).scalars().all())


def record_pages(
    conn: Connection,
    event_id: int,
    walk_no: int,
    pages: Sequence[tuple[int, Sequence[Listed]]],
    now: datetime,
    *,
    also: Sequence[str] = (),
) -> int:
    """Upsert the photos of consecutive gallery pages; return how many were new. ``also``:
    photos listed on pages before these that were not written (see :class:`WalkMemo`).

    A re-walk's pages are one UPDATE that returns no rows: every statement costs a step
    that releases the GIL and waits for it again behind the thread fetching the next pages,
    so the pages that arrived together are marked together. Only photos that UPDATE did not
    mark (new ones, removed ones listed again) cost more.
    """
    if not pages:
        return 0
    if also:
        _mark_seen(conn, event_id, also, walk_no, now)
    unique = {image.image_id: image for _, images in pages for image in images}
    marked = _mark_seen(conn, event_id, list(unique), walk_no, now)
    new = revived = 0
    if marked < len(unique):
        new = insert_new(conn, event_id, walk_no, list(unique.values()), now)
        if marked + new < len(unique):
            revived = _revive(conn, event_id, list(unique), walk_no, now)
    grew = _NEXT_PAGE_GREW if new or revived else _NEXT_PAGE
    conn.execute(grew, {"event": event_id, "next": max(page for page, _ in pages) + 1})
    return new


def insert_new(
    conn: Connection, event_id: int, walk_no: int, images: Sequence[Listed], now: datetime
) -> int:
    """Insert the photos the ledger does not know yet; return how many that was.

    The caller raises the event's photo mark when this returns more than zero.
    """
    rows = [_new_photo(event_id, i.image_id, now, walk_no, i.width, i.height) for i in images]
    if conn.dialect.name == "postgresql":
        # psycopg gives no row count for a batch: count the ids the new rows return instead.
        return len(conn.execute(_insert_missing(conn).returning(photos.c.id), rows).all())
    if conn.dialect.supports_sane_multi_rowcount:
        return int(conn.execute(_insert_missing(conn), rows).rowcount)
    known = _count_known(conn, event_id, [image.image_id for image in images])
    conn.execute(_insert_missing(conn), rows)
    return len(images) - known


def add_found(conn: Connection, event_id: int, images: Sequence[Listed], now: datetime) -> int:
    """Photos a search or a timeline window found, new to the ledger, get a row (seen in no
    walk) and raise the mark. Returns how many were new; known photos are left as they are.
    The event must have its row."""
    if not images:
        return 0
    new = insert_new(conn, event_id, 0, images, now)
    if new:
        conn.execute(
            update(events)
            .where(events.c.event_id == event_id)
            .values(photo_mark=events.c.photo_mark + 1)
        )
    return new


_NEXT_PAGE = (
    update(events)
    .where(events.c.event_id == bindparam("event"))
    .values(walk_next_page=bindparam("next"))
)
_NEXT_PAGE_GREW = (  # the page added photos or listed removed ones again: raise the mark
    update(events)
    .where(events.c.event_id == bindparam("event"))
    .values(walk_next_page=bindparam("next"), photo_mark=events.c.photo_mark + 1)
)


def _new_photo(
    event_id: int, image_id: str, now: datetime, walk_no: int, width: int | None, height: int | None
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "image_id": image_id,
        "state": "pending",
        "attempts": 0,
        "width": width,
        "height": height,
        "first_seen_at": now,
        "last_seen_at": now,
        "last_seen_walk": walk_no,
        "missing_walks": 0,
        "placements_dirty": False,
    }


_inserts: dict[str, sqlite.Insert | postgresql.Insert] = {}


def _insert_missing(conn: Connection) -> sqlite.Insert | postgresql.Insert:
    """INSERT of a photo row that does nothing for a photo already known.

    Built once per dialect: constructing it costs more than executing a page of rows.
    """
    name = conn.dialect.name
    if name not in _inserts:
        _inserts[name] = upsert_insert(conn, photos).on_conflict_do_nothing(
            index_elements=[photos.c.event_id, photos.c.image_id]
        )
    return _inserts[name]


def _revive(
    conn: Connection, event_id: int, image_ids: Sequence[str], walk_no: int, now: datetime
) -> int:
    """Photos marked removed that the gallery lists again are pending again, and seen.

    Returns how many there were.
    """
    revived = 0
    for chunk in chunked(image_ids):
        params = {"event": event_id, "ids": list(chunk), "now": now, "walk": walk_no}
        revived += conn.execute(_REVIVE, params).rowcount
    return revived


def _mark_seen(
    conn: Connection, event_id: int, image_ids: Sequence[str], walk_no: int, now: datetime
) -> int:
    """Mark known, not removed photos as seen in this walk; return how many there were.

    The common case of a re-walk, far cheaper than an upsert per row: indexed columns are left
    alone (no index maintenance).
    """
    if _json_lists(conn):  # one JSON parameter: no expanding IN to render for every page
        params = {"event": event_id, "ids": json.dumps(list(image_ids)), "now": now}
        return int(conn.execute(_MARK_SEEN_JSON, {**params, "walk": walk_no}).rowcount)
    marked = 0
    for chunk in chunked(image_ids):
        params = {"event": event_id, "ids": list(chunk), "now": now, "walk": walk_no}
        marked += conn.execute(_MARK_SEEN, params).rowcount
    return marked


def _json_lists(conn: Connection) -> bool:
    """SQLite 3.38 and later have ``json_each`` built in: a list of ids is one parameter."""
    if conn.dialect.name != "sqlite":
        return False
    version: tuple[int, ...] = conn.dialect.dbapi.sqlite_version_info  # type: ignore[union-attr]
    return version >= (3, 38)


def _count_known(conn: Connection, event_id: int, image_ids: Sequence[str]) -> int:
    return sum(
        conn.execute(_COUNT_KNOWN, {"event": event_id, "ids": list(chunk)}).scalar_one()
        for chunk in chunked(image_ids)
    )


_SAME_PHOTOS = (
    photos.c.event_id == bindparam("event"),
    photos.c.image_id.in_(bindparam("ids", expanding=True)),
)
# Built once: constructing a statement costs more than running it on a page.
_MARK_SEEN = (
    update(photos)
    .where(*_SAME_PHOTOS, photos.c.state != "removed")
    .values(
        last_seen_at=bindparam("now", type_=photos.c.last_seen_at.type),
        last_seen_walk=bindparam("walk"),
        missing_walks=0,
    )
)
_JSON_IDS = select(
    func.json_each(bindparam("ids", type_=String)).table_valued("value").c.value
).scalar_subquery()
_MARK_SEEN_JSON = (
    update(photos)
    .where(
        photos.c.event_id == bindparam("event"),
        photos.c.image_id.in_(_JSON_IDS),
        photos.c.state != "removed",
    )
    .values(
        last_seen_at=bindparam("now", type_=photos.c.last_seen_at.type),
        last_seen_walk=bindparam("walk"),
        missing_walks=0,
    )
)
_REVIVE = (
    update(photos)
    .where(*_SAME_PHOTOS, photos.c.state == "removed")
    .values(
        state="pending",
        attempts=0,
        next_attempt_at=None,
        last_seen_at=bindparam("now", type_=photos.c.last_seen_at.type),
        last_seen_walk=bindparam("walk"),
        missing_walks=0,
    )
)
_COUNT_KNOWN = select(func.count()).select_from(photos).where(*_SAME_PHOTOS)
_LISTED_BEFORE = (photos.c.state != "removed", photos.c.missing_walks == 0)
_LISTED = select(photos.c.image_id).where(photos.c.event_id == bindparam("event"), *_LISTED_BEFORE)
_LISTED_JSON = select(func.json_group_array(photos.c.image_id)).where(
    photos.c.event_id == bindparam("event"), *_LISTED_BEFORE
)


def finish_walk(
    conn: Connection,
    event_id: int,
    walk_no: int,
    now: datetime,
    listed: Collection[str] = (),
    *,
    marked: bool = True,
) -> int:
    """Close a complete walk; photos it did not list count one more missing walk. ``listed``:
    photos it listed whose seen mark was not written (a set), ``marked``: whether any mark of
    this walk was (see :class:`WalkMemo`)."""
    conn.execute(
        update(events)
        .where(events.c.event_id == event_id)
        .values(
            walk_next_page=None,
            last_walk_completed_at=now,
            walks_completed=events.c.walks_completed + 1,
        )
    )
    not_marked = (
        photos.c.event_id == event_id,
        photos.c.last_seen_walk < walk_no,
        photos.c.state != "removed",
    )
    more_missing = update(photos).values(missing_walks=photos.c.missing_walks + 1)
    if not listed:
        return int(conn.execute(more_missing.where(*not_marked)).rowcount)
    if not marked:  # every row not marked is either listed or missing: count, do not read
        rows_left = conn.execute(select(func.count()).where(*not_marked)).scalar_one()
        if rows_left == len(listed):
            return 0
    rows = conn.execute(select(photos.c.id, photos.c.image_id).where(*not_marked))
    missing = [photo_id for photo_id, image_id in rows if image_id not in listed]
    for chunk in chunked(missing):
        conn.execute(more_missing.where(photos.c.id.in_(chunk)))
    return len(missing)
