"""The ledger schema: SQLAlchemy models, the single source the migrations are checked against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from syncer.ledger.timestamps import UtcTimestamp

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Event(Base):
    """One 9Pic event and the state of its gallery walks."""

    __tablename__ = "events"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str | None] = mapped_column(Text)
    date: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(40))
    walk_no: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    walk_next_page: Mapped[int | None] = mapped_column(Integer)
    walk_started_at: Mapped[datetime | None] = mapped_column(UtcTimestamp)
    last_walk_completed_at: Mapped[datetime | None] = mapped_column(UtcTimestamp)
    walks_completed: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Photo(Base):
    """One photo of an event, its download state and what we know of its file."""

    __tablename__ = "photos"
    __table_args__ = (
        UniqueConstraint("event_id", "image_id"),
        CheckConstraint(
            "state IN ('pending', 'downloaded', 'failed', 'unavailable', 'removed')",
            name="state",
        ),
        Index("ix_photos_event_id_state_id", "event_id", "state", "id"),
        Index("ix_photos_event_id_placements_dirty_id", "event_id", "placements_dirty", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.event_id"))
    image_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcTimestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(100))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UtcTimestamp)
    last_seen_at: Mapped[datetime] = mapped_column(UtcTimestamp)
    last_seen_walk: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    missing_walks: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    downloaded_at: Mapped[datetime | None] = mapped_column(UtcTimestamp)
    placements_dirty: Mapped[bool] = mapped_column(Boolean, server_default=text("0"))


class BibMember(Base):
    """A photo found by a BIB search: the BIB as the user spelled it."""

    __tablename__ = "bib_members"
    __table_args__ = (
        ForeignKeyConstraint(["event_id", "image_id"], ["photos.event_id", "photos.image_id"]),
        Index("ix_bib_members_event_id_image_id", "event_id", "image_id"),
    )

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bib: Mapped[str] = mapped_column(String(100), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class Placement(Base):
    """One file of a photo: a POSIX path relative to the storage root."""

    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    relpath: Mapped[str] = mapped_column(Text, unique=True)
    bib: Mapped[str | None] = mapped_column(String(100))


class Run(Base):
    """One sync, daemon cycle or verification, with its counters and exit code."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UtcTimestamp)
    ended_at: Mapped[datetime | None] = mapped_column(UtcTimestamp, index=True)
    event_ids: Mapped[str] = mapped_column(Text)
    counts: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)


events: Table = Base.metadata.tables["events"]
photos: Table = Base.metadata.tables["photos"]
bib_members: Table = Base.metadata.tables["bib_members"]
placements: Table = Base.metadata.tables["placements"]
runs: Table = Base.metadata.tables["runs"]
