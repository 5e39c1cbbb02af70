"""What a run would do to the disk, step by step, without doing it (``sync --dry-run``).

The steps are read from the same ledger rows and the same placement rules a real run uses:
downloads (and the links of a photo's extra BIB folders), files re-placed because a photo's BIBs
changed, and photos that would be moved to the trash.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from syncer.ledger import DuePhoto, Ledger
from syncer.placement import Placer, avoid_collisions, trash_path
from syncer.report import Step

PAGE = 500


def planned_steps(
    ledger: Ledger,
    placer: Placer,
    *,
    now: datetime,
    any_failed: bool,
    trash_share: float | None,
    known: int,
    only: frozenset[str] | None = None,
) -> list[Step]:
    """Every step of one event (of its photos ``only``, when given), in a run's order."""
    steps = replacement_steps(ledger, placer)
    steps += _downloads(ledger, placer, now, any_failed, only)
    if trash_share is not None:
        steps += _trash(ledger, placer, now, int(known * trash_share))
    return steps


def _downloads(
    ledger: Ledger, placer: Placer, now: datetime, any_failed: bool, only: frozenset[str] | None
) -> list[Step]:
    steps: list[Step] = []
    for batch in _due(ledger, placer.event.event_id, now, any_failed, only):
        wanted = {p.photo_id: placer.placements(p.image_id, p.bibs) for p in batch}
        fixed = avoid_collisions(ledger, wanted, case_insensitive=False)
        for photo in batch:
            first, *others = (rel for rel, _ in fixed[photo.photo_id])
            steps.append(Step("download", first, image_id=photo.image_id))
            steps += [Step("link", rel, first, photo.image_id) for rel in others]
    return steps


def _due(
    ledger: Ledger, event_id: int, now: datetime, any_failed: bool, only: frozenset[str] | None
) -> Iterator[list[DuePhoto]]:
    if only is not None:
        yield ledger.due_among(event_id, only, now, any_failed=any_failed)
        return
    after = 0
    while batch := ledger.due(event_id, now, after_id=after, limit=PAGE, any_failed=any_failed):
        after = batch[-1].photo_id
        yield batch


def replacement_steps(ledger: Ledger, placer: Placer) -> list[Step]:
    """Links and unlinks that would put the photos marked for re-placement where they belong."""
    steps: list[Step] = []
    after = 0
    while batch := ledger.dirty(placer.event.event_id, after_id=after, limit=PAGE):
        after = batch[-1].photo_id
        for photo in batch:
            wanted = [rel for rel, _ in placer.placements(photo.image_id, photo.bibs)]
            source = photo.placements[0] if photo.placements else None
            steps += [
                Step("link", rel, source, photo.image_id)
                for rel in wanted
                if rel not in photo.placements
            ]
            steps += [
                Step("unlink", rel, image_id=photo.image_id)
                for rel in photo.placements
                if rel not in wanted
            ]
    return steps


def _trash(ledger: Ledger, placer: Placer, now: datetime, budget: int) -> list[Step]:
    gone = ledger.missing(placer.event.event_id, min_walks=2)[:budget]
    return [
        Step("trash", trash_path(rel, now), rel, photo.image_id)
        for photo in gone
        for rel in photo.placements
    ]
