"""The ledger schema: SQLAlchemy Core tables, the single source the migrations are checked against.

Core tables rather than ORM classes: the ledger issues Core statements only, and leaving
``sqlalchemy.orm`` unimported saves every command about 40 ms at start.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeEngine

from syncer.ledger.timestamps import UtcTimestamp

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _required(
    name: str, kind: TypeEngine[Any] | type[TypeEngine[Any]], *args: Any, **kw: Any
) -> Column[Any]:
    """A NOT NULL column (Core columns are nullable unless told)."""
    return Column(name, kind, *args, nullable=False, **kw)


# One 9Pic event and the state of its gallery walks.
events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=False),
    Column("name", Text),
    Column("slug", Text),
    Column("date", String(40)),
    Column("status", String(40)),
    _required("walk_no", Integer, server_default=text("0")),
    Column("walk_next_page", Integer),
    Column("walk_started_at", UtcTimestamp),
    Column("last_walk_completed_at", UtcTimestamp),
    _required("walks_completed", Integer, server_default=text("0")),
    # Grows in every transaction that gives the event a photo row or lists a removed one again:
    # a BIB search begun at mark M has seen every photo the ledger counted up to M.
    _required("photo_mark", Integer, server_default=text("0")),
    # The BIB list (its digest) every BIB of which was searched at photo_mark bibs_pass_mark:
    # while both still hold, a cycle needs no look at the coverage of each BIB.
    Column("bibs_digest", String(64)),
    Column("bibs_pass_mark", Integer),
    # Raised whenever the event's BIB or people memberships change: a photo taken at an older
    # version has its placements checked again when it is recorded (migration 0006).
    _required("members_version", Integer, server_default=text("0")),
)

# One photo of an event, its download state and what we know of its file.
photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("event_id", Integer, ForeignKey("events.event_id")),
    _required("image_id", String(200)),
    _required("state", String(16), server_default=text("'pending'")),
    _required("attempts", Integer, server_default=text("0")),
    Column("next_attempt_at", UtcTimestamp),
    Column("last_error", Text),
    Column("bytes", BigInteger),
    Column("sha256", String(64)),
    Column("content_type", String(100)),
    Column("width", Integer),
    Column("height", Integer),
    _required("first_seen_at", UtcTimestamp),
    _required("last_seen_at", UtcTimestamp),
    _required("last_seen_walk", Integer, server_default=text("0")),
    _required("missing_walks", Integer, server_default=text("0")),
    Column("downloaded_at", UtcTimestamp),
    _required("placements_dirty", Boolean, server_default=false()),
    # The node downloading it now, until its lease passes (a ledger shared by several nodes).
    Column("claimed_by", String(100)),
    Column("lease_until", UtcTimestamp),
    UniqueConstraint("event_id", "image_id"),
    CheckConstraint(
        "state IN ('pending', 'downloaded', 'failed', 'unavailable', 'removed')", name="state"
    ),
    Index("ix_photos_event_id_state_id", "event_id", "state", "id"),
    Index("ix_photos_event_id_placements_dirty_id", "event_id", "placements_dirty", "id"),
)

# A photo found by a BIB search: the BIB as the user spelled it.
bib_members = Table(
    "bib_members",
    metadata,
    Column("event_id", Integer, primary_key=True),
    Column("bib", String(100), primary_key=True),
    Column("image_id", String(200), primary_key=True),
    ForeignKeyConstraint(["event_id", "image_id"], ["photos.event_id", "photos.image_id"]),
    Index("ix_bib_members_event_id_image_id", "event_id", "image_id"),
)

# What the last complete search of one BIB covered: the event's photo_mark when it began.
bib_searches = Table(
    "bib_searches",
    metadata,
    Column("event_id", Integer, ForeignKey("events.event_id"), primary_key=True),
    Column("bib", String(100), primary_key=True),
    _required("covered_mark", Integer),
    _required("searched_at", UtcTimestamp),
)

# One selfie search of a person (per event and selfie file): the request_id it runs under, and
# the event's photo_mark it covered once done; the person's video clipping job, if any.
face_searches = Table(
    "face_searches",
    metadata,
    Column("event_id", Integer, ForeignKey("events.event_id"), primary_key=True),
    Column("person", String(100), primary_key=True),
    Column("selfie_sha256", String(64), primary_key=True),
    _required("request_id", String(64)),
    Column("covered_mark", Integer),  # None: the POST under request_id has not answered yet
    Column("searched_at", UtcTimestamp),
    Column("clip_request_id", String(64)),  # the clipping job being polled
    Column("clip_source", String(64)),  # the face search request_id the last job started from
    Column("clip_state", String(16)),  # running, done, recheck or failed
    Column("clip_error", Text),
)

# A photo found by a person's selfie search (matches are kept: a person's folder only grows).
person_members = Table(
    "person_members",
    metadata,
    Column("event_id", Integer, primary_key=True),
    Column("person", String(100), primary_key=True),
    Column("image_id", String(200), primary_key=True),
    ForeignKeyConstraint(["event_id", "image_id"], ["photos.event_id", "photos.image_id"]),
    Index("ix_person_members_event_id_image_id", "event_id", "image_id"),
)

# One video clip of a person, downloaded and verified.
clips = Table(
    "clips",
    metadata,
    Column("event_id", Integer, ForeignKey("events.event_id"), primary_key=True),
    Column("person", String(100), primary_key=True),
    Column("name", String(255), primary_key=True),
    _required("relpath", Text),
    _required("bytes", BigInteger),
    _required("sha256", String(64)),
    _required("downloaded_at", UtcTimestamp),
)

# One file of a photo: a POSIX path relative to the storage root.
placements = Table(
    "placements",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("photo_id", Integer, ForeignKey("photos.id"), index=True),
    _required("relpath", Text, unique=True),
    Column("bib", String(100)),
)

# One syncer node of a shared ledger: when it was last seen, its claims and downloads then.
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(100), primary_key=True),
    _required("started_at", UtcTimestamp),
    _required("last_seen", UtcTimestamp),
    _required("claimed", Integer, server_default=text("0")),
    _required("downloading", Integer, server_default=text("0")),
)

# One sync, daemon cycle or verification, with its counters and exit code.
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("kind", String(20)),
    _required("started_at", UtcTimestamp),
    Column("ended_at", UtcTimestamp, index=True),
    _required("event_ids", Text),
    Column("counts", Text),
    Column("exit_code", Integer),
    Column("concurrency", Integer),  # downloads at once, as last recorded by the run
)
