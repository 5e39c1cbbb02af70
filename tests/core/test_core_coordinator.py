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


def run(ledger: Ledger, root: Path, workers: FullAfter) -> None:
    record = ledger.event(EVENT) or EventRecord(EVENT, None, None, None, None)
    placer = Placer(root, Template.parse(DEFAULT_TEMPLATE), NameRules(), record)
    coordinator = Coordinator(
        cast(ApiClient, SignEverything()),
        ledger,
        lambda: workers,
        tuning=Tuning(concurrency=Span.pinned(4), presign_batch=4),
        stop=threading.Event(),
        clock=lambda: NOW,
    )
    coordinator.run(placer, EventReport(EVENT))


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
