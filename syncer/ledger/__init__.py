"""The ledger (an SQLite file, or a PostgreSQL database): what syncer knows about events,
photos, files and runs."""

from syncer.ledger.records import (
    BibPass,
    DuePhoto,
    EventRecord,
    EventStatus,
    PersonSearch,
    PersonStatus,
    PhotoResult,
    PlacedPhoto,
    SeenImage,
    WalkState,
)
from syncer.ledger.repository import Ledger

__all__ = [
    "BibPass",
    "DuePhoto",
    "EventRecord",
    "EventStatus",
    "Ledger",
    "PersonSearch",
    "PersonStatus",
    "PhotoResult",
    "PlacedPhoto",
    "SeenImage",
    "WalkState",
]
