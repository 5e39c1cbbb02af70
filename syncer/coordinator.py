"""Feed due photos to the worker pool and write the results to the ledger in batches.

The coordinator is the only thread that writes the ledger. It presigns URLs just in time (at
most 60 per request), keeps a bounded number of downloads in flight, and before every ledger
commit makes the renamed files durable (a batched fsync of their folders), so a photo the
ledger calls downloaded is on stable storage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from syncer.api import ApiClient
from syncer.downloader import Abandoned, Job, Stored, fsync_dirs
from syncer.errors import LinkExpiredError, StorageError, TransferError
from syncer.ledger import DuePhoto, Ledger, PhotoResult
from syncer.placement import Placement, Placer, avoid_collisions
from syncer.report import EventReport
from syncer.root import check_free_space
from syncer.workers import Workers

log = logging.getLogger("syncer.coordinator")

FLUSH_EVERY = 256  # results per ledger commit
FLUSH_SECONDS = 1.0
IN_RUN_RETRIES = 2  # fresh URLs within one run before the photo waits for a later attempt


@dataclass(frozen=True)
class Tuning:
    workers: int = 8
    presign_batch: int = 60
    max_attempts: int = 10
    retry_base: float = 60.0
    retry_cap: float = 6 * 3600.0
    min_free: int = 0


@dataclass
class _Work:
    photo: DuePhoto
    places: list[Placement]
    targets: tuple[Path, ...]  # absolute paths of ``places``, the first receives the bytes
    tries: int = 0


@dataclass
class _State:
    pending: deque[_Work] = field(default_factory=deque)  # presigned again soon
    results: list[PhotoResult] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)
    last_flush: float = field(default_factory=time.monotonic)


class _InFlight:
    """Downloads under way; finished ones are handed over in O(1), not by polling them all."""

    def __init__(self) -> None:
        self._work: dict[Future[Stored], _Work] = {}
        self._done: queue.SimpleQueue[Future[Stored]] = queue.SimpleQueue()

    def add(self, future: Future[Stored], work: _Work) -> None:
        self._work[future] = work
        future.add_done_callback(self._done.put)

    def __len__(self) -> int:
        return len(self._work)

    def finished(self, timeout: float) -> list[tuple[Future[Stored], _Work]]:
        """Wait up to ``timeout`` for one download to finish; return every finished one."""
        try:
            futures = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                futures.append(self._done.get_nowait())
            except queue.Empty:
                break
        return [(future, self._work.pop(future)) for future in futures]

    def drain(self) -> list[tuple[Future[Stored], _Work]]:
        """Every remaining download, once it has finished (the pool is told to stop first)."""
        found: list[tuple[Future[Stored], _Work]] = []
        while self._work:
            found.extend(self.finished(timeout=FLUSH_SECONDS))
        return found


class Coordinator:
    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        workers_for: Callable[[], Workers],
        *,
        tuning: Tuning,
        stop: threading.Event,
        clock: Callable[[], datetime],
        case_insensitive: bool = False,
        on_file: Callable[[bool], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._workers_for = workers_for
        self._tuning = tuning
        self._stop = stop
        self._clock = clock
        self._case_insensitive = case_insensitive
        self._on_file = on_file
        self._on_bytes = on_bytes
        self._rng = random.Random()  # noqa: S311 (retry jitter, not cryptography)

    def run(self, placer: Placer, report: EventReport) -> None:
        """Download every due photo of the event (until stopped); results land in ``report``."""
        event_id = placer.event.event_id
        report.due = self._ledger.count_due(event_id, self._clock())
        state = _State()
        due = self._due_batches(event_id, placer)
        if report.due == 0:
            return
        limit = self._tuning.workers + self._tuning.presign_batch  # a batch always queued
        pool = self._workers_for()
        in_flight = _InFlight()
        try:
            while True:
                if not self._stop.is_set() and len(in_flight) < limit:
                    self._refill(pool, in_flight, state, due, placer, report)
                if not in_flight:
                    break
                self._collect_all(in_flight.finished(timeout=FLUSH_SECONDS), state, report)
                self._maybe_flush(state)
        except BaseException:
            self._stop.set()
            for future, work in in_flight.drain():
                self._collect_quietly(future, work, state, report)
            raise
        finally:
            self._flush(state)
            pool.close()

    # -- feeding ------------------------------------------------------------------------------

    def _due_batches(self, event_id: int, placer: Placer) -> Iterator[list[_Work]]:
        after = 0
        size = self._tuning.presign_batch
        now = self._clock()
        while batch := self._ledger.due(event_id, now, after_id=after, limit=size):
            after = batch[-1].photo_id
            wanted = {p.photo_id: placer.placements(p.image_id, p.bibs) for p in batch}
            fixed = avoid_collisions(self._ledger, wanted, case_insensitive=self._case_insensitive)
            yield [
                _Work(p, places, tuple(placer.path(rel) for rel, _ in places))
                for p, places in ((p, fixed[p.photo_id]) for p in batch)
            ]

    def _refill(
        self,
        pool: Workers,
        in_flight: _InFlight,
        state: _State,
        due: Iterator[list[_Work]],
        placer: Placer,
        report: EventReport,
    ) -> None:
        if self._tuning.min_free:
            check_free_space(placer.root, self._tuning.min_free)
        batch = [
            state.pending.popleft()
            for _ in range(min(len(state.pending), self._tuning.presign_batch))
        ]
        if not batch:
            batch = next(due, [])
        if not batch:
            return
        to_sign: list[_Work] = []
        for work in batch:
            if work.tries == 0 and _is_regular_file(work.targets[0]):
                job = Job(work.photo.photo_id, work.photo.image_id, "", work.targets)
                in_flight.add(pool.submit("adopt", job), work)
            else:
                to_sign.append(work)
        if to_sign:
            self._presign_and_submit(pool, in_flight, state, to_sign, placer, report)

    def _presign_and_submit(
        self,
        pool: Workers,
        in_flight: _InFlight,
        state: _State,
        batch: list[_Work],
        placer: Placer,
        report: EventReport,
    ) -> None:
        by_id = {work.photo.image_id: work for work in batch}
        answer = self._api.presign(placer.event.event_id, list(by_id))
        for image_id, item in answer.urls.items():
            work = by_id.pop(image_id)
            job = Job(work.photo.photo_id, image_id, item.url, work.targets)
            in_flight.add(pool.submit("fetch", job), work)
        for image_id, error in answer.failed.items():
            self._retry_later(state, by_id.pop(image_id), f"no download link: {error}", report)
        for image_id in answer.invalid:
            self._retry_later(state, by_id.pop(image_id), "9Pic does not know this image", report)
        for work in by_id.values():  # silently missing from the answer
            self._retry_later(state, work, "missing from the download-link answer", report)

    # -- results ------------------------------------------------------------------------------

    def _collect(
        self,
        future: Future[Stored],
        work: _Work,
        state: _State,
        report: EventReport,
    ) -> None:
        try:
            stored = future.result()
        except Abandoned:
            return
        except LinkExpiredError as exc:
            self._again_or_later(state, work, f"link refused: {exc}", report)
        except TransferError as exc:
            self._again_or_later(state, work, str(exc), report)
        except StorageError:
            raise
        else:
            self._stored(stored, work, state, report)

    def _collect_all(
        self, finished: list[tuple[Future[Stored], _Work]], state: _State, report: EventReport
    ) -> None:
        """Collect every finished download, then raise the first StorageError among them.

        Raising at the first would drop the others, already taken from the in-flight set: a
        photo already in place would be missing from the ledger.
        """
        failure: StorageError | None = None
        for future, work in finished:
            try:
                self._collect(future, work, state, report)
            except StorageError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _collect_quietly(
        self,
        future: Future[Stored],
        work: _Work,
        state: _State,
        report: EventReport,
    ) -> None:
        with contextlib.suppress(StorageError):
            self._collect(future, work, state, report)

    def _stored(self, stored: Stored, work: _Work, state: _State, report: EventReport) -> None:
        placements = tuple(rel for rel, _ in work.places)
        state.results.append(
            PhotoResult(
                photo_id=work.photo.photo_id,
                outcome="downloaded",
                bytes=stored.bytes,
                sha256=stored.sha256,
                content_type=stored.content_type,
                placements=placements,
                bibs_placed=tuple(bib for _, bib in work.places),
            )
        )
        state.dirs.update(target.parent for target in stored.job.targets)
        if stored.adopted:
            report.skipped += 1
        else:
            report.downloaded += 1
            report.bytes += stored.bytes
            if self._on_bytes is not None:
                self._on_bytes(stored.bytes)
        if self._on_file is not None:
            self._on_file(True)

    def _again_or_later(self, state: _State, work: _Work, error: str, report: EventReport) -> None:
        work.tries += 1
        if work.tries <= IN_RUN_RETRIES and not self._stop.is_set():
            state.pending.append(work)
            return
        self._retry_later(state, work, error, report)

    def _retry_later(self, state: _State, work: _Work, error: str, report: EventReport) -> None:
        attempts = work.photo.attempts + 1
        report.failures[error.split(":")[0]] += 1
        if self._on_file is not None:
            self._on_file(False)
        if attempts >= self._tuning.max_attempts:
            report.unavailable += 1
            state.results.append(PhotoResult(work.photo.photo_id, "unavailable", error=error))
            return
        report.failed += 1
        delay = min(self._tuning.retry_cap, self._tuning.retry_base * 2 ** (attempts - 1))
        retry_at = self._clock() + timedelta(seconds=self._rng.uniform(delay / 2, delay))
        state.results.append(
            PhotoResult(work.photo.photo_id, "retry", error=error, retry_at=retry_at)
        )

    def _maybe_flush(self, state: _State) -> None:
        if len(state.results) >= FLUSH_EVERY or (
            state.results and time.monotonic() - state.last_flush >= FLUSH_SECONDS
        ):
            self._flush(state)

    def _flush(self, state: _State) -> None:
        state.last_flush = time.monotonic()
        if not state.results:
            return
        fsync_dirs(state.dirs)
        self._ledger.record_results(state.results, self._clock())
        state.results = []
        state.dirs = set()


def _is_regular_file(path: Path) -> bool:
    """A file an interrupted run left in place (a planted symlink is not one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
