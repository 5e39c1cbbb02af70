"""People: each person's selfie search per event, the photos it matched, and their clips.

A person's matches only grow: a later search adds the photos it finds, and nothing removes
the earlier ones (a photo leaves a person's folder only when it leaves the event).
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select, update

from syncer.ledger.bibs import mark_dirty
from syncer.ledger.engine import upsert_insert
from syncer.ledger.models import clips, events, face_searches, person_members, photos
from syncer.ledger.records import PersonSearch, PersonStatus, SeenImage, StoredClip
from syncer.ledger.timestamps import require_utc
from syncer.ledger.walks import ensure_event, insert_new

_SEARCH_COLUMNS = (
    face_searches.c.event_id,
    face_searches.c.person,
    face_searches.c.selfie_sha256,
    face_searches.c.request_id,
    face_searches.c.covered_mark,
    face_searches.c.clip_request_id,
    face_searches.c.clip_source,
    face_searches.c.clip_state,
    face_searches.c.clip_error,
)


def _key(event_id: int, person: str, sha256: str) -> tuple[ColumnElement[bool], ...]:
    return (
        face_searches.c.event_id == event_id,
        face_searches.c.person == person,
        face_searches.c.selfie_sha256 == sha256,
    )


def person_search(conn: Connection, event_id: int, person: str, sha256: str) -> PersonSearch | None:
    row = conn.execute(select(*_SEARCH_COLUMNS).where(*_key(event_id, person, sha256))).first()
    return None if row is None else PersonSearch(*row)


def photo_mark(conn: Connection, event_id: int) -> int:
    mark = conn.scalar(select(events.c.photo_mark).where(events.c.event_id == event_id))
    return int(mark or 0)


def begin_search(
    conn: Connection, event_id: int, person: str, sha256: str, request_id: str
) -> None:
    """A new search under ``request_id``: recorded before its POST, so a retry reuses it."""
    ensure_event(conn, event_id)
    stmt = upsert_insert(conn, face_searches).values(
        event_id=event_id, person=person, selfie_sha256=sha256, request_id=request_id
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                face_searches.c.event_id,
                face_searches.c.person,
                face_searches.c.selfie_sha256,
            ],
            set_={"request_id": request_id, "covered_mark": None},
        )
    )


def record_matches(
    conn: Connection,
    event_id: int,
    person: str,
    sha256: str,
    image_ids: Collection[str],
    now: datetime,
    request_id: str,
) -> int:
    """Add the photos a finished search matched; return how many were new to the person.

    Photos the ledger does not know yet get a row (pending); downloaded ones are placed again
    (into the person's folder) by the next reconcile. The search then covers the event's mark.
    """
    known = set(
        conn.scalars(
            select(person_members.c.image_id).where(
                person_members.c.event_id == event_id, person_members.c.person == person
            )
        )
    )
    added = sorted(set(image_ids) - known)
    if added:
        seen = [SeenImage(image_id, None, None) for image_id in added]
        if insert_new(conn, event_id, 0, seen, now):
            conn.execute(
                update(events)
                .where(events.c.event_id == event_id)
                .values(photo_mark=events.c.photo_mark + 1)
            )
        conn.execute(
            person_members.insert(),
            [{"event_id": event_id, "person": person, "image_id": i} for i in added],
        )
        mark_dirty(conn, event_id, added)
    conn.execute(
        update(face_searches)
        .where(*_key(event_id, person, sha256))
        .values(request_id=request_id, covered_mark=photo_mark(conn, event_id), searched_at=now)
    )
    return len(added)


def set_clip(
    conn: Connection,
    event_id: int,
    person: str,
    sha256: str,
    *,
    request_id: str | None,
    source: str | None,
    state: str,
    error: str | None = None,
) -> None:
    conn.execute(
        update(face_searches)
        .where(*_key(event_id, person, sha256))
        .values(clip_request_id=request_id, clip_source=source, clip_state=state, clip_error=error)
    )


def record_clip(
    conn: Connection,
    event_id: int,
    person: str,
    name: str,
    relpath: str,
    size: int,
    sha256: str,
    now: datetime,
) -> None:
    ensure_event(conn, event_id)
    stmt = upsert_insert(conn, clips).values(
        event_id=event_id,
        person=person,
        name=name,
        relpath=relpath,
        bytes=size,
        sha256=sha256,
        downloaded_at=now,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[clips.c.event_id, clips.c.person, clips.c.name],
            set_={"relpath": relpath, "bytes": size, "sha256": sha256, "downloaded_at": now},
        )
    )


def clip_files(conn: Connection, event_id: int, person: str) -> dict[str, str]:
    rows = conn.execute(
        select(clips.c.name, clips.c.relpath).where(
            clips.c.event_id == event_id, clips.c.person == person
        )
    )
    return {name: relpath for name, relpath in rows}


def stored_clips(conn: Connection, event_id: int | None) -> list[StoredClip]:
    query = select(
        clips.c.event_id,
        clips.c.person,
        clips.c.name,
        clips.c.relpath,
        clips.c.bytes,
        clips.c.sha256,
    ).order_by(clips.c.event_id, clips.c.person, clips.c.name)
    if event_id is not None:
        query = query.where(clips.c.event_id == event_id)
    return [StoredClip(*row) for row in conn.execute(query)]


def recheck_clips(conn: Connection, event_id: int, person: str) -> None:
    """The person's finished clip job is looked at again by the next run (clips went bad)."""
    conn.execute(
        update(face_searches)
        .where(
            face_searches.c.event_id == event_id,
            face_searches.c.person == person,
            face_searches.c.clip_state == "done",
        )
        .values(clip_state="recheck")
    )


def members(conn: Connection, event_id: int) -> dict[str, tuple[str, ...]]:
    """The people of each photo of the event that any search matched (sorted names)."""
    found: dict[str, list[str]] = {}
    stmt = select(person_members.c.image_id, person_members.c.person).where(
        person_members.c.event_id == event_id
    )
    for image_id, person in conn.execute(stmt):
        found.setdefault(image_id, []).append(person)
    return {image_id: tuple(sorted(people)) for image_id, people in found.items()}


def people_status(conn: Connection, event_id: int) -> list[PersonStatus]:
    """Per person of the event: matches, matches in the person's folder (placed), matches
    still to download or place (pending; removed photos are neither), and clips."""
    join = person_members.join(
        photos,
        (photos.c.event_id == person_members.c.event_id)
        & (photos.c.image_id == person_members.c.image_id),
    )
    counts: dict[str, list[int]] = {}
    dirty = photos.c.placements_dirty
    stmt = (
        select(person_members.c.person, photos.c.state, dirty, func.count())
        .select_from(join)
        .where(person_members.c.event_id == event_id)
        .group_by(person_members.c.person, photos.c.state, dirty)
    )
    for person, state, unplaced, count in conn.execute(stmt):
        row = counts.setdefault(person, [0, 0, 0])
        row[0] += count
        if state == "downloaded" and not unplaced:
            row[1] += count
        elif state != "removed":
            row[2] += count
    searched = conn.scalars(
        select(face_searches.c.person).where(face_searches.c.event_id == event_id).distinct()
    )
    for person in searched:
        counts.setdefault(person, [0, 0, 0])
    clip_counts: dict[str, int] = dict(
        conn.execute(
            select(clips.c.person, func.count())
            .where(clips.c.event_id == event_id)
            .group_by(clips.c.person)
        ).all()
    )
    return [
        PersonStatus(
            person,
            matches=counts[person][0],
            placed=counts[person][1],
            pending=counts[person][2],
            clips=int(clip_counts.get(person, 0)),
        )
        for person in sorted(counts, key=str.casefold)
    ]


class PeopleRecords:
    """The people part of :class:`~syncer.ledger.Ledger` (one transaction per method)."""

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def person_search(self, event_id: int, person: str, sha256: str) -> PersonSearch | None:
        with self._read() as conn:
            return person_search(conn, event_id, person, sha256)

    def photo_mark(self, event_id: int) -> int:
        with self._read() as conn:
            return photo_mark(conn, event_id)

    def begin_person_search(self, event_id: int, person: str, sha256: str, request_id: str) -> None:
        with self._write() as conn:
            begin_search(conn, event_id, person, sha256, request_id)

    def record_person_matches(
        self,
        search: PersonSearch,
        image_ids: Collection[str],
        now: datetime,
        *,
        request_id: str,
    ) -> int:
        """A finished search's matches (kept, never removed) under the ``request_id`` that
        answered; returns how many were new to the person."""
        now = require_utc(now)
        with self._write() as conn:
            return record_matches(
                conn,
                search.event_id,
                search.person,
                search.selfie_sha256,
                image_ids,
                now,
                request_id,
            )

    def set_clip_job(
        self,
        search: PersonSearch,
        *,
        request_id: str | None,
        source: str | None,
        state: str,
        error: str | None = None,
    ) -> None:
        with self._write() as conn:
            set_clip(
                conn,
                search.event_id,
                search.person,
                search.selfie_sha256,
                request_id=request_id,
                source=source,
                state=state,
                error=error,
            )

    def record_clip(
        self,
        event_id: int,
        person: str,
        name: str,
        relpath: str,
        size: int,
        sha256: str,
        now: datetime,
    ) -> None:
        now = require_utc(now)
        with self._write() as conn:
            record_clip(conn, event_id, person, name, relpath, size, sha256, now)

    def clip_files(self, event_id: int, person: str) -> dict[str, str]:
        """clip name -> its file (relative to the root), for the person's stored clips."""
        with self._read() as conn:
            return clip_files(conn, event_id, person)

    def stored_clips(self, event_id: int | None = None) -> list[StoredClip]:
        """Every stored clip (of one event, or of all), for ``syncer verify``."""
        with self._read() as conn:
            return stored_clips(conn, event_id)

    def recheck_clips(self, event_id: int, person: str) -> None:
        """Have the next run look at the person's finished clip job again."""
        with self._write() as conn:
            recheck_clips(conn, event_id, person)

    def people_members(self, event_id: int) -> dict[str, tuple[str, ...]]:
        """image id -> the people whose searches matched it."""
        with self._read() as conn:
            return members(conn, event_id)

    def people_status(self, event_id: int) -> list[PersonStatus]:
        with self._read() as conn:
            return people_status(conn, event_id)
