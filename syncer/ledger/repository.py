"""The ledger: the durable plan and history of a syncer, in one SQLite file or a PostgreSQL
database (``storage.ledger`` as an SQLAlchemy URL).

One thread (the sync coordinator) writes; other processes may read at the same time (WAL on
SQLite, MVCC on PostgreSQL).
Every write method is one transaction, committed before it returns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from syncer.errors import LedgerError, SyncerError
from syncer.ledger import bibs, claims, photos, reports, walks
from syncer.ledger.engine import (
    WRITE_OPTION,
    LedgerTarget,
    create_ledger_engine,
    inspection_engine,
    prepare_file,
    private_umask,
    release_ledger_engine,
    resolve_target,
    translated_errors,
)
from syncer.ledger.migrate import check_existing, upgrade_to_head
from syncer.ledger.models import photos as photo_table
from syncer.ledger.people import PeopleRecords
from syncer.ledger.records import (
    BibPass,
    Claim,
    DuePhoto,
    EventRecord,
    EventStatus,
    Listed,
    NodeStatus,
    PhotoResult,
    PlacedPhoto,
    WalkState,
)
from syncer.ledger.session import NodeSession
from syncer.ledger.snapshot import copy_rows
from syncer.ledger.timestamps import require_utc
from syncer.ledger.walks import WalkMemo

Placements = Sequence[tuple[str, str | None]]


class Ledger(PeopleRecords):
    """Repository over the ledger database. Open it with :meth:`Ledger.open`."""

    def __init__(self, engine: Engine, target: LedgerTarget) -> None:
        self._engine = engine
        self._target = target
        self._closed = False
        self._node: NodeSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, target: str | Path, *, create: bool = True) -> Ledger:
        """Open (creating if allowed) the ledger at a path or SQLAlchemy URL, migrated to head.

        A file that is not a ledger of ours (corrupt, foreign, or from a newer syncer) raises
        :class:`LedgerError` and is left untouched.
        """
        resolved = resolve_target(target)
        engine, _ = _open_migrated(resolved, create=create)
        return cls(engine, resolved)

    @staticmethod
    def upgrade(target: str | Path) -> tuple[str | None, str]:
        """Migrate the ledger to the newest schema; return the (from, to) revisions."""
        resolved = resolve_target(target)
        engine, revisions = _open_migrated(resolved, create=True)
        release_ledger_engine(engine)
        return revisions

    @staticmethod
    def has_schema(target: str | Path) -> bool:
        """Whether the database at ``target`` holds a ledger already (read, never written)."""
        resolved = resolve_target(target)
        if resolved.path is not None and not resolved.path.is_file():
            return False
        return _existing_revision(resolved) is not None

    @property
    def path(self) -> Path | None:
        """The SQLite file of this ledger, None for other databases."""
        return self._target.path

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            release_ledger_engine(self._engine)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self._target.label!r})"

    # -- events and walks --------------------------------------------------------------------

    def upsert_event(self, event: EventRecord) -> None:
        with self._write() as conn:
            walks.upsert_event(conn, event)

    def event(self, event_id: int) -> EventRecord | None:
        with self._read() as conn:
            return walks.read_event(conn, event_id)

    def event_ids(self) -> list[int]:
        with self._read() as conn:
            return walks.event_ids(conn)

    def begin_walk(
        self, event_id: int, now: datetime, *, resume_within: timedelta = timedelta(hours=6)
    ) -> WalkState:
        """Resume an interrupted walk started within ``resume_within``, else start a new one."""
        now = require_utc(now)
        with self._write() as conn:
            return walks.begin_walk(conn, event_id, now, resume_within)

    def record_page(
        self, event_id: int, walk_no: int, page: int, images: Sequence[Listed], now: datetime
    ) -> int:
        """Record one gallery page of the walk; return how many photos were new."""
        now = require_utc(now)
        with self._write() as conn:
            return walks.record_page(conn, event_id, walk_no, page, images, now)

    def record_pages(
        self,
        event_id: int,
        walk_no: int,
        pages: Sequence[tuple[int, Sequence[Listed]]],
        now: datetime,
        memo: WalkMemo | None = None,
    ) -> int:
        """Record consecutive gallery pages of the walk in one transaction; return new photos.

        With the walk's ``memo``, pages of photos the ledger already knows as listed by the
        walks before are remembered there instead of written (see :class:`WalkMemo`)."""
        now = require_utc(now)
        if memo is not None:
            if memo.listed_before is None:
                with self._read() as conn:
                    memo.listed_before = walks.listed_before(conn, event_id)
            ids = [image.image_id for _, images in pages for image in images]
            if memo.listed_before.issuperset(ids):
                memo.unmarked.update(ids)
                return 0
        also = list(memo.unmarked) if memo is not None else []
        with self._write() as conn:
            new = walks.record_pages(conn, event_id, walk_no, pages, now, also=also)
        if memo is not None:  # marked now, with the walk's position past them
            memo.unmarked.clear()
            memo.marked = True
        return new

    def finish_walk(
        self, event_id: int, walk_no: int, now: datetime, memo: WalkMemo | None = None
    ) -> int:
        """Mark the walk complete; return how many photos it did not list."""
        now = require_utc(now)
        listed, marked = (memo.unmarked, memo.marked) if memo is not None else (set(), True)
        with self._write() as conn:
            return walks.finish_walk(conn, event_id, walk_no, now, listed, marked=marked)

    def add_found(self, event_id: int, images: Sequence[Listed], now: datetime) -> int:
        """Record photos found without a walk (a timeline window, a search); return how many
        were new. Known photos keep their state: a downloaded one stays downloaded."""
        now = require_utc(now)
        with self._write() as conn:
            walks.ensure_event(conn, event_id)
            return walks.add_found(conn, event_id, images, now)

    def set_bib_members(
        self, event_id: int, bib: str, image_ids: Collection[str], now: datetime
    ) -> int:
        """Replace the photos of one BIB; return how many memberships changed."""
        now = require_utc(now)
        with self._write() as conn:
            return bibs.record_searches(conn, event_id, {bib: image_ids}, None, now)

    def bibs_to_search(self, event_id: int, wanted: Sequence[str]) -> BibPass:
        """The event's photo mark, and those of ``wanted`` whose search has not seen it yet."""
        with self._read() as conn:
            return bibs.bibs_to_search(conn, event_id, wanted)

    def finish_bib_pass(self, event_id: int, done: BibPass) -> None:
        """Every BIB of ``done``'s list is now searched at its mark (each one recorded)."""
        with self._write() as conn:
            bibs.finish_pass(conn, event_id, done)

    def record_bib_searches(
        self,
        event_id: int,
        found: Mapping[str, Collection[str]],
        covered_mark: int,
        now: datetime,
    ) -> int:
        """Record complete searches (BIB -> every image id found) begun at ``covered_mark``.

        One transaction for the whole batch: memberships replaced, coverage raised to the
        mark. Returns how many memberships were added or removed.
        """
        now = require_utc(now)
        with self._write() as conn:
            return bibs.record_searches(conn, event_id, found, covered_mark, now)

    def members_version(self, event_id: int) -> int:
        """The version of the event's BIB and people memberships: it rises with every change."""
        with self._read() as conn:
            return bibs.members_version(conn, event_id)

    def retain_bibs(self, event_id: int, wanted: Collection[str]) -> int:
        """Drop the memberships (and coverage) of BIBs not listed; return rows removed."""
        with self._write() as conn:
            return bibs.retain_bibs(conn, event_id, wanted)

    # -- downloads ---------------------------------------------------------------------------

    def due(
        self,
        event_id: int,
        now: datetime,
        *,
        after_id: int = 0,
        limit: int = 500,
        any_failed: bool = False,
    ) -> list[DuePhoto]:
        """One page of photos to download now: pending, or failed and due for a retry
        (every failed one with ``any_failed``, whatever its delay)."""
        now = require_utc(now)
        with self._read() as conn:
            return photos.due(conn, event_id, now, after_id, limit, any_failed=any_failed)

    def due_among(
        self,
        event_id: int,
        image_ids: Collection[str],
        now: datetime,
        *,
        any_failed: bool = False,
    ) -> list[DuePhoto]:
        """The photos among ``image_ids`` to download now (a selection's share of :meth:`due`),
        in id order."""
        now = require_utc(now)
        with self._read() as conn:
            return photos.due_among(conn, event_id, image_ids, now, any_failed=any_failed)

    def count_due(self, event_id: int, now: datetime, *, any_failed: bool = False) -> int:
        now = require_utc(now)
        with self._read() as conn:
            return photos.count_due(conn, event_id, now, any_failed=any_failed)

    def record_results(self, results: Sequence[PhotoResult], now: datetime) -> int:
        """Apply a batch of download outcomes in one transaction; return how many were left
        out because the photo is no longer open (another node finished it meanwhile)."""
        now = require_utc(now)
        if not results:
            return 0
        with self._write() as conn:
            return photos.record_results(conn, results, now, shared=self.shared)

    def dirty(self, event_id: int, *, after_id: int = 0, limit: int = 500) -> list[PlacedPhoto]:
        """Downloaded photos whose BIB membership changed since their files were placed."""
        with self._read() as conn:
            return photos.placed(
                conn,
                [
                    photo_table.c.event_id == event_id,
                    photo_table.c.placements_dirty.is_(True),
                    # not the state's index: it would read every downloaded photo of the event
                    # (a ledger without statistics cannot tell which index is narrower)
                    photo_table.c.state.concat("") == "downloaded",
                    photo_table.c.id > after_id,
                ],
                limit,
            )

    def set_placements(self, photo_id: int, placements: Placements) -> None:
        """Record the files of one photo (``(relpath, bib)`` pairs); clears its dirty flag."""
        self.set_placements_many([(photo_id, placements)])

    def set_placements_many(self, items: Sequence[tuple[int, Placements]]) -> None:
        """:meth:`set_placements` for many photos in one transaction."""
        with self._write() as conn:
            photos.set_placements_many(conn, items)

    def downloaded(
        self, event_id: int | None = None, *, after_id: int = 0, limit: int = 500
    ) -> list[PlacedPhoto]:
        """One page of downloaded photos (of one event, or of all), in id order."""
        conditions = [photo_table.c.state == "downloaded", photo_table.c.id > after_id]
        if event_id is not None:
            conditions.append(photo_table.c.event_id == event_id)
        with self._read() as conn:
            return photos.placed(conn, conditions, limit)

    def missing(self, event_id: int, *, min_walks: int) -> list[PlacedPhoto]:
        """Downloaded photos that the last ``min_walks`` complete walks did not list."""
        with self._read() as conn:
            return photos.placed(
                conn,
                [
                    photo_table.c.event_id == event_id,
                    photo_table.c.state == "downloaded",
                    photo_table.c.missing_walks >= min_walks,
                ],
                None,
            )

    def mark_removed(self, photo_id: int, placements: Placements) -> None:
        """The photo left the event; its files were moved to the given (trash) paths."""
        with self._write() as conn:
            photos.mark_removed(conn, photo_id, placements)

    def requeue(self, photo_ids: Collection[int], reason: str) -> int:
        """Download these photos again; return how many were requeued."""
        with self._write() as conn:
            return photos.requeue(conn, photo_ids, reason)

    def downloaded_files(self, event_id: int) -> list[tuple[int, str]]:
        """``(photo id, relative path)`` of every file of the event's downloaded photos."""
        with self._read() as conn:
            return photos.downloaded_files(conn, event_id)

    def mark_dirty(self, photo_ids: Collection[int]) -> None:
        """Place these photos' files again on the next reconcile."""
        with self._write() as conn:
            photos.mark_dirty(conn, photo_ids)

    def occupied(self, relpaths: Collection[str]) -> dict[str, int]:
        """``relpath -> photo_id`` for the paths already used by a placement."""
        with self._read() as conn:
            return photos.occupied(conn, relpaths)

    # -- nodes: several syncers on one server ledger ------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether this ledger is worked as a node among others (see :meth:`joined`)."""
        return self._node is not None

    @contextmanager
    def joined(self, node: str, lease: timedelta, now: datetime) -> Iterator[None]:
        """Work as node ``node`` while inside: on a server ledger, photos are claimed with
        leases of ``lease`` and each event's upkeep (walk, BIB searches, placements) is done by
        one node at a time. A second process under the same name raises AlreadyRunningError.

        An SQLite ledger has one syncer at a time (its instance lock): nothing changes there.
        """
        if self._target.path is not None:
            yield
            return
        now = require_utc(now)
        with translated_errors(self._target.label):
            session = NodeSession.open(self._engine, node, lease, self._target.label)
        try:
            with self._write() as conn:
                claims.release(conn, node)  # a claim of ours is from a run of ours that died
                claims.heartbeat(conn, node, now, claimed=0, downloading=0, started=True)
            self._node = session
            yield
        finally:
            self._node = None
            with suppress(SyncerError), self._write() as conn:
                claims.release(conn, node)
                claims.heartbeat(conn, node, datetime.now(now.tzinfo), claimed=0, downloading=0)
            with suppress(SyncerError), translated_errors(self._target.label):
                session.close()

    def claim(
        self,
        event_id: int,
        now: datetime,
        *,
        after_id: int = 0,
        limit: int = 500,
        any_failed: bool = False,
    ) -> Claim:
        """Take photos to download now (ids above ``after_id``, in id order).

        Alone on the ledger that is :meth:`due`. As a node (:meth:`joined`) the photos are
        claimed for the node's lease, and none of them is claimed by another node; when none
        can be taken, ``later`` tells whether more may come (another node walks the event, or
        holds claims that lapse if it dies).
        """
        node = self._node
        if node is None:
            return Claim(
                self.due(event_id, now, after_id=after_id, limit=limit, any_failed=any_failed)
            )
        now = require_utc(now)
        with self._write() as conn:
            taken = claims.claim(
                conn,
                event_id,
                now,
                node=node.name,
                until=now + node.lease,
                after_id=after_id,
                limit=limit,
                any_failed=any_failed,
            )
        if taken:
            return Claim(taken)
        with self._read() as conn:
            others = claims.held_by_others(conn, event_id, node.name, now)
        with translated_errors(self._target.label):
            walking = node.event_busy(event_id)
        return Claim([], later=others or walking)

    def renew(self, photo_ids: Collection[int], now: datetime, *, downloading: int) -> None:
        """The node still works on these photos: their leases start again from ``now``; the
        node's row says it was seen now. Nothing to do alone on the ledger."""
        node = self._node
        if node is None:
            return
        now = require_utc(now)
        with self._write() as conn:
            held = claims.renew(conn, node.name, photo_ids, now + node.lease)
            claims.heartbeat(conn, node.name, now, claimed=held, downloading=downloading)

    @contextmanager
    def event_upkeep(self, event_id: int) -> Iterator[bool]:
        """Inside: True when this node looks after the event (walk, BIB searches, files in
        place), False when another node does so now. Alone on the ledger, always True."""
        node = self._node
        if node is None:
            yield True
            return
        with translated_errors(self._target.label):
            taken = node.try_event(event_id)
        try:
            yield taken
        finally:
            if taken:
                with suppress(SyncerError), translated_errors(self._target.label):
                    node.release_event(event_id)

    def nodes(self, now: datetime) -> list[NodeStatus]:
        """The nodes that have worked on this ledger, with their live claims per event."""
        now = require_utc(now)
        with self._read() as conn:
            return claims.node_statuses(conn, now)

    # -- runs and summaries ------------------------------------------------------------------

    def start_run(self, kind: str, event_ids: Sequence[int], now: datetime) -> int:
        now = require_utc(now)
        with self._write() as conn:
            return reports.start_run(conn, kind, event_ids, now)

    def finish_run(
        self, run_id: int, now: datetime, counts: Mapping[str, int], exit_code: int
    ) -> None:
        now = require_utc(now)
        with self._write() as conn:
            reports.finish_run(conn, run_id, now, counts, exit_code)

    def record_concurrency(self, run_id: int, downloads: int) -> None:
        """How many downloads the run has at once now (``syncer status`` shows it)."""
        with self._write() as conn:
            reports.record_concurrency(conn, run_id, downloads)

    def status(self, event_id: int | None = None) -> list[EventStatus]:
        with self._read() as conn:
            return reports.status(conn, event_id)

    def counts_by_state(self) -> dict[str, int]:
        """Photos per state over all events (every state present, zero included)."""
        with self._read() as conn:
            return reports.counts_by_state(conn)

    def has_downloads(self) -> bool:
        """Whether any photo, of any event, is downloaded."""
        with self._read() as conn:
            return reports.has_downloads(conn)

    def bytes_downloaded(self) -> int:
        with self._read() as conn:
            return reports.bytes_downloaded(conn)

    # -- transactions ------------------------------------------------------------------------

    def copy_into(self, other: Ledger) -> int:
        """Copy every row into ``other``, an empty ledger, from one consistent read: a dry
        run's private snapshot of a server ledger. Returns the rows copied."""
        with translated_errors(self._target.label), self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # one snapshot for all the tables
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin(), other._write() as dest:
                return copy_rows(conn, dest)

    def _write(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=True)

    def _read(self) -> AbstractContextManager[Connection]:
        return self._transaction(write=False)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        if self._closed:
            raise SyncerError(f"ledger {self._target.label} is closed")
        with translated_errors(self._target.label), self._engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: write})
            with conn.begin():
                yield conn


def _existing_revision(target: LedgerTarget) -> str | None:
    """The schema revision of an existing ledger (None: no schema yet), read without writing."""
    checker = inspection_engine(target)
    try:
        with translated_errors(target.label):
            return check_existing(checker, target.label)
    finally:
        checker.dispose()


def _open_migrated(target: LedgerTarget, *, create: bool) -> tuple[Engine, tuple[str | None, str]]:
    """Check the existing database without writing to it, then migrate it to head."""
    if target.path is not None:
        prepare_file(target.path, create=create)
    before = _existing_revision(target)
    if before is None and not create:
        raise LedgerError(f"ledger {target.label} has no schema yet", hint="run a sync first")
    engine = create_ledger_engine(target)
    url = target.url.render_as_string(hide_password=False)
    try:
        with translated_errors(target.label), private_umask(), engine.begin() as conn:
            after = upgrade_to_head(conn, url)
    except BaseException:
        release_ledger_engine(engine)
        raise
    return engine, (before, after)
