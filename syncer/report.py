"""What one sync cycle did: plain data handed from `sync` to the CLI, the daemon and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Step:
    """One thing a run would do (a dry run lists them): ``action`` on ``path`` in the root."""

    action: str  # "download", "link", "unlink" or "trash"
    path: str
    source: str | None = None  # the file a link or a move to the trash starts from
    image_id: str | None = None


@dataclass(frozen=True)
class Deferred:
    """A photo this run gave up on for now, and when a later run tries it again."""

    image_id: str
    retry_at: datetime
    error: str


@dataclass
class PersonReport:
    """What one cycle did for one person of an event: their selfie search and their clips."""

    name: str
    matches: int = 0  # photos the search matched that were new to the person
    searched: bool = False  # a search ran (False: nothing new since the last one)
    clips: int = 0  # clips downloaded
    error: str | None = None  # the search or the clips failed: tried again next run


@dataclass
class EventReport:
    """The outcome of one event within a cycle."""

    event_id: int
    name: str | None = None
    pages: int = 0
    seen: int = 0
    new: int = 0
    due: int = 0
    downloaded: int = 0
    skipped: int = 0
    failed: int = 0
    unavailable: int = 0
    relinked: int = 0
    trashed: int = 0
    bytes: int = 0
    retries: int = 0  # tries repeated within this run after a passing failure
    recovered: int = 0  # photos stored after at least one failed try in this run
    gone_from_disk: int = 0  # downloaded photos whose files had disappeared: fetched again
    failures: Counter[str] = field(default_factory=Counter)
    deferred: list[Deferred] = field(default_factory=list)
    plan: list[Step] = field(default_factory=list)  # a dry run: what a real run would do
    people: list[PersonReport] = field(default_factory=list)
    error: str | None = None  # the event could not be synced at all (404, 403 on the event, ...)


@dataclass
class CycleReport:
    """The outcome of one cycle over one or more events."""

    started_at: datetime
    ended_at: datetime | None = None
    events: list[EventReport] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False  # a stop was requested before the cycle finished

    @property
    def seconds(self) -> float:
        if self.ended_at is None:
            return 0.0
        return (self.ended_at - self.started_at).total_seconds()

    def total(self, name: str) -> int:
        """Sum of one integer counter (``new``, ``downloaded``, ``bytes``...) over all events."""
        return sum(int(getattr(event, name)) for event in self.events)

    @property
    def failures(self) -> Counter[str]:
        merged: Counter[str] = Counter()
        for event in self.events:
            merged.update(event.failures)
        return merged

    def counts(self) -> dict[str, int]:
        """The counters a run records in the ledger."""
        return {name: self.total(name) for name in ("downloaded", "new", "failed", "bytes")}

    @property
    def deferred(self) -> list[Deferred]:
        """Every photo deferred to a later run, soonest first."""
        return sorted(
            (one for event in self.events for one in event.deferred), key=lambda d: d.retry_at
        )

    @property
    def exit_code(self) -> int:
        """0 when everything due was stored, 4 when some photos or events failed."""
        failed = self.total("failed") + self.total("unavailable")
        failed += sum(1 for event in self.events if event.error)
        failed += sum(1 for event in self.events for person in event.people if person.error)
        return 4 if failed else 0
