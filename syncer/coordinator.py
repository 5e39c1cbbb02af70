"""Feed due photos to the worker pool and write the results to the ledger in batches.

The coordinator is the only thread that writes the ledger. It asks for presigned URLs a
little ahead of the downloads (at most 60 per request, ``Tuning.presign_ahead`` requests at
once, in background threads whose answers it takes back), so no download thread waits on a
link and no link is signed long before its use. It keeps a bounded number of downloads queued
(how many run at once is the :class:`~syncer.concurrency.Gate`'s), and before every ledger
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from syncer.api import ApiClient, PresignResult, RetryPolicy, backoff
from syncer.concurrency import Gate, Span
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
CLAIM_AGAIN = 0.2  # a node with nothing to claim while more may come asks again this often
SOON = RetryPolicy(max_attempts=8, base=1.0, cap=30.0)  # tries of a photo within a run
LATER = RetryPolicy(base=60.0, cap=6 * 3600.0)  # runs that try it again, once out of tries
GONE = "9Pic refuses this photo's id and no longer lists it"


@dataclass(frozen=True)
class Tuning:
    """How the coordinator paces one event's downloads.

    ``soon`` spaces the tries of a photo within one run (``soon.max_attempts`` of them);
    ``later`` spaces the runs that try a photo again once a run used up its tries.
    """

    concurrency: Span = field(default_factory=Span)
    presign_batch: int = 60
    presign_ahead: int = 2  # presign requests under way at once
    soon: RetryPolicy = SOON
    later: RetryPolicy = LATER
    min_free: int = 0


Presign = Callable[[int, list[str]], PresignResult]
"""Presigned URLs for up to ``Tuning.presign_batch`` image ids of one event."""


@dataclass(frozen=True)
class Scope:
    """Which due photos one run takes and where their download links come from.

    The default is every due photo of the event, linked through ``image_ids``. A selection (a
    BIB-only run, a timeline window) names its ``image_ids``; its ``links`` may replace the
    ``image_ids`` presign. A run that did not see the whole gallery is not ``conclusive``: an
    id 9Pic refuses is asked again on a later run, never marked unavailable.
    """

    image_ids: frozenset[str] | None = None
    links: Presign | None = None
    conclusive: bool = True


EVERY_PHOTO = Scope()


class Feed(Protocol):
    """Photos still being added to the ledger while a run downloads (a walk under way)."""

    @property
    def progress(self) -> int:
        """How much that may be due has been recorded so far; grows as such things arrive."""
        ...

    def notify(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from any thread) whenever something arrives."""

    def pull(self, timeout: float = 0.0) -> bool:
        """Record what arrived, after waiting up to ``timeout`` seconds for something; False
        once nothing more will come."""
        ...


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
        self._done: queue.SimpleQueue[Future[Stored] | None] = queue.SimpleQueue()

    def wake(self, _why: object = None) -> None:
        """End a wait in :meth:`finished` without a download finishing (a link arrived)."""
        self._done.put(None)

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
        return [(future, self._work.pop(future)) for future in futures if future is not None]

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
        gate: Gate | None = None,
        stop: threading.Event,
        clock: Callable[[], datetime],
        case_insensitive: bool = False,
        retry_failed: bool = False,
        on_file: Callable[[bool], None] | None = None,
        on_bytes: Callable[[int], None] | None = None,
        on_abandon: Callable[[], None] | None = None,
        on_concurrency: Callable[[int], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.workers_for = workers_for
        self.tuning = tuning
        self.gate = gate
        self.stop = stop
        self.clock = clock
        self.case_insensitive = case_insensitive
        self.retry_failed = retry_failed
        self.on_file = on_file or (lambda _ok: None)
        self.on_bytes = on_bytes or (lambda _count: None)
        self.on_abandon = on_abandon or (lambda: None)
        self.on_concurrency = on_concurrency or (lambda _downloads: None)
        self.told: int | None = None  # the concurrency last handed to on_concurrency
        self.monotonic = monotonic
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter, not cryptography)

    def count_due(self, event_id: int, scope: Scope = EVERY_PHOTO) -> int:
        if scope.image_ids is not None:
            return len(self.due_among(event_id, scope.image_ids))
        return self.ledger.count_due(event_id, self.clock(), any_failed=self.retry_failed)

    def due_among(self, event_id: int, image_ids: frozenset[str]) -> list[DuePhoto]:
        return self.ledger.due_among(
            event_id, image_ids, self.clock(), any_failed=self.retry_failed
        )

    def run(
        self,
        placer: Placer,
        report: EventReport,
        scope: Scope = EVERY_PHOTO,
        feed: Feed | None = None,
    ) -> None:
        """Download every due photo of the event in ``scope`` (until stopped), and those a
        ``feed`` adds meanwhile (a walk still paging); results land in ``report``.

        A feed that fails ends the run once the downloads under way are recorded: its error
        is raised then."""
        report.due = self.count_due(placer.event.event_id, scope)
        # a node: other nodes may add or give up work; a feed: the walk adds some
        if report.due or self.ledger.shared or feed is not None:
            _EventRun(self, placer, report, scope, feed).run()


@dataclass
class _EventRun:
    """One event's downloads: the queue, what is in flight, and results not yet recorded."""

    owner: Coordinator
    placer: Placer
    report: EventReport
    scope: Scope
    feed: Feed | None = None  # None once it has ended (or when there is none)
    in_flight: _InFlight = field(default_factory=_InFlight)
    waiting: _Waiting = field(default_factory=_Waiting)
    results: list[PhotoResult] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)
    last_flush: float = field(default_factory=time.monotonic)
    last_renew: float = field(default_factory=time.monotonic)
    exhausted: bool = False  # every due photo of the ledger has been taken
    signing: list[tuple[Future[PresignResult], list[_Work]]] = field(default_factory=list)
    error: Exception | None = None  # the first presign request or walk step that failed
    taken: set[int] = field(default_factory=set)  # photos taken alongside a feed, alone

    def __post_init__(self) -> None:
        self.due = self._due_batches()
        self.pool: Workers | None = None
        self.signer = ThreadPoolExecutor(self.owner.tuning.presign_ahead, "presign")

    def run(self) -> None:
        owner = self.owner
        self.pool = owner.workers_for()
        self._tell_concurrency()
        if self.feed is not None:
            self.feed.notify(self.in_flight.wake)
        try:
            while True:
                idle = self._idle()  # nothing to do but wait for the feed: wait in it
                self._pull(self._wait_seconds() if idle else 0.0)
                self._take_signed()
                while self._room() and self._refill():
                    pass
                if not self.in_flight and self._finished():
                    break
                self._collect_all(self.in_flight.finished(0.0 if idle else self._wait_seconds()))
                self._maybe_flush()
            self._raise_error()
        except BaseException as exc:
            owner.stop.set()
            if isinstance(exc, KeyboardInterrupt):  # a second Ctrl-C: drop what is in flight
                owner.on_abandon()
            for future, work in self.in_flight.drain():
                with contextlib.suppress(StorageError):
                    self._collect(future, work)
            raise
        finally:
            self.signer.shutdown(wait=False, cancel_futures=True)
            self._flush()
            self.pool.close()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _idle(self) -> bool:
        """Nothing under way, being signed or waiting for a retry, while a feed goes on."""
        return self.feed is not None and not (self.in_flight or self.signing or self.waiting)

    def _pull(self, timeout: float) -> None:
        """Record what the feed brought; a failed feed ends the run, after what is under way."""
        if self.feed is None:
            return
        try:
            alive = self.feed.pull(timeout)
        except Exception as exc:
            self.error, alive = self.error or exc, False
        if not alive:
            self.feed = None

    def _finished(self) -> bool:
        """Stopped (links still being signed are dropped), a presign request or the feed
        failed (once the links already asked for are used), or every photo taken and tried."""
        if self.owner.stop.is_set():
            return True
        if self.signing:
            return False
        return self.error is not None or (self.exhausted and not self.waiting)

    def _room(self) -> bool:
        """Whether to take another batch: links signed or being signed beyond the downloads
        running stay within ``presign_ahead`` batches (links are short-lived: none is signed
        long before its use)."""
        tuning = self.owner.tuning
        queued = len(self.in_flight) + sum(len(batch) for _, batch in self.signing)
        return (
            not self.owner.stop.is_set()
            and self.error is None
            and len(self.signing) < tuning.presign_ahead
            and queued < self._running() + self._ahead()
        )

    def _running(self) -> int:
        gate = self.owner.gate
        return gate.target if gate is not None else self.owner.tuning.concurrency.maximum

    def _batch_size(self) -> int:
        """Photos taken at a time: a presign batch; a node among others takes only what its
        downloads start soon, leaving the rest to the others so that they all finish together."""
        size = self.owner.tuning.presign_batch
        return min(size, self._running()) if self.owner.ledger.shared else size

    def _ahead(self) -> int:
        """Photos held beyond the running downloads: ``presign_ahead`` batches alone, one
        round on a shared ledger."""
        if self.owner.ledger.shared:
            return self._batch_size()
        return self.owner.tuning.presign_ahead * self.owner.tuning.presign_batch

    def _wait_seconds(self) -> float:
        """How long to wait for a download: until the next retry is due, at most a flush (a
        node with nothing to do yet: until it asks for a claim again)."""
        if self.in_flight or self.signing:
            return FLUSH_SECONDS
        longest = FLUSH_SECONDS
        if (self.owner.ledger.shared or self.feed is not None) and not self.exhausted:
            longest = CLAIM_AGAIN
        until = self.waiting.seconds_to_next(self.owner.monotonic())
        return longest if until is None else min(until, longest)

    # -- feeding ------------------------------------------------------------------------------

    def _due_batches(self) -> Iterator[list[_Work]]:
        """Batches of photos taken from the ledger (claimed, on a ledger shared by nodes).

        An empty batch: none to take now, but other nodes may still add some (a walk) or
        give some up (a claim that lapses): ask again, at most every ``CLAIM_AGAIN`` seconds.
        """
        owner, placer = self.owner, self.placer
        for batch in self._due_photos():
            wanted = {p.photo_id: placer.placements(p.image_id, p.bibs) for p in batch}
            fixed = avoid_collisions(owner.ledger, wanted, case_insensitive=owner.case_insensitive)
            yield [
                _Work(p, fixed[p.photo_id], tuple(placer.path(rel) for rel, _ in fixed[p.photo_id]))
                for p in batch
            ]

    def _due_photos(self) -> Iterator[list[DuePhoto]]:
        """The due photos of the scope, a batch at a time (claimed, on a shared ledger).

        While a feed adds photos, an empty batch means "none yet": asked again once it has
        brought more. Alone on the ledger, photos under way are still due: the photos taken
        are remembered, and once the feed has ended one more look from the start finds those
        it made due again below the ids already passed (a photo listed again).
        """
        owner, size = self.owner, self._batch_size()
        event_id = self.placer.event.event_id
        if self.scope.image_ids is not None:
            chosen = owner.due_among(event_id, self.scope.image_ids)
            yield from (chosen[i : i + size] for i in range(0, len(chosen), size))
            return
        alone = not owner.ledger.shared
        after, asked, swept = 0, None, self.feed is None
        while True:
            if asked is not None and not self._ask_again(asked):
                yield []
                continue
            asked = None
            claim = owner.ledger.claim(
                event_id, owner.clock(), after_id=after, limit=size, any_failed=owner.retry_failed
            )
            photos = [p for p in claim.photos if p.photo_id not in self.taken]
            if claim.photos:
                after = claim.photos[-1].photo_id
            if photos:
                if alone and not swept:
                    self.taken.update(p.photo_id for p in photos)
                yield photos
                continue
            if claim.photos:
                continue  # every one of them already taken: look further
            if alone and not swept and self.feed is None:
                after, swept = 0, True
                continue
            if not (claim.later or self.feed is not None):
                return
            if not alone:
                after = 0  # claims lapse and are given up: look from the start again
            asked = (owner.monotonic(), self._fed())
            yield []

    def _fed(self) -> int:
        return -1 if self.feed is None else self.feed.progress

    def _ask_again(self, asked: tuple[float, int]) -> bool:
        """After a claim that took nothing: once the feed brought more (or ended), or after
        ``CLAIM_AGAIN`` seconds (another node may have added or given up work)."""
        when, fed = asked
        return self._fed() != fed or self.owner.monotonic() - when >= CLAIM_AGAIN

    def _refill(self) -> bool:
        """Take one batch (retries first): adopt files already in place, sign the rest."""
        tuning = self.owner.tuning
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
            if tuning.min_free:  # before any byte is fetched (not on every look for work)
                check_free_space(self.placer.root, tuning.min_free)
            ids = [work.photo.image_id for work in to_sign]
            future = self.signer.submit(self._presign, self.placer.event.event_id, ids)
            future.add_done_callback(self.in_flight.wake)
            self.signing.append((future, to_sign))
        return bool(batch)

    def _take_signed(self) -> None:
        """Hand the links that arrived to the download threads.

        A failed request (a dead key, an unreachable API) takes no new work; the links already
        asked for are still used, then the run ends with that error.
        """
        arrived = [entry for entry in self.signing if entry[0].done()]
        for entry in arrived:
            self.signing.remove(entry)
        for future, batch in arrived:
            error = future.exception()
            if isinstance(error, Exception):
                self.error = self.error or error
            elif error is not None:
                raise error
            elif not self.owner.stop.is_set():  # else left as they are in the ledger
                self._signed(batch, future.result())

    def _submit(self, kind: Kind, work: _Work, url: str) -> None:
        assert self.pool is not None
        job = Job(work.photo.photo_id, work.photo.image_id, url, work.targets)
        self.in_flight.add(self.pool.submit(kind, job), work)

    def _presign_and_submit(self, batch: list[_Work]) -> None:
        ids = [work.photo.image_id for work in batch]
        self._signed(batch, self._presign(self.placer.event.event_id, ids))

    @property
    def _presign(self) -> Presign:
        """Where this run's links come from: the scope's own source, or ``api.presign``."""
        return self.scope.links or self.owner.api.presign

    def _signed(self, batch: list[_Work], answer: PresignResult) -> None:
        by_id = {work.photo.image_id: work for work in batch}
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
                members_version=self.placer.members_version,
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
        """9Pic answered 400 for this id alone: gone if the listing agrees (and this run may
        judge it), else ask later."""
        if self.scope.conclusive and work.photo.missing_walks > 0:
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
        if not self.owner.ledger.shared:
            return  # alone on the ledger: no claims to renew
        held = self.in_flight.photo_ids() + self.waiting.photo_ids()
        held += [result.photo_id for result in self.results]
        self.owner.ledger.renew(held, self.owner.clock(), downloading=len(self.in_flight))

    def _flush(self) -> None:
        self.last_flush = time.monotonic()
        self._tell_concurrency()
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

    def _tell_concurrency(self) -> None:
        """Hand the gate's target on when it changed (the ledger records it for status)."""
        owner = self.owner
        if owner.gate is not None and owner.gate.target != owner.told:
            owner.told = owner.gate.target
            owner.on_concurrency(owner.told)


def failure_kind(error: str) -> str:
    """What a summary counts failures by: the message up to its first detail, URLs left out."""
    return _URL.sub("<url>", error).split(":")[0].strip()
