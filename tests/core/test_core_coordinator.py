"""The coordinator's bookkeeping when downloads finish together and one of them fails hard.

A real ledger file and a real root; the API and the download workers are stand-ins whose
futures are already finished when handed over, so several arrive in one batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from syncer.api import ApiClient, PresignedUrl, PresignResult
from syncer.concurrency import Span
from syncer.coordinator import Coordinator, Tuning, failure_kind
from syncer.downloader import Job, Stored
from syncer.errors import DiskFullError
from syncer.layout import DEFAULT_TEMPLATE, NameRules, Template
from syncer.ledger import EventRecord, Ledger, SeenImage
from syncer.placement import Placer
from syncer.report import EventReport
from syncer.workers import Kind

EVENT = 456
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class SignEverything:
    def presign(self, event_id: int, image_ids: Sequence[str]) -> PresignResult:
        return PresignResult(urls={i: PresignedUrl(url=f"http://storage/{i}") for i in image_ids})


class FullAfter:
    """Workers whose first ``fits`` jobs are stored (bytes written) and the rest hit a full disk.

    Every future is finished before the coordinator sees it.
    """

    def __init__(self, fits: int) -> None:
        self.fits = fits
        self.jobs = 0

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        future: Future[Stored] = Future()
        self.jobs += 1
        if self.jobs <= self.fits:
            job.targets[0].parent.mkdir(parents=True, exist_ok=True)
            job.targets[0].write_bytes(b"\xff\xd8\xff photo \xff\xd9")
            future.set_result(Stored(job, 13, "0" * 64, "image/jpeg"))
        else:
            future.set_exception(DiskFullError("the disk is full"))
        return future

    def close(self) -> None:
        pass


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        state = opened.begin_walk(EVENT, NOW)
        ids = [SeenImage(f"{n:032x}", None, None) for n in range(4)]
        opened.record_page(EVENT, state.walk_no, 1, ids, NOW)
        opened.finish_walk(EVENT, state.walk_no, NOW)
        yield opened


class FailuresFirst(FullAfter):
    """Like FullAfter, but a batch's futures finish in reverse: the failures come first."""

    def __init__(self, fits: int) -> None:
        super().__init__(fits)
        self.held: list[tuple[Future[Stored], Job]] = []

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        future: Future[Stored] = Future()
        self.held.append((future, job))
        if len(self.held) == 4:  # the whole batch is submitted: finish it, failures first
            for held, held_job in reversed(self.held):
                done = super().submit(kind, held_job)
                exc = done.exception()
                if exc is None:
                    held.set_result(done.result())
                else:
                    held.set_exception(exc)
        return future


def run(
    ledger: Ledger,
    root: Path,
    workers: FullAfter,
    *,
    feed: PagedFeed | None = None,
    presign_batch: int = 4,
) -> EventReport:
    record = ledger.event(EVENT) or EventRecord(EVENT, None, None, None, None)
    placer = Placer(root, Template.parse(DEFAULT_TEMPLATE), NameRules(), record)
    coordinator = Coordinator(
        cast(ApiClient, SignEverything()),
        ledger,
        lambda: workers,
        tuning=Tuning(concurrency=Span.pinned(4), presign_batch=presign_batch),
        stop=threading.Event(),
        clock=lambda: NOW,
    )
    report = EventReport(EVENT)
    coordinator.run(placer, report, feed=feed)
    return report


def test_photos_stored_beside_a_full_disk_failure_are_all_recorded(
    ledger: Ledger, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    with pytest.raises(DiskFullError):
        run(ledger, root, FailuresFirst(fits=2))
    on_disk = sorted(p.stem for p in root.rglob("*.jpg"))
    assert len(on_disk) == 2
    assert ledger.counts_by_state()["downloaded"] == 2
    due = [p.image_id for p in ledger.due(EVENT, NOW, limit=10)]
    assert sorted(due) == sorted({f"{n:032x}" for n in range(4)} - set(on_disk))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            "storage answered HTTP 503 for http://h:8/s/1.jpg?sig=x: <?xml ...>",
            "storage answered HTTP 503 for <url>",
        ),
        (
            "link refused: storage refused https://h/s/1.jpg (HTTP 403): AccessDenied",
            "link refused",
        ),
        ("fetching http://h:1/a failed: timed out", "fetching <url> failed"),
        ("no download link: Failed to generate URL", "no download link"),
    ],
)
def test_failures_are_counted_by_kind_without_their_urls(error: str, kind: str) -> None:
    assert failure_kind(error) == kind


class SlowSigner:
    """Presigns after ``delay`` seconds; notes the threads and the requests under way."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.threads: set[str] = set()
        self.at_once = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def presign(self, event_id: int, image_ids: Sequence[str]) -> PresignResult:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        time.sleep(self.delay)
        with self._lock:
            self.at_once -= 1
        return SignEverything().presign(event_id, image_ids)


def test_links_are_asked_for_ahead_in_background_threads(ledger: Ledger, tmp_path: Path) -> None:
    signer = SlowSigner(delay=0.2)
    record = ledger.event(EVENT) or EventRecord(EVENT, None, None, None, None)
    placer = Placer(tmp_path / "photos", Template.parse(DEFAULT_TEMPLATE), NameRules(), record)
    coordinator = Coordinator(
        cast(ApiClient, signer),
        ledger,
        lambda: FullAfter(fits=4),
        tuning=Tuning(concurrency=Span.pinned(1), presign_batch=1, presign_ahead=2),
        stop=threading.Event(),
        clock=lambda: NOW,
    )
    report = EventReport(EVENT)
    coordinator.run(placer, report)
    assert report.downloaded == 4
    assert signer.most_at_once == 2  # the next batch is asked for while one is under way
    assert all(name.startswith("presign") for name in signer.threads)  # never the ledger's thread


class Held(FullAfter):
    """Workers whose downloads finish only once ``release`` is set (they run meanwhile)."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__(fits=1_000)
        self.release = release
        self.ids: list[str] = []
        self._lock = threading.Lock()

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        future: Future[Stored] = Future()
        with self._lock:
            self.ids.append(job.image_id)

        def finish() -> None:
            self.release.wait(10)
            done = FullAfter.submit(self, kind, job)
            future.set_result(done.result())

        threading.Thread(target=finish, daemon=True).start()
        return future


class PagedFeed:
    """A walk stand-in: each pull records one more page of two new photos, ``pages`` in all."""

    def __init__(self, ledger: Ledger, pages: int, *, fail_at: int | None = None) -> None:
        self.ledger = ledger
        self.pages = pages
        self.fail_at = fail_at
        self.recorded = 0
        self.walk = ledger.begin_walk(EVENT, NOW)
        self.on_last_page: list[threading.Event] = []
        self.submitted_while_walking = 0

    @property
    def progress(self) -> int:
        return self.recorded * 2

    def notify(self, wake: object) -> None:
        pass

    def pull(self, timeout: float = 0.0) -> bool:
        if self.recorded == self.fail_at:
            raise RuntimeError("the walk failed")
        if self.recorded == self.pages:
            self.ledger.finish_walk(EVENT, self.walk.walk_no, NOW)
            for event in self.on_last_page:
                event.set()
            return False
        page = self.recorded + 2  # the fixture recorded page 1
        ids = [SeenImage(f"{page:02d}{n:030x}", None, None) for n in range(2)]
        self.ledger.record_page(EVENT, self.walk.walk_no, page, ids, NOW)
        self.recorded += 1
        return True


def feed_run(ledger: Ledger, root: Path, workers: FullAfter, feed: PagedFeed) -> EventReport:
    return run(ledger, root, workers, feed=feed, presign_batch=2)


def test_downloads_start_while_the_walk_pages_and_take_each_photo_once(
    ledger: Ledger, tmp_path: Path
) -> None:
    release = threading.Event()
    workers = Held(release)
    feed = PagedFeed(ledger, pages=5)
    feed.on_last_page.append(release)  # nothing finishes before the walk is over
    report = feed_run(ledger, tmp_path / "photos", workers, feed)
    assert report.downloaded == 4 + 10
    assert sorted(workers.ids) == sorted(set(workers.ids))  # none taken twice
    assert ledger.counts_by_state()["downloaded"] == 14
    assert ledger.due(EVENT, NOW, limit=100) == []


def test_downloads_begin_before_the_walk_ends(ledger: Ledger, tmp_path: Path) -> None:
    started: list[int] = []
    feed = PagedFeed(ledger, pages=50)

    class Noting(FullAfter):
        def submit(self, kind: Kind, job: Job) -> Future[Stored]:
            started.append(feed.recorded)
            return super().submit(kind, job)

    report = feed_run(ledger, tmp_path / "photos", Noting(fits=1_000), feed)
    assert report.downloaded == 4 + 100
    assert min(started) < 50  # the first downloads went out with most pages still to come


def test_a_photo_listed_again_below_the_walked_ids_is_taken_after_the_walk(
    ledger: Ledger, tmp_path: Path
) -> None:
    removed = ledger.due(EVENT, NOW, limit=1)[0]
    ledger.mark_removed(removed.photo_id, ())
    feed = PagedFeed(ledger, pages=2)
    original_pull = feed.pull

    def pull(timeout: float = 0.0) -> bool:
        alive = original_pull(timeout)
        if not alive:  # the walk's last page lists the removed photo again: pending once more
            ledger.record_page(
                EVENT, feed.walk.walk_no, 9, [SeenImage(removed.image_id, None, None)], NOW
            )
        return alive

    feed.pull = pull  # type: ignore[method-assign]
    report = feed_run(ledger, tmp_path / "photos", FullAfter(fits=1_000), feed)
    assert report.downloaded == 3 + 4 + 1
    assert ledger.due(EVENT, NOW, limit=100) == []


def test_a_failed_walk_ends_the_run_after_the_downloads_under_way(
    ledger: Ledger, tmp_path: Path
) -> None:
    feed = PagedFeed(ledger, pages=5, fail_at=2)
    with pytest.raises(RuntimeError, match="the walk failed"):
        feed_run(ledger, tmp_path / "photos", FullAfter(fits=1_000), feed)
    downloaded = ledger.counts_by_state()["downloaded"]
    assert downloaded == len(list((tmp_path / "photos").rglob("*.jpg")))
    assert downloaded >= 4  # what was under way was recorded, not dropped
