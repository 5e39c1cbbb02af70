"""Plain, frozen records exchanged between the ledger and its callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from syncer.errors import SyncerError

PhotoState = Literal["pending", "downloaded", "failed", "unavailable", "removed"]
PHOTO_STATES: tuple[PhotoState, ...] = ("pending", "downloaded", "failed", "unavailable", "removed")

Outcome = Literal["downloaded", "retry", "unavailable"]
OUTCOMES: tuple[Outcome, ...] = ("downloaded", "retry", "unavailable")

RunKind = Literal["sync", "daemon-cycle", "verify"]
RUN_KINDS: tuple[str, ...] = ("sync", "daemon-cycle", "verify")


@dataclass(frozen=True)
class EventRecord:
    """What the ledger keeps about an event; ``None`` fields leave stored values untouched."""

    event_id: int
    name: str | None
    slug: str | None
    date: str | None
    status: str | None


class Listed(Protocol):
    """A photo as a listing shows it: a :class:`SeenImage`, or an item of the API's pages
    as it is (a walk records them without copying them first)."""

    @property
    def image_id(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...


@dataclass(frozen=True)
class SeenImage:
    """One gallery entry seen while walking the pages of an event."""

    image_id: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class WalkState:
    """The walk to perform: its number and the first page to fetch (1 for a fresh walk)."""

    walk_no: int
    resume_page: int


@dataclass(frozen=True)
class BibPass:
    """The BIB searches an event needs: those whose last complete search began before ``mark``.

    ``mark`` is the event's photo mark now; a search begun now covers every photo up to it.
    ``digest`` identifies the BIB list; ``settled`` says the whole list was known to be
    searched at this mark already (nothing to search, nothing to record).
    """

    mark: int
    bibs: tuple[str, ...]
    digest: str = ""
    settled: bool = False


@dataclass(frozen=True)
class DuePhoto:
    """A photo to download now, with the BIBs it belongs to (sorted)."""

    photo_id: int
    event_id: int
    image_id: str
    bibs: tuple[str, ...]
    attempts: int  # runs that ended with this photo failed
    missing_walks: int = 0  # complete walks in a row that did not list it


@dataclass(frozen=True)
class PlacedPhoto:
    """A photo with files on disk: its current BIBs and where its files were placed."""

    photo_id: int
    event_id: int
    image_id: str
    bibs: tuple[str, ...]
    placements: tuple[str, ...]
    sha256: str | None
    bytes: int | None
    missing_walks: int


@dataclass(frozen=True)
class PhotoResult:
    """The outcome of one download attempt, as recorded by :meth:`Ledger.record_results`.

    ``bibs_placed`` is aligned with ``placements`` (the BIB each file was placed for, ``None``
    for the event-level file); an empty tuple means no BIB for every placement. A
    ``members_version`` older than the event's marks the placements to be checked again.
    """

    photo_id: int
    outcome: Outcome
    bytes: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    placements: tuple[str, ...] = ()
    bibs_placed: tuple[str | None, ...] = ()
    error: str | None = None
    retry_at: datetime | None = None
    # the event's membership version the placements were chosen at (None: not checked)
    members_version: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise SyncerError(f"photo {self.photo_id}: unknown outcome {self.outcome!r}")
        if self.bibs_placed and len(self.bibs_placed) != len(self.placements):
            raise SyncerError(
                f"photo {self.photo_id}: {len(self.bibs_placed)} bibs_placed "
                f"for {len(self.placements)} placements"
            )
        if self.retry_at is not None and self.retry_at.utcoffset() is None:
            raise SyncerError(f"photo {self.photo_id}: retry_at must be timezone-aware")

    def placement_pairs(self) -> list[tuple[str, str | None]]:
        """``(relpath, bib)`` pairs for this result's placements."""
        bibs = self.bibs_placed or (None,) * len(self.placements)
        return list(zip(self.placements, bibs, strict=True))


@dataclass(frozen=True)
class EventStatus:
    """Counts for one event, as shown by ``syncer status`` and exported as metrics."""

    event_id: int
    name: str | None
    slug: str | None
    known: int
    downloaded: int
    pending: int
    failed: int
    unavailable: int
    removed: int
    bytes: int
    failures: tuple[tuple[str, int], ...]
    last_walk_completed_at: datetime | None
    last_run_ended_at: datetime | None
    gone_from_disk: int = 0  # counted as pending: files removed from the disk behind our back
    people: tuple[PersonStatus, ...] = ()  # per person whose selfie search ran on the event
    concurrency: int | None = None  # downloads at once in the newest run that recorded it


@dataclass(frozen=True)
class PersonSearch:
    """A person's selfie search on one event (for one selfie file), and their clipping job.

    ``covered_mark`` is None while the POST under ``request_id`` has not answered: a retry
    sends the same ``request_id``. ``clip_state`` is ``running`` (``clip_request_id`` is
    polled), ``done`` (every clip of the job started from ``clip_source`` is stored),
    ``recheck`` (done, but a clip's file went missing or bad: the job is looked at again) or
    ``failed``.
    """

    event_id: int
    person: str
    selfie_sha256: str
    request_id: str
    covered_mark: int | None = None
    clip_request_id: str | None = None
    clip_source: str | None = None
    clip_state: str | None = None
    clip_error: str | None = None


@dataclass(frozen=True)
class StoredClip:
    """A clip the ledger recorded as stored and verified."""

    event_id: int
    person: str
    name: str
    relpath: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class PersonStatus:
    """Counts for one person of an event, as shown by ``syncer status``."""

    person: str
    matches: int
    placed: int
    pending: int
    clips: int


@dataclass(frozen=True)
class Claim:
    """Photos a node took to download now; ``later``: none now, but more may come (another
    node is walking the event or holds claims that may lapse), so ask again in a while."""

    photos: list[DuePhoto]
    later: bool = False


@dataclass(frozen=True)
class NodeStatus:
    """One node of a shared ledger, as ``syncer status`` shows it."""

    name: str
    started_at: datetime
    last_seen: datetime
    downloading: int  # downloads in flight when it was last seen
    claimed: dict[int, int]  # event id -> photos it holds a live claim on
