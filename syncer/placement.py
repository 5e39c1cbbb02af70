"""Where a photo's files go, and keeping them there when its BIBs change or it leaves upstream."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

from syncer.downloader import Downloader
from syncer.layout import NameRules, PhotoContext, Template, resolve_inside
from syncer.ledger import EventRecord, Ledger, PlacedPhoto
from syncer.root import TRASH_DIRNAME

log = logging.getLogger("syncer.placement")

Placement = tuple[str, str | None]  # (relative path, BIB or None)


@dataclass(frozen=True)
class PeopleFolders:
    """The people folders of one event: their template, and the people each photo matched."""

    template: Template
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # image id -> people


@dataclass(frozen=True)
class Placer:
    """Renders the layout template for one event's photos and resolves paths inside the root.

    With ``people``, a photo that people's selfie searches matched is placed in each of their
    folders too (extra placements, like a photo's further BIBs).
    """

    root: Path
    template: Template
    rules: NameRules
    event: EventRecord
    people: PeopleFolders | None = None
    # The event's membership version read before its BIBs and people were: a photo placed by
    # this placer is checked again once recorded if the memberships changed since (None: no
    # check, for placers that only read)
    members_version: int | None = None
    _folders: dict[PurePosixPath, Path] = field(default_factory=dict, compare=False, repr=False)
    _texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def placements(self, image_id: str, bibs: Sequence[str]) -> list[Placement]:
        """One placement per BIB (``_no_bib`` without one), duplicates removed, order kept."""
        chosen: list[Placement] = []
        seen: set[str] = set()
        for bib in list(bibs) if bibs and self.template.uses_bib else [None]:
            rel = str(self.template.render(self._context(image_id, bib), self.rules))
            if rel not in seen:
                seen.add(rel)
                chosen.append((rel, bib))
        for person in self.people.members.get(image_id, ()) if self.people else ():
            rel = self.person_path(person, image_id)
            if rel not in seen:
                seen.add(rel)
                chosen.append((rel, None))
        return chosen

    def person_path(self, person: str, image_id: str) -> str:
        """Where a photo goes in ``person``'s folder (``storage.people_layout``)."""
        if self.people is None:
            raise ValueError("this placer has no people folders")
        context = replace(self._context(image_id, None), person=person)
        return str(self.people.template.render(context, self.rules))

    def path(self, rel: str) -> Path:
        """The absolute path of a placement; its folders are checked once per cycle.

        A file name that is a symbolic link is harmless: files are only ever replaced
        (``os.replace`` swaps the link itself), never written through.
        """
        relative = PurePosixPath(rel)
        folder = self._folders.get(relative.parent)
        if folder is None:
            folder = resolve_inside(self.root, relative.parent)
            self._folders[relative.parent] = folder
        return folder / relative.name

    def path_text(self, rel: str) -> str:
        """:meth:`path` as a string, for checks over a whole event (no Path per file)."""
        folder, _, name = rel.rpartition("/")
        base = self._texts.get(folder)
        if base is None:
            base = self._texts[folder] = str(self.path(rel).parent)
        return f"{base}/{name}"

    def _context(self, image_id: str, bib: str | None) -> PhotoContext:
        return PhotoContext(
            event_id=self.event.event_id,
            event_slug=self.event.slug,
            event_date=self.event.date,
            bib=bib,
            image_id=image_id,
            filename=None,
        )


def avoid_collisions(
    ledger: Ledger, wanted: dict[int, list[Placement]], *, case_insensitive: bool
) -> dict[int, list[Placement]]:
    """Rename placements that another photo already holds (a sanitised or case-folded clash)."""
    if not wanted:  # a batch of none (nothing due yet): no ledger read
        return {}
    all_paths = [rel for places in wanted.values() for rel, _ in places]
    taken = ledger.occupied(all_paths)
    claimed: dict[str, int] = {}
    result: dict[int, list[Placement]] = {}
    for photo_id, places in wanted.items():
        fixed: list[Placement] = []
        for rel, bib in places:
            key = rel.casefold() if case_insensitive else rel
            holder = taken.get(rel, claimed.get(key, photo_id))
            if holder != photo_id:
                rel = _suffixed(rel, photo_id)
                key = rel.casefold() if case_insensitive else rel
            claimed[key] = photo_id
            fixed.append((rel, bib))
        result[photo_id] = fixed
    return result


def _suffixed(rel: str, photo_id: int) -> str:
    path = PurePosixPath(rel)
    return str(path.with_name(f"{path.stem}~{photo_id}{path.suffix}"))


def reconcile(ledger: Ledger, placer: Placer, downloader: Downloader) -> tuple[int, list[int]]:
    """Link or move downloaded photos whose BIB set changed. Returns (moved, re-queued ids).

    A photo whose files already sit where its memberships want them (one checked again only
    because they changed while it downloaded) is kept: no file is touched, and its flag is
    cleared with the others of its batch in one transaction."""
    moved = 0
    lost: list[int] = []
    after = 0
    while batch := ledger.dirty(placer.event.event_id, after_id=after, limit=200):
        after = batch[-1].photo_id
        kept: list[tuple[int, list[Placement]]] = []
        for photo in batch:
            if (placed := _already_placed(placer, photo)) is not None:
                kept.append((photo.photo_id, placed))
            elif _replace_placements(ledger, placer, downloader, photo):
                moved += 1
            else:
                lost.append(photo.photo_id)
        ledger.set_placements_many(kept)
    if lost:
        ledger.requeue(lost, "file missing when its BIB folders changed")
    return moved, lost


def _already_placed(placer: Placer, photo: PlacedPhoto) -> list[Placement] | None:
    """The photo's placements when they are exactly the ones wanted now, every file there."""
    wanted = placer.placements(photo.image_id, photo.bibs)
    paths = [rel for rel, _ in wanted]
    if sorted(paths) != sorted(photo.placements):
        return None
    return wanted if all(is_regular_file(placer.path(rel)) for rel in paths) else None


def _replace_placements(
    ledger: Ledger, placer: Placer, downloader: Downloader, photo: PlacedPhoto
) -> bool:
    wanted = avoid_collisions(
        ledger,
        {photo.photo_id: placer.placements(photo.image_id, photo.bibs)},
        case_insensitive=False,
    )[photo.photo_id]
    wanted_paths = {rel for rel, _ in wanted}
    # a run killed between placing and recording left the file at a new place: start there
    candidates = [*photo.placements, *sorted(wanted_paths - set(photo.placements))]
    source = next((p for p in map(placer.path, candidates) if p.is_file()), None)
    if source is None:
        return False
    downloader.place(source, tuple(placer.path(rel) for rel, _ in wanted))
    for rel in photo.placements:
        if rel not in wanted_paths:
            with contextlib.suppress(FileNotFoundError):
                placer.path(rel).unlink()
    ledger.set_placements(photo.photo_id, wanted)
    return True


@dataclass(frozen=True)
class GoneFiles:
    """Downloaded photos whose files were removed from the disk behind syncer's back."""

    relink: list[int]  # some file of the photo is left: place the others from it
    refetch: list[int]  # no file of the photo is left: download it again

    def __len__(self) -> int:
        return len(self.relink) + len(self.refetch)


def gone_from_disk(ledger: Ledger, placer: Placer) -> GoneFiles:
    """Check that every file the ledger placed is still there.

    Each folder is listed once (``scandir``: names and types, no ``stat`` per file), so the
    check costs about one directory read per folder rather than a system call per photo.
    """
    present: dict[int, bool] = {}
    missing: set[int] = set()
    listings = _FolderListings(placer)
    for photo_id, rel in ledger.downloaded_files(placer.event.event_id):
        if listings.holds(rel):
            present[photo_id] = True
        else:
            present.setdefault(photo_id, False)
            missing.add(photo_id)
    relink = sorted(p for p in missing if present[p])
    refetch = sorted(p for p in missing if not present[p])
    return GoneFiles(relink, refetch)


class _FolderListings:
    """The regular files of each placement folder, read once per check."""

    def __init__(self, placer: Placer) -> None:
        self._placer = placer
        self._files: dict[str, frozenset[str]] = {}

    def holds(self, rel: str) -> bool:
        folder, _, name = rel.rpartition("/")
        files = self._files.get(folder)
        if files is None:
            files = self._files[folder] = _regular_files(self._placer.path_text(rel))
        return name in files


def _regular_files(path_in_folder: str) -> frozenset[str]:
    """Names of the regular files (not links, not folders) beside ``path_in_folder``."""
    folder = os.path.dirname(path_in_folder)
    try:
        with os.scandir(folder) as entries:
            return frozenset(e.name for e in entries if e.is_file(follow_symlinks=False))
    except OSError:  # a folder that is gone (or unreadable) holds none of its files
        return frozenset()


def restore_gone(ledger: Ledger, gone: GoneFiles) -> None:
    """Queue what :func:`gone_from_disk` found: re-placement, or a new download."""
    if gone.relink:
        ledger.mark_dirty(gone.relink)
    if gone.refetch:
        ledger.requeue(gone.refetch, "file gone from the disk; downloaded again")


def is_regular_file(path: Path | str) -> bool:
    """A real file at ``path`` (a planted symlink is not one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def trash_path(rel: str, today: datetime) -> str:
    """Where a photo's file goes when it leaves upstream: ``_trash/<date>/<its path>``."""
    return f"{TRASH_DIRNAME}/{today:%Y-%m-%d}/{rel}"


def trash_removed(
    ledger: Ledger, placer: Placer, *, known: int, max_share: float, today: datetime
) -> int:
    """Move photos that two complete walks no longer list into ``_trash/<date>/``."""
    gone = ledger.missing(placer.event.event_id, min_walks=2)
    budget = int(known * max_share)
    if len(gone) > budget:
        log.warning(
            "event %d: %d photos vanished upstream; trashing only %d this cycle "
            "(storage.trash_max_share)",
            placer.event.event_id,
            len(gone),
            budget,
        )
    for photo in gone[:budget]:
        moved: list[Placement] = []
        for rel in photo.placements:
            target = trash_path(rel, today)
            source, dest = placer.path(rel), placer.path(target)
            if source.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, dest)
            moved.append((target, None))
        ledger.mark_removed(photo.photo_id, moved)
    return min(len(gone), budget)
