"""Prometheus metrics of one syncer process, in a registry of its own.

The API client reports each response through :meth:`Metrics.observe_api`; the daemon records
each cycle with :meth:`Metrics.record_cycle`; whoever holds the ledger publishes photo counts by
state with :meth:`Metrics.set_states`, and the cycle's progress the download concurrency with
:meth:`Metrics.set_concurrency`. :meth:`Metrics.render` gives the text exposition format.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from syncer.report import CycleReport

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: How a cycle ended: completed (photo failures are counted apart), a SyncerError other than
#: auth/storage (API unavailable, protocol...), the key refused, storage unusable, or a bug.
CYCLE_RESULTS = ("ok", "failed", "auth", "storage", "error")

_CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))


class Metrics:
    """Counters, gauges and a histogram describing what syncer did; thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._states_lock = threading.Lock()
        self._known_states: set[str] = set()
        reg = self.registry
        self.photos = Gauge(
            "syncer_photos", "Photos in the ledger by state.", ["state"], registry=reg
        )
        self.downloaded_bytes = Counter(
            "syncer_downloaded_bytes", "Bytes of photos downloaded and stored.", registry=reg
        )
        self.downloaded = Counter(
            "syncer_photos_downloaded", "Photos downloaded and stored.", registry=reg
        )
        self.discovered = Counter(
            "syncer_photos_discovered", "Photos seen for the first time.", registry=reg
        )
        self.failed = Counter(
            "syncer_photos_failed", "Photo download attempts that failed.", registry=reg
        )
        self.cycle_seconds = Histogram(
            "syncer_cycle_duration_seconds",
            "Duration of sync cycles.",
            buckets=_CYCLE_BUCKETS,
            registry=reg,
        )
        self.cycles = Counter(
            "syncer_cycles",
            "Sync cycles by result (ok, failed, auth, storage, error).",
            ["result"],
            registry=reg,
        )
        self.api_responses = Counter(
            "syncer_api_responses",
            "9Pic API responses by endpoint and HTTP status (0 = network error).",
            ["endpoint", "status"],
            registry=reg,
        )
        self.throttled = Counter(
            "syncer_api_throttled", "9Pic API answers with 429 Too Many Requests.", registry=reg
        )
        self.last_success = Gauge(
            "syncer_last_success_timestamp_seconds",
            "Unix time when the last sync cycle completed (0 = never).",
            registry=reg,
        )
        self.concurrency = Gauge(
            "syncer_download_concurrency",
            "Downloads at once (the adaptive target) in the current or last cycle (0 = none yet).",
            registry=reg,
        )
        for result in CYCLE_RESULTS:
            self.cycles.labels(result=result)

    def observe_api(self, endpoint: str, status: int) -> None:
        """Count one API response; usable as the API client's ``observer`` callback."""
        self.api_responses.labels(endpoint=endpoint, status=str(status)).inc()
        if status == 429:
            self.throttled.inc()

    def record_cycle(
        self, report: CycleReport | None, result: str, *, seconds: float | None = None
    ) -> None:
        """Record how one cycle ended; ``report`` is None when the cycle raised."""
        if result not in CYCLE_RESULTS:
            raise ValueError(f"unknown cycle result {result!r}; expected one of {CYCLE_RESULTS}")
        self.cycles.labels(result=result).inc()
        if report is not None:
            self.downloaded_bytes.inc(max(report.total("bytes"), 0))
            self.downloaded.inc(max(report.total("downloaded"), 0))
            self.discovered.inc(max(report.total("new"), 0))
            self.failed.inc(max(report.total("failed"), 0))
            if seconds is None:
                seconds = report.seconds
        if seconds is not None:
            self.cycle_seconds.observe(seconds)
        if result == "ok" and not (report is not None and report.interrupted):
            ended = report.ended_at if report is not None else None
            self.last_success.set(ended.timestamp() if ended is not None else time.time())

    def set_states(self, counts: dict[str, int]) -> None:
        """Publish photo counts by state; states absent from ``counts`` drop to 0."""
        with self._states_lock:
            for state in self._known_states - counts.keys():
                self.photos.labels(state=state).set(0)
            for state, count in counts.items():
                self.photos.labels(state=state).set(count)
            self._known_states |= counts.keys()

    def set_concurrency(self, downloads: int) -> None:
        """Publish how many downloads run at once now."""
        self.concurrency.set(downloads)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
