"""The ledger (an SQLite file, or a PostgreSQL database): what syncer knows about events,
photos, files and runs."""

from syncer.ledger.records import (
    BibPass,
    Claim,
    DuePhoto,
    EventRecord,
    EventStatus,
    Listed,
    NodeStatus,
    PersonSearch,
    PersonStatus,
    PhotoResult,
    PlacedPhoto,
    SeenImage,
    StoredClip,
    WalkState,
)
from syncer.ledger.repository import Ledger
from syncer.ledger.walks import WalkMemo

__all__ = [
    "BibPass",
    "Claim",
    "DuePhoto",
    "EventRecord",
    "EventStatus",
    "Ledger",
    "Listed",
    "NodeStatus",
    "PersonSearch",
    "PersonStatus",
    "PhotoResult",
    "PlacedPhoto",
    "SeenImage",
    "StoredClip",
    "WalkMemo",
    "WalkState",
]
