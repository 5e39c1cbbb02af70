"""Moving an archive into the current ``storage.layout``, through the ledger.

A photo whose files are not where the layout puts them now is marked for re-placement; the
re-placement (:func:`syncer.placement.reconcile`) links each file into its new place, removes
the old one and records the new paths, one photo at a time, so a killed run resumes where it
stopped. Folders left empty are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncer.api import StorageClient
from syncer.config import Settings
from syncer.downloader import Downloader
from syncer.dryrun import replacement_steps
from syncer.ledger import Ledger, PlacedPhoto
from syncer.placement import PeopleFolders, Placer, avoid_collisions, reconcile
from syncer.report import Step
from syncer.root import prepare_root
from syncer.status import check_known
from syncer.wiring import CycleWiring, ledger_snapshot, open_ledger

log = logging.getLogger("syncer.relayout")

PAGE = 500
SAMPLE = 50  # photos a sync looks at to notice a changed layout


@dataclass
class RelayoutReport:
    """What one event's move into the current layout did (or, in a dry run, would do)."""

    event_id: int
    stale: int = 0  # photos not where the layout puts them
    moved: int = 0
    lost: int = 0  # no file of the photo left to move: queued for download
    steps: list[Step] = field(default_factory=list)


def relayout(
    settings: Settings, event_ids: Sequence[int] | None, *, dry_run: bool
) -> list[RelayoutReport]:
    """Move the photos of the events (default: every event of the ledger) into the current
    layout. The NAS guard applies; a dry run works on a copy of the ledger and moves nothing."""
    root = prepare_root(
        settings.require_root(),
        first_use=False,
        require_marker=settings.storage.require_marker,
        create=not dry_run,
        node=settings.node.name,
    )
    wiring = CycleWiring.build(settings, None if dry_run else root)
    opening = ledger_snapshot(settings) if dry_run else open_ledger(settings, create=False)
    with opening as ledger, StorageClient(timeout=wiring.timeout) as storage:
        known = ledger.event_ids()
        check_known(event_ids, known)
        downloader = None
        if not dry_run:
            downloader = Downloader(
                storage, root.temp_dir, fsync=wiring.fsync, direct=False, links=wiring.links
            )
        reports = []
        for event_id in event_ids or known:
            record = ledger.event(event_id)
            if record is not None:  # every event the ledger lists has its record
                folders = PeopleFolders(wiring.people_template, ledger.people_members(event_id))
                placer = Placer(root.path, wiring.template, wiring.rules, record, folders)
                reports.append(relayout_event(ledger, placer, downloader))
        return reports


def stale_photos(ledger: Ledger, placer: Placer, *, limit: int | None = None) -> list[int]:
    """Downloaded photos of the event whose files are not where the layout puts them now
    (the first ``limit`` photos only, when given)."""
    stale: list[int] = []
    after, seen = 0, 0
    event_id = placer.event.event_id
    while batch := ledger.downloaded(event_id, after_id=after, limit=min(PAGE, limit or PAGE)):
        after = batch[-1].photo_id
        stale += _misplaced(ledger, placer, batch)
        seen += len(batch)
        if limit is not None and seen >= limit:
            break
    return stale


def _misplaced(ledger: Ledger, placer: Placer, batch: list[PlacedPhoto]) -> list[int]:
    wanted = {p.photo_id: placer.placements(p.image_id, p.bibs) for p in batch}
    fixed = avoid_collisions(ledger, wanted, case_insensitive=False)
    return [p.photo_id for p in batch if {rel for rel, _ in fixed[p.photo_id]} != set(p.placements)]


def layout_changed(ledger: Ledger, placer: Placer) -> bool:
    """Whether the first photos of the event sit in another layout than the current one."""
    return bool(stale_photos(ledger, placer, limit=SAMPLE))


def relayout_event(ledger: Ledger, placer: Placer, downloader: Downloader | None) -> RelayoutReport:
    """Move the event's photos into the current layout (``downloader`` None: a dry run that
    only lists the steps; the ledger must then be a copy)."""
    report = RelayoutReport(placer.event.event_id)
    stale = stale_photos(ledger, placer)
    report.stale = len(stale)
    if not stale:
        return report
    ledger.mark_dirty(stale)
    if downloader is None:
        report.steps = replacement_steps(ledger, placer)
        return report
    old_folders = _folders_of(ledger, placer, stale)
    report.moved, lost = reconcile(ledger, placer, downloader)
    report.lost = len(lost)
    _remove_empty(old_folders, placer.root)
    return report


def _folders_of(ledger: Ledger, placer: Placer, photo_ids: list[int]) -> set[Path]:
    """The folders the photos' files are in now (they may be empty once moved)."""
    wanted = set(photo_ids)
    folders: set[Path] = set()
    for photo_id, rel in ledger.downloaded_files(placer.event.event_id):
        if photo_id in wanted:
            folders.add(placer.path(rel).parent)
    return folders


def _remove_empty(folders: set[Path], root: Path) -> None:
    """Remove each folder, and its parents up to the root, while they are empty."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        current = folder
        while current != root and root in current.parents:
            with contextlib.suppress(OSError):  # not empty, or gone: leave it
                os.rmdir(current)
            if current.exists():
                break
            current = current.parent
