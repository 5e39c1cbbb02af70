"""Claims: which node downloads which photo, until when, and the nodes' own rows.

A server ledger shared by several nodes hands out download work by claims: a node takes a
batch of due photos with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two nodes never take the same
row, and neither waits for the other) and marks them ``claimed_by`` itself until
``lease_until``. It renews the leases of the photos it still holds while it works; a node
that dies stops renewing, and once its leases have passed any node may take those photos.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from syncer.ledger.batches import chunked
from syncer.ledger.engine import upsert_insert
from syncer.ledger.models import nodes, photos
from syncer.ledger.photos import OPEN_STATES, bibs_for, failed_due
from syncer.ledger.records import DuePhoto, NodeStatus


def _free(now: datetime) -> ColumnElement[bool]:
    """Rows no node holds now: never claimed, or their lease has passed."""
    return or_(photos.c.lease_until.is_(None), photos.c.lease_until < now)


def _held_by_others(node: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        photos.c.claimed_by.is_not(None),
        photos.c.claimed_by != node,
        photos.c.lease_until >= now,
        photos.c.state.in_(OPEN_STATES),
    )


def claim(
    conn: Connection,
    event_id: int,
    now: datetime,
    *,
    node: str,
    until: datetime,
    after_id: int,
    limit: int,
    any_failed: bool,
) -> list[DuePhoto]:
    """Take up to ``limit`` due photos no node holds (ids above ``after_id``) for ``node``.

    One statement: the rows are chosen and locked (skipping rows another transaction has
    locked) and marked in the same transaction, so two nodes never take the same photo.
    """
    due_now = or_(photos.c.state == "pending", failed_due(now, any_failed))
    chosen = (
        select(photos.c.id)
        .where(photos.c.event_id == event_id, photos.c.id > after_id, due_now, _free(now))
        .order_by(photos.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(photos)
        .where(photos.c.id.in_(chosen.scalar_subquery()))
        .values(claimed_by=node, lease_until=until)
        .returning(photos.c.id, photos.c.image_id, photos.c.attempts, photos.c.missing_walks)
    )
    rows = sorted(conn.execute(stmt), key=lambda row: int(row.id))
    bibs = bibs_for(conn, [row.id for row in rows])
    return [
        DuePhoto(
            row.id, event_id, row.image_id, bibs.get(row.id, ()), row.attempts, row.missing_walks
        )
        for row in rows
    ]


def held_by_others(conn: Connection, event_id: int, node: str, now: datetime) -> bool:
    """Whether another node holds a live claim on a photo of the event."""
    stmt = select(
        select(photos.c.id)
        .where(photos.c.event_id == event_id, _held_by_others(node, now))
        .exists()
    )
    return bool(conn.scalar(stmt))


def renew(conn: Connection, node: str, photo_ids: Collection[int], until: datetime) -> int:
    """Extend the node's leases on these photos; return how many it still holds."""
    held = 0
    for chunk in chunked(sorted(photo_ids)):
        stmt = (
            update(photos)
            .where(photos.c.id.in_(chunk), photos.c.claimed_by == node)
            .values(lease_until=until)
        )
        held += conn.execute(stmt).rowcount
    return held


def release(conn: Connection, node: str) -> int:
    """Give up every claim of ``node`` (photos left for any node); return how many."""
    stmt = (
        update(photos).where(photos.c.claimed_by == node).values(claimed_by=None, lease_until=None)
    )
    return int(conn.execute(stmt).rowcount)


def heartbeat(
    conn: Connection,
    node: str,
    now: datetime,
    *,
    claimed: int,
    downloading: int,
    started: bool = False,
) -> None:
    """The node's row: seen now, with these counts (``started``: a new start of the node)."""
    values = {"last_seen": now, "claimed": claimed, "downloading": downloading}
    stmt = upsert_insert(conn, nodes).values(name=node, started_at=now, **values)
    if started:
        values["started_at"] = now
    conn.execute(stmt.on_conflict_do_update(index_elements=[nodes.c.name], set_=values))


def node_statuses(conn: Connection, now: datetime) -> list[NodeStatus]:
    """Every node the ledger knows, by name, with its live claims per event."""
    live = (
        select(photos.c.claimed_by, photos.c.event_id, func.count())
        .where(
            photos.c.claimed_by.is_not(None),
            photos.c.lease_until >= now,
            photos.c.state.in_(OPEN_STATES),
        )
        .group_by(photos.c.claimed_by, photos.c.event_id)
    )
    claims: dict[str, dict[int, int]] = {}
    for name, event_id, n in conn.execute(live):
        claims.setdefault(name, {})[int(event_id)] = int(n)
    rows = conn.execute(select(nodes).order_by(nodes.c.name))
    return [
        NodeStatus(
            name=row.name,
            started_at=row.started_at,
            last_seen=row.last_seen,
            downloading=row.downloading,
            claimed=claims.get(row.name, {}),
        )
        for row in rows
    ]
