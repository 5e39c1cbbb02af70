"""What one sync cycle did: plain data handed from `sync` to the CLI, the daemon and metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


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
    failures: Counter[str] = field(default_factory=Counter)
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

    @property
    def exit_code(self) -> int:
        """0 when everything due was stored, 4 when some photos or events failed."""
        failed = self.total("failed") + self.total("unavailable")
        failed += sum(1 for event in self.events if event.error)
        return 4 if failed else 0
