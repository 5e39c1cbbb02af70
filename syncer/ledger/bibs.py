"""BIB membership and search coverage: the photos of each BIB, and what its search has seen.

Coverage is kept per event and BIB as the event's ``photo_mark`` at the moment the BIB's last
complete search began. The mark grows whenever the event gains a photo row or a removed photo
is listed again, so a BIB whose coverage equals the mark cannot find anything new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, select, update

from syncer.errors import SyncerError
from syncer.ledger.batches import chunked
from syncer.ledger.engine import upsert_insert
from syncer.ledger.models import bib_members, bib_searches, events, photos
from syncer.ledger.records import BibPass, SeenImage
from syncer.ledger.walks import add_found, ensure_event


def list_digest(bibs: Sequence[str]) -> str:
    """A digest of a BIB list (order included): any change to the list changes it."""
    return hashlib.sha256(json.dumps(list(bibs), ensure_ascii=False).encode()).hexdigest()


def bibs_to_search(conn: Connection, event_id: int, bibs: Sequence[str]) -> BibPass:
    """Those of ``bibs`` that were never searched or whose last search began below the mark.

    When the same list was searched completely at the current mark, nothing else is read.
    """
    digest = list_digest(bibs)
    row = conn.execute(
        select(events.c.photo_mark, events.c.bibs_digest, events.c.bibs_pass_mark).where(
            events.c.event_id == event_id
        )
    ).first()
    mark = int(row.photo_mark) if row is not None else 0
    if row is not None and (row.bibs_digest, row.bibs_pass_mark) == (digest, mark):
        return BibPass(mark=mark, bibs=(), digest=digest, settled=True)
    covered = set(
        conn.scalars(
            select(bib_searches.c.bib).where(
                bib_searches.c.event_id == event_id, bib_searches.c.covered_mark >= mark
            )
        )
    )
    todo = tuple(bib for bib in bibs if bib not in covered)
    return BibPass(mark=mark, bibs=todo, digest=digest)


def finish_pass(conn: Connection, event_id: int, done: BibPass) -> None:
    """Every BIB of the list ``done`` stands for is searched at ``done.mark``: remember it."""
    ensure_event(conn, event_id)
    conn.execute(
        update(events)
        .where(events.c.event_id == event_id)
        .values(bibs_digest=done.digest, bibs_pass_mark=done.mark)
    )


def record_searches(
    conn: Connection,
    event_id: int,
    found: Mapping[str, Collection[str]],
    covered_mark: int | None,
    now: datetime,
) -> int:
    """Replace the photos of each BIB in ``found`` with the ones its search returned.

    With ``covered_mark``, also record that these searches were complete as of that mark.
    Returns how many memberships were added or removed.
    """
    if any(not bib for bib in found):
        raise SyncerError(f"event {event_id}: a BIB cannot be empty")
    if not found:
        return 0
    ensure_event(conn, event_id)
    current = _members(conn, event_id, list(found))
    added = [
        (bib, i) for bib, ids in found.items() for i in sorted(set(ids) - current.get(bib, set()))
    ]
    removed = [(bib, i) for bib, ids in current.items() for i in sorted(ids - set(found[bib]))]
    if added:
        _add_photos(conn, event_id, sorted({i for _, i in added}), now)
        conn.execute(
            bib_members.insert(),
            [{"event_id": event_id, "bib": bib, "image_id": i} for bib, i in added],
        )
    if removed:
        conn.execute(_DELETE_MEMBER, [{"event": event_id, "b": b, "i": i} for b, i in removed])
    mark_dirty(conn, event_id, sorted({i for _, i in added + removed}))
    if covered_mark is not None:
        _cover(conn, event_id, list(found), covered_mark, now)
    return len(added) + len(removed)


_DELETE_MEMBER = delete(bib_members).where(
    bib_members.c.event_id == bindparam("event"),
    bib_members.c.bib == bindparam("b"),
    bib_members.c.image_id == bindparam("i"),
)


def _members(conn: Connection, event_id: int, bibs: Sequence[str]) -> dict[str, set[str]]:
    """The stored photos of each of ``bibs`` (BIBs without any are left out)."""
    members: dict[str, set[str]] = {}
    for chunk in chunked(bibs):
        rows = conn.execute(
            select(bib_members.c.bib, bib_members.c.image_id).where(
                bib_members.c.event_id == event_id, bib_members.c.bib.in_(chunk)
            )
        )
        for bib, image_id in rows:
            members.setdefault(bib, set()).add(image_id)
    return members


def _add_photos(conn: Connection, event_id: int, image_ids: Sequence[str], now: datetime) -> None:
    """Photos a search found before the walk listed them get a row (and raise the mark)."""
    add_found(conn, event_id, [SeenImage(image_id, None, None) for image_id in image_ids], now)


def _cover(
    conn: Connection, event_id: int, bibs: Sequence[str], covered_mark: int, now: datetime
) -> None:
    """Record (one statement for the whole batch) that these BIBs were searched at the mark."""
    stmt = upsert_insert(conn, bib_searches)
    stmt = stmt.on_conflict_do_update(
        index_elements=[bib_searches.c.event_id, bib_searches.c.bib],
        set_={
            "covered_mark": stmt.excluded.covered_mark,
            "searched_at": stmt.excluded.searched_at,
        },
    )
    conn.execute(
        stmt,
        [
            {"event_id": event_id, "bib": bib, "covered_mark": covered_mark, "searched_at": now}
            for bib in bibs
        ],
    )


def retain_bibs(conn: Connection, event_id: int, bibs: Collection[str]) -> int:
    """Forget the memberships, and coverage, of every BIB not in ``bibs`` that has photos.

    Such a BIB listed again later is searched again. The coverage of a BIB without photos is
    kept: its search found nothing as of its mark, which stays true wherever it is listed.
    Returns how many membership rows were removed.
    """
    keep = set(bibs)
    stored = set(
        conn.scalars(select(bib_members.c.bib).where(bib_members.c.event_id == event_id).distinct())
    )
    dropped = sorted(stored - keep)
    affected: set[str] = set()
    removed = 0
    for chunk in chunked(dropped):
        condition = and_(bib_members.c.event_id == event_id, bib_members.c.bib.in_(chunk))
        affected.update(conn.scalars(select(bib_members.c.image_id).where(condition)))
        removed += conn.execute(delete(bib_members).where(condition)).rowcount
        conn.execute(
            delete(bib_searches).where(
                bib_searches.c.event_id == event_id, bib_searches.c.bib.in_(chunk)
            )
        )
    mark_dirty(conn, event_id, sorted(affected))
    return removed


def members_version(conn: Connection, event_id: int) -> int:
    """The version of the event's memberships (0 for an event the ledger does not know)."""
    found = conn.scalar(select(events.c.members_version).where(events.c.event_id == event_id))
    return int(found or 0)


def mark_dirty(conn: Connection, event_id: int, image_ids: Sequence[str]) -> None:
    """The memberships of ``image_ids`` changed: those downloaded need their files placed
    again, and the event's ``members_version`` rises (a photo being downloaded now was placed
    by what was known before: it is checked again when it is recorded)."""
    if not image_ids:
        return
    conn.execute(
        update(events)
        .where(events.c.event_id == event_id)
        .values(members_version=events.c.members_version + 1)
    )
    conn.execute(
        update(photos)
        .where(
            photos.c.event_id == event_id,
            photos.c.image_id == bindparam("image_id_"),
            photos.c.state == "downloaded",
        )
        .values(placements_dirty=True),
        [{"image_id_": i} for i in image_ids],
    )
