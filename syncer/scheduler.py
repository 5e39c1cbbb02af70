"""Run callables every N seconds on a background thread, never overlapping (APScheduler 3.x).

This module knows nothing about syncing: it receives plain callables. Each job runs first right
after :meth:`Scheduler.start` (or :meth:`Scheduler.add` on a running scheduler), then on an
interval trigger with optional jitter. A job never overlaps itself: a tick that comes while the
previous run is still going is skipped (``max_instances=1``), missed ticks are merged into one
(``coalesce``), and a late tick still runs however late it is (no misfire limit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

log = logging.getLogger("syncer.scheduler")

_SKIPPED = "maximum number of running instances reached"


def _drop_skip_warnings(record: logging.LogRecord) -> bool:
    """APScheduler warns on each skipped tick; a long run is normal here: we log it at debug."""
    return _SKIPPED not in str(record.msg)


_engine_log = logging.getLogger("syncer.scheduler.engine")
_engine_log.addFilter(_drop_skip_warnings)


def _quiet_apscheduler() -> None:
    """APScheduler logs two INFO lines per run; keep it at WARNING unless someone chose a level."""
    executors = logging.getLogger("apscheduler.executors")
    if executors.level == logging.NOTSET:
        executors.setLevel(logging.WARNING)
    if _engine_log.level == logging.NOTSET:
        _engine_log.setLevel(logging.WARNING)


def _trigger(every: float, jitter: float) -> IntervalTrigger:
    if every <= 0:
        raise ValueError(f"interval must be positive, got {every}")
    if jitter < 0:
        raise ValueError(f"jitter must not be negative, got {jitter}")
    return IntervalTrigger(seconds=every, jitter=jitter or None, timezone=UTC)


class Scheduler:
    """A small facade over :class:`BackgroundScheduler` with one job per name."""

    def __init__(self, *, workers: int = 4) -> None:
        _quiet_apscheduler()
        self._aps = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            timezone=UTC,
            logger=_engine_log,
        )
        self._aps.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES)
        self._running_lock = threading.Lock()
        self._started = False

    def add(self, name: str, func: Callable[[], object], every: float, jitter: float = 0.0) -> None:
        """Run ``func`` now (once started) and then every ``every`` seconds (+ up to ``jitter``)."""
        self._aps.add_job(
            self._guard(name, func),
            trigger=_trigger(every, jitter),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def reschedule(
        self, name: str, every: float, jitter: float = 0.0, *, first_in: float | None = None
    ) -> None:
        """Change a job's interval; its next run comes ``first_in`` seconds from now (default:
        one full interval). A run in progress is not interrupted."""
        trigger = _trigger(every, jitter)
        delay = every if first_in is None else max(first_in, 0.0)
        self._aps.modify_job(
            name, trigger=trigger, next_run_time=datetime.now(UTC) + timedelta(seconds=delay)
        )

    def next_run(self, name: str) -> datetime | None:
        """When ``name`` runs next (UTC), or None if it is unknown or not scheduled."""
        job = self._aps.get_job(name)
        when: datetime | None = getattr(job, "next_run_time", None) if job else None
        return when

    def start(self) -> None:
        with self._running_lock:
            if not self._started:
                self._aps.start()
                self._started = True

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def shutdown(self, wait: bool = True) -> None:
        """Stop ticking; with ``wait`` also wait for runs in progress. Safe to call twice."""
        with self._running_lock:
            if self._started:
                self._started = False
                self._aps.shutdown(wait=wait)

    @staticmethod
    def _guard(name: str, func: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                func()
            except Exception:
                log.exception("scheduled job %s failed", name)

        return run

    @staticmethod
    def _on_skip(event: Any) -> None:
        if isinstance(event, JobSubmissionEvent):
            log.debug("job %s skipped: its previous run is still in progress", event.job_id)
