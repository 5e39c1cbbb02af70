"""What ``syncer status`` reports per event: the ledger's counts, checked against the disk.

A downloaded photo whose files were deleted behind syncer's back counts as pending (the next
sync fetches it again), not as downloaded. Without a mounted root (no marker) the ledger's
word stands alone: an unmounted share is not a mass deletion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from syncer.errors import ConfigError
from syncer.layout import NameRules, Template
from syncer.ledger import EventStatus, Ledger
from syncer.placement import Placer, gone_from_disk
from syncer.root import MARKER_NAME


def event_status(
    ledger: Ledger,
    asked: Sequence[int] | None,
    *,
    root: Path | None,
    template: Template,
    rules: NameRules,
) -> list[EventStatus]:
    """One row per event of the ledger (or per event ``asked`` for, each of which it knows)."""
    rows = ledger.status(None)
    check_known(asked, [row.event_id for row in rows])
    if asked:
        rows = [row for row in rows if row.event_id in asked]
    rows = [replace(row, people=tuple(ledger.people_status(row.event_id))) for row in rows]
    if root is None or not (root / MARKER_NAME).is_file():
        return rows
    return [_with_gone_files(ledger, row, root, template, rules) for row in rows]


def check_known(asked: Sequence[int] | None, known: Sequence[int]) -> None:
    """ConfigError naming the events asked for that the ledger has never synced."""
    unknown = sorted(set(asked or ()) - set(known))
    if unknown:
        listed = ", ".join(map(str, known)) or "none yet"
        raise ConfigError(
            f"event {', '.join(map(str, unknown))} is not in the ledger (known: {listed})",
            hint="`syncer events` lists the organisation's events; sync one to add it",
        )


def _with_gone_files(
    ledger: Ledger, row: EventStatus, root: Path, template: Template, rules: NameRules
) -> EventStatus:
    record = ledger.event(row.event_id)
    if record is None:  # a status row comes from an event row: not expected
        return row
    gone = len(gone_from_disk(ledger, Placer(root, template, rules, record)).refetch)
    if not gone:
        return row
    return replace(
        row, downloaded=row.downloaded - gone, pending=row.pending + gone, gone_from_disk=gone
    )
