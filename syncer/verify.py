"""Re-hash stored photos and clips against the ledger: find missing and corrupt files (bit rot)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from syncer.errors import RootUnavailableError, StorageError
from syncer.layout import resolve_inside
from syncer.ledger import Ledger, PlacedPhoto, StoredClip
from syncer.root import TRASH_DIRNAME, refuse_non_folder

log = logging.getLogger("syncer.verify")


@dataclass
class VerifyReport:
    photos: int = 0
    files: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    requeued: int = 0  # photos queued for download again
    clips: int = 0
    clips_requeued: int = 0  # clips the next sync fetches again

    @property
    def exit_code(self) -> int:
        repaired = self.requeued or self.clips_requeued
        return 4 if (self.missing or self.corrupt) and not repaired else 0


def verify(
    ledger: Ledger,
    root: Path,
    *,
    event_id: int | None = None,
    repair: bool = False,
    stop: threading.Event | None = None,
    on_file: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check every placement of every downloaded photo, and every stored clip; with ``repair``
    re-queue bad photos and have the next sync fetch bad clips again."""
    _check_root(ledger, root)
    report = VerifyReport()
    bad: list[int] = []
    after = 0
    while batch := ledger.downloaded(event_id, after_id=after, limit=500):
        after = batch[-1].photo_id
        for photo in batch:
            if stop is not None and stop.is_set():
                return report
            if not _check_photo(root, photo, report, on_file):
                bad.append(photo.photo_id)
    bad_clips = _check_clips(ledger, root, event_id, report, on_file)
    if repair and (bad or bad_clips):
        _set_aside(root, report.corrupt)
        if bad:
            report.requeued = ledger.requeue(bad, "verify found the file missing or corrupt")
        for event, person in {(clip.event_id, clip.person) for clip in bad_clips}:
            ledger.recheck_clips(event, person)
        report.clips_requeued = len(bad_clips)
    return report


def _check_clips(
    ledger: Ledger,
    root: Path,
    event_id: int | None,
    report: VerifyReport,
    on_file: Callable[[int], None] | None,
) -> list[StoredClip]:
    """The stored clips whose file is missing or differs from the ledger's sha256."""
    bad = []
    for clip in ledger.stored_clips(event_id):
        report.clips += 1
        report.files += 1
        try:
            path = resolve_inside(root, PurePosixPath(clip.relpath))
            size = path.stat().st_size
        except (FileNotFoundError, StorageError):
            report.missing.append(clip.relpath)
            bad.append(clip)
            continue
        report.bytes += size
        if on_file is not None:
            on_file(size)
        if _sha256(path) != clip.sha256:
            log.warning("corrupt: %s (sha256 differs from the ledger)", clip.relpath)
            report.corrupt.append(clip.relpath)
            bad.append(clip)
    return bad


def _check_root(ledger: Ledger, root: Path) -> None:
    """A root that is a file, or gone while the ledger has downloads (an unmounted NAS), is
    an error: reporting every photo missing, and re-queueing them all, would help nobody."""
    refuse_non_folder(root)
    if not root.exists() and ledger.has_downloads():
        raise RootUnavailableError(
            f"storage root {root} is missing; is the NAS mounted?",
            hint="mount the share (or fix storage.root) and run again",
        )


def _set_aside(root: Path, corrupt: list[str]) -> None:
    """Move corrupt files into the trash so the fresh download cannot mistake them for done."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    for rel in corrupt:
        source = resolve_inside(root, PurePosixPath(rel))
        target = resolve_inside(root, PurePosixPath(TRASH_DIRNAME, stamp, "corrupt", rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(source, target)


def _check_photo(
    root: Path, photo: PlacedPhoto, report: VerifyReport, on_file: Callable[[int], None] | None
) -> bool:
    report.photos += 1
    healthy = True
    hashed: dict[tuple[int, int], str] = {}
    for rel in photo.placements:
        report.files += 1
        try:
            path = resolve_inside(root, PurePosixPath(rel))
            stat = path.stat()
        except (FileNotFoundError, StorageError):
            report.missing.append(rel)
            healthy = False
            continue
        key = (stat.st_dev, stat.st_ino)
        if key not in hashed:
            hashed[key] = _sha256(path)
            report.bytes += stat.st_size
            if on_file is not None:
                on_file(stat.st_size)
        if hashed[key] != photo.sha256:
            log.warning("corrupt: %s (sha256 differs from the ledger)", rel)
            report.corrupt.append(rel)
            healthy = False
    return healthy


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
