"""The ledger on its own: ``Ledger.record_page`` for many pages of 100 on a real SQLite file.

Two passes over the same photos: the first walk inserts them, the second (a re-walk of a known
event, what every no-op cycle does) updates them. Only the ``record_page`` calls are timed.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncer.ledger import Ledger, SeenImage

EVENT_ID = 1


@dataclass(frozen=True)
class LedgerRate:
    pages: int
    photos: int
    insert_per_s: float  # first walk: every photo is new
    rewalk_per_s: float  # second walk: every photo is known


def upsert_rate(path: Path, pages: int, per_page: int = 100, seed: int = 7) -> LedgerRate:
    """Photos per second recorded by ``record_page`` on a fresh ledger file at ``path``."""
    rng = random.Random(seed)
    book = [
        [
            SeenImage(str(uuid.UUID(int=rng.getrandbits(128), version=4)), 96, 64)
            for _ in range(per_page)
        ]
        for _ in range(pages)
    ]
    with Ledger.open(path) as ledger:
        inserted = _walk(ledger, book)
        rewalked = _walk(ledger, book)
    photos = pages * per_page
    return LedgerRate(pages, photos, photos / inserted, photos / rewalked)


def _walk(ledger: Ledger, book: list[list[SeenImage]]) -> float:
    """Record every page of ``book`` as one walk; return the seconds spent in record_page."""
    state = ledger.begin_walk(EVENT_ID, datetime.now(UTC))
    spent = 0.0
    for number, images in enumerate(book, start=state.resume_page):
        now = datetime.now(UTC)
        started = time.perf_counter()
        ledger.record_page(EVENT_ID, state.walk_no, number, images, now)
        spent += time.perf_counter() - started
    ledger.finish_walk(EVENT_ID, state.walk_no, datetime.now(UTC))
    return spent
