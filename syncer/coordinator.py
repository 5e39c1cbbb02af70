"""Feed due photos to the worker pool and write the results to the ledger in batches.

The coordinator is the only thread that writes the ledger. It presigns URLs just in time (at
most 60 per request), keeps a bounded number of downloads in flight, and before every ledger
commit makes the renamed files durable (a batched fsync of their folders), so a photo the
ledger calls downloaded is on stable storage.

A photo that fails for a passing reason (no link this time, a cut body, an expired link, a
5xx) goes back into this run's queue after a short jittered backoff, up to
``Tuning.soon.max_attempts`` tries; only then is it deferred to a later run, with a growing delay.
Both delays come from the one backoff formula of :mod:`syncer.api.retry`. A photo whose id
9Pic refuses (400) and that the last complete walk no longer listed is ``unavailable``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from syncer.api import ApiClient, RetryPolicy, backoff
from syncer.downloader import Abandoned, Job, Stored, fsync_dirs
from syncer.errors import LinkExpiredError, StorageError, TransferError, UntrustedHostError
from syncer.ledger import DuePhoto, Ledger, PhotoResult
from syncer.placement import Placement, Placer, avoid_collisions, is_regular_file
from syncer.report import Deferred, EventReport
from syncer.root import check_free_space
from syncer.workers import Kind, Workers

log = logging.getLogger("syncer.coordinator")
_URL = re.compile(r"\bhttps?://\S+?(?=:?(?:\s|$))")

FLUSH_EVERY = 256  # results per ledger commit
FLUSH_SECONDS = 1.0
SOON = RetryPolicy(max_attempts=8, base=1.0, cap=30.0)  # tries of a photo within a run
LATER = RetryPolicy(base=60.0, cap=6 * 3600.0)  # runs that try it again, once out of tries
GONE = "9Pic refuses this photo's id and no longer lists it"


@dataclass(frozen=True)
class Tuning:
    """How the coordinator paces one event's downloads.

    ``soon`` spaces the tries of a photo within one run (``soon.max_attempts`` of them);
    ``later`` spaces the runs that try a photo again once a run used up its tries.
    """

    workers: int = 8
    presign_batch: int = 60
    soon: RetryPolicy = SOON
    later: RetryPolicy = LATER
    min_free: int = 0


@dataclass
class _Work:
    photo: DuePhoto
    places: list[Placement]
    targets: tuple[Path, ...]  # absolute paths of ``places``, the first receives the bytes
    tries: int = 0  # failed tries in this run


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

    def photo_ids(self) -> list[int]:
        return [work.photo.photo_id for work in self._work.values()]

    def finished(self, timeout: float) -> list[tuple[Future[Stored], _Work]]:
        """Wait up to ``timeout`` for one download to finish; return every finished one."""
        try:
            futures = [self._done.get(timeout=max(timeout, 0.0))]
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


class _Waiting:
    """Photos to try again later in this run, soonest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Work]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, ready_at: float, work: _Work) -> None:
        heapq.heappush(self._heap, (ready_at, next(self._order), work))

    def ready(self, now: float, limit: int) -> list[_Work]:
        found: list[_Work] = []
        while self._heap and self._heap[0][0] <= now and len(found) < limit:
            found.append(heapq.heappop(self._heap)[2])
        return found

    def photo_ids(self) -> list[int]:
        return [work.photo.photo_id for _, _, work in self._heap]

    def seconds_to_next(self, now: float) -> float | None:
        return max(0.0, self._heap[0][0] - now) if self._heap else None


class Coordinator:
    """Downloads every due photo of one event per :meth:`run` call."""

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
        retry_failed: bool = False,
        on_file: Callable[[bool], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
        on_abandon: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.workers_for = workers_for
        self.tuning = tuning
        self.stop = stop
        self.clock = clock
        self.case_insensitive = case_insensitive
        self.retry_failed = retry_failed
        self.on_file = on_file or (lambda _ok: None)
        self.on_bytes = on_bytes or (lambda _count: None)
        self.on_abandon = on_abandon or (lambda: None)
        self.monotonic = monotonic
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter, not cryptography)

    def count_due(self, event_id: int) -> int:
        return self.ledger.count_due(event_id, self.clock(), any_failed=self.retry_failed)

    def run(self, placer: Placer, report: EventReport) -> None:
        """Download every due photo of the event (until stopped); results land in ``report``."""
        report.due = self.count_due(placer.event.event_id)
        if report.due or self.ledger.shared:  # a node: other nodes may add or give up work
            _EventRun(self, placer, report).run()


@dataclass
class _EventRun:
    """One event's downloads: the queue, what is in flight, and results not yet recorded."""

    owner: Coordinator
    placer: Placer
    report: EventReport
    in_flight: _InFlight = field(default_factory=_InFlight)
    waiting: _Waiting = field(default_factory=_Waiting)
    results: list[PhotoResult] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)
    last_flush: float = field(default_factory=time.monotonic)
    last_renew: float = field(default_factory=time.monotonic)
    exhausted: bool = False  # every due photo of the ledger has been taken

    def __post_init__(self) -> None:
        self.due = self._due_batches()
        self.pool: Workers | None = None

    def run(self) -> None:
        owner = self.owner
        limit = self._feed()[1]
        self.pool = owner.workers_for()
        try:
            while True:
                if not owner.stop.is_set() and len(self.in_flight) < limit:
                    self._refill()
                if not self.in_flight and (owner.stop.is_set() or self._nothing_left()):
                    break
                self._collect_all(self.in_flight.finished(timeout=self._wait_seconds()))
                self._maybe_flush()
        except BaseException as exc:
            owner.stop.set()
            if isinstance(exc, KeyboardInterrupt):  # a second Ctrl-C: drop what is in flight
                owner.on_abandon()
            for future, work in self.in_flight.drain():
                with contextlib.suppress(StorageError):
                    self._collect(future, work)
            raise
        finally:
            self._flush()
            self.pool.close()

    def _feed(self) -> tuple[int, int]:
        """(photos taken per batch, photos held at most): alone, a batch always queued; a
        node among others holds only what its workers start soon (one round queued),
        leaving the rest to the others so that they all finish together."""
        tuning = self.owner.tuning
        if self.owner.ledger.shared:
            batch = min(tuning.presign_batch, tuning.workers)
            return batch, tuning.workers + batch
        return tuning.presign_batch, tuning.workers + tuning.presign_batch

    def _nothing_left(self) -> bool:
        return self.exhausted and not self.waiting

    def _wait_seconds(self) -> float:
        """How long to wait for a download: until the next retry is due, at most a flush."""
        if self.in_flight:
            return FLUSH_SECONDS
        until = self.waiting.seconds_to_next(self.owner.monotonic())
        return FLUSH_SECONDS if until is None else min(until, FLUSH_SECONDS)

    # -- feeding ------------------------------------------------------------------------------

    def _due_batches(self) -> Iterator[list[_Work]]:
        """Batches of photos taken from the ledger (claimed, on a ledger shared by nodes).

        An empty batch: none to take now, but other nodes may still add some (a walk) or
        give some up (a claim that lapses): ask again, at most once a second.
        """
        owner, placer = self.owner, self.placer
        after, size, asked = 0, self._feed()[0], None
        event_id = placer.event.event_id
        while True:
            if asked is not None and owner.monotonic() - asked < FLUSH_SECONDS:
                yield []
                continue
            claim = owner.ledger.claim(
                event_id, owner.clock(), after_id=after, limit=size, any_failed=owner.retry_failed
            )
            batch = claim.photos
            if not batch:
                if not claim.later:
                    return
                after, asked = 0, owner.monotonic()
                yield []
                continue
            after = batch[-1].photo_id
            wanted = {p.photo_id: placer.placements(p.image_id, p.bibs) for p in batch}
            fixed = avoid_collisions(owner.ledger, wanted, case_insensitive=owner.case_insensitive)
            yield [
                _Work(p, fixed[p.photo_id], tuple(placer.path(rel) for rel, _ in fixed[p.photo_id]))
                for p in batch
            ]

    def _refill(self) -> None:
        tuning = self.owner.tuning
        if tuning.min_free:
            check_free_space(self.placer.root, tuning.min_free)
        batch = self.waiting.ready(self.owner.monotonic(), tuning.presign_batch)
        if not batch and not self.exhausted:
            taken = next(self.due, None)
            self.exhausted = taken is None
            batch = taken or []
        to_sign: list[_Work] = []
        for work in batch:
            if work.tries == 0 and is_regular_file(work.targets[0]):
                self._submit("adopt", work, "")
            else:
                to_sign.append(work)
        if to_sign:
            self._presign_and_submit(to_sign)

    def _submit(self, kind: Kind, work: _Work, url: str) -> None:
        assert self.pool is not None
        job = Job(work.photo.photo_id, work.photo.image_id, url, work.targets)
        self.in_flight.add(self.pool.submit(kind, job), work)

    def _presign_and_submit(self, batch: list[_Work]) -> None:
        by_id = {work.photo.image_id: work for work in batch}
        answer = self.owner.api.presign(self.placer.event.event_id, list(by_id))
        for image_id, item in answer.urls.items():
            self._submit("fetch", by_id.pop(image_id), item.url)
        for image_id, error in answer.failed.items():
            self._again_soon(by_id.pop(image_id), f"no download link: {error}")
        for image_id in answer.missing:
            self._again_soon(by_id.pop(image_id), "missing from the download-link answer")
        refused = [by_id.pop(image_id) for image_id in answer.invalid]
        if len(refused) > 1:  # one refused id may be enough to refuse a whole batch: split it
            middle = len(refused) // 2
            self._presign_and_submit(refused[:middle])
            self._presign_and_submit(refused[middle:])
        elif refused:
            self._refused(refused[0])

    # -- results ------------------------------------------------------------------------------

    def _collect(self, future: Future[Stored], work: _Work) -> None:
        try:
            stored = future.result()
        except Abandoned:
            return
        except UntrustedHostError as exc:  # trying again in this run cannot help
            self._defer(work, str(exc))
        except LinkExpiredError as exc:
            self._again_soon(work, f"link refused: {exc}")
        except TransferError as exc:
            self._again_soon(work, str(exc), asked_wait=exc.retry_after)
        else:
            self._stored(stored, work)

    def _collect_all(self, finished: list[tuple[Future[Stored], _Work]]) -> None:
        """Collect every finished download, then raise the first StorageError among them.

        Raising at the first would drop the others, already taken from the in-flight set: a
        photo already in place would be missing from the ledger.
        """
        failure: StorageError | None = None
        for future, work in finished:
            try:
                self._collect(future, work)
            except StorageError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _stored(self, stored: Stored, work: _Work) -> None:
        placements = tuple(rel for rel, _ in work.places)
        self.results.append(
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
        self.dirs.update(target.parent for target in stored.job.targets)
        report = self.report
        if stored.adopted:
            report.skipped += 1
        else:
            report.downloaded += 1
            report.bytes += stored.bytes
            self.owner.on_bytes(stored.bytes)
        if work.tries:
            report.recovered += 1
        self.owner.on_file(True)

    def _again_soon(self, work: _Work, error: str, asked_wait: float | None = None) -> None:
        """Back into this run's queue after a short backoff (at least what the server asked
        for), or deferred to a later run once out of tries or asked to wait longer than the
        backoff's cap."""
        work.tries += 1
        soon = self.owner.tuning.soon
        if self.owner.stop.is_set():
            return  # left as it was in the ledger: the next run tries it first thing
        if work.tries >= soon.max_attempts or (asked_wait or 0.0) > soon.cap:
            self._defer(work, error, asked_wait)
            return
        self.report.retries += 1
        delay = max(backoff(work.tries, soon, self.owner.rng), asked_wait or 0.0)
        log.debug(
            "%s: try %d failed (%s); again in %.1f s", work.photo.image_id, work.tries, error, delay
        )
        self.waiting.put(self.owner.monotonic() + delay, work)

    def _refused(self, work: _Work) -> None:
        """9Pic answered 400 for this id alone: gone if the listing agrees, else ask later."""
        if work.photo.missing_walks > 0:
            self._give_up(work, GONE)
        else:
            self._defer(work, "9Pic refused this photo's id (400); asked again on a later run")

    def _defer(self, work: _Work, error: str, asked_wait: float | None = None) -> None:
        attempts = work.photo.attempts + 1
        delay = backoff(attempts, self.owner.tuning.later, self.owner.rng)
        retry_at = self.owner.clock() + timedelta(seconds=max(delay, asked_wait or 0.0))
        self._failed(work, error)
        self.report.failed += 1
        self.report.deferred.append(Deferred(work.photo.image_id, retry_at, error))
        self.results.append(
            PhotoResult(work.photo.photo_id, "retry", error=error, retry_at=retry_at)
        )

    def _give_up(self, work: _Work, error: str) -> None:
        self._failed(work, error)
        self.report.unavailable += 1
        self.results.append(PhotoResult(work.photo.photo_id, "unavailable", error=error))

    def _failed(self, work: _Work, error: str) -> None:
        self.report.failures[failure_kind(error)] += 1
        self.owner.on_file(False)

    def _maybe_flush(self) -> None:
        if len(self.results) >= FLUSH_EVERY or (
            self.results and time.monotonic() - self.last_flush >= FLUSH_SECONDS
        ):
            self._flush()
        if time.monotonic() - self.last_renew >= FLUSH_SECONDS:
            self._renew()

    def _renew(self) -> None:
        """Renew the claims on the photos this run still holds (a node's heartbeat)."""
        self.last_renew = time.monotonic()
        held = self.in_flight.photo_ids() + self.waiting.photo_ids()
        held += [result.photo_id for result in self.results]
        self.owner.ledger.renew(held, self.owner.clock(), downloading=len(self.in_flight))

    def _flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.results:
            return
        fsync_dirs(self.dirs)
        taken_over = self.owner.ledger.record_results(self.results, self.owner.clock())
        if taken_over:
            log.info(
                "%d photos were finished by another node meanwhile; kept its record", taken_over
            )
        self.results = []
        self.dirs = set()


def failure_kind(error: str) -> str:
    """What a summary counts failures by: the message up to its first detail, URLs left out."""
    return _URL.sub("<url>", error).split(":")[0].strip()
