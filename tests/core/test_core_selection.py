"""Selection-only runs: the coordinator's scope, and links from a search's original-photos method.

A real ledger file and a real root; the API and the download workers are stand-ins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from syncer.api import ApiClient, OriginalsMethod, PresignedUrl, PresignResult
from syncer.concurrency import Span
from syncer.coordinator import Coordinator, Scope, Tuning
from syncer.downloader import Job, Stored
from syncer.errors import BadRequestError
from syncer.layout import DEFAULT_TEMPLATE, NameRules, Template
from syncer.ledger import EventRecord, Ledger, SeenImage
from syncer.placement import Placer
from syncer.report import EventReport
from syncer.selection import Found, OriginalsLinks, Source
from syncer.workers import Kind

EVENT = 456
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
IDS = [f"{n:032x}" for n in range(6)]


class FakeApi:
    """``links_for`` answers from ``by_identifier`` (file names as 9Pic gives them);
    ``presign`` (by image id) signs whatever it is asked, or refuses ``refused``."""

    def __init__(self, by_identifier: dict[str, list[str]] | None = None) -> None:
        self.by_identifier = by_identifier or {}
        self.paged: list[tuple[OriginalsMethod, str]] = []
        self.presigned: list[list[str]] = []
        self.refused: set[str] = set()
        self.bad: set[str] = set()

    def links_for(
        self, event_id: int, method: OriginalsMethod, identifier: str, expected: Sequence[str]
    ) -> PresignResult:
        self.paged.append((method, identifier))
        if identifier in self.bad:
            raise BadRequestError(f"BIB number {identifier} not found for this event", status=400)
        given = self.by_identifier.get(identifier, [])
        urls = {
            i: PresignedUrl(url=f"http://storage/{method}/{i}", filename=f"{i}.jpg")
            for i in given
            if i in expected
        }
        return PresignResult(urls=urls, missing=[i for i in expected if i not in urls])

    def presign(self, event_id: int, image_ids: Sequence[str]) -> PresignResult:
        self.presigned.append(list(image_ids))
        invalid = [i for i in image_ids if i in self.refused]
        urls = {
            i: PresignedUrl(url=f"http://storage/ids/{i}") for i in image_ids if i not in invalid
        }
        return PresignResult(urls=urls, invalid=invalid)


class StoreAll:
    """Workers that store every job at once (a finished future per job)."""

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        future: Future[Stored] = Future()
        job.targets[0].parent.mkdir(parents=True, exist_ok=True)
        job.targets[0].write_bytes(b"\xff\xd8\xff photo \xff\xd9")
        future.set_result(Stored(job, 13, "0" * 64, "image/jpeg"))
        return future

    def close(self) -> None:
        pass


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """Six photos; the last one was left out of the second complete walk."""
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        for listed in (IDS, IDS[:-1]):
            state = opened.begin_walk(EVENT, NOW)
            images = [SeenImage(i, None, None) for i in listed]
            opened.record_page(EVENT, state.walk_no, 1, images, NOW)
            opened.finish_walk(EVENT, state.walk_no, NOW)
        yield opened


def run(ledger: Ledger, root: Path, api: FakeApi, scope: Scope) -> EventReport:
    record = ledger.event(EVENT) or EventRecord(EVENT, None, None, None, None)
    placer = Placer(root, Template.parse(DEFAULT_TEMPLATE), NameRules(), record)
    coordinator = Coordinator(
        cast(ApiClient, api),
        ledger,
        StoreAll,
        tuning=Tuning(concurrency=Span.pinned(2), presign_batch=2),
        stop=threading.Event(),
        clock=lambda: NOW,
    )
    report = EventReport(EVENT)
    coordinator.run(placer, report, scope)
    return report


def links(api: FakeApi, sources: dict[str, list[str]], clock: list[float]) -> OriginalsLinks:
    found = [Source("bib", Found(bib, frozenset(ids))) for bib, ids in sources.items()]
    return OriginalsLinks(cast(ApiClient, api), found, clock=lambda: clock[0], max_age=600)


def test_a_scope_downloads_only_its_photos_with_its_links(ledger: Ledger, tmp_path: Path) -> None:
    chosen = frozenset(IDS[1:4])
    api = FakeApi({"7": sorted(chosen)})
    scope = Scope(image_ids=chosen, links=links(api, {"7": sorted(chosen)}, [0.0]))
    report = run(ledger, tmp_path / "photos", api, scope)
    assert report.downloaded == 3
    assert {p.stem for p in (tmp_path / "photos").rglob("*.jpg")} == chosen
    assert api.paged == [("bib", "7")]  # one paging served both batches (of 2 and 1)
    assert api.presigned == []
    due = {p.image_id for p in ledger.due(EVENT, NOW, limit=10)}
    assert due == set(IDS) - chosen


@pytest.mark.parametrize(("conclusive", "state"), [(True, "unavailable"), (False, "failed")])
def test_only_a_conclusive_run_marks_a_refused_photo_unavailable(
    ledger: Ledger, tmp_path: Path, conclusive: bool, state: str
) -> None:
    api = FakeApi()
    api.refused = {IDS[-1]}  # 400 for it, and the last complete walk did not list it
    run(
        ledger,
        tmp_path / "photos",
        api,
        Scope(image_ids=frozenset(IDS[-2:]), conclusive=conclusive),
    )
    counts = {name: n for name, n in ledger.counts_by_state().items() if n}
    assert counts == {"downloaded": 1, "pending": 4, state: 1}


def test_each_link_is_handed_out_once_then_paged_again() -> None:
    api = FakeApi({"7": IDS[:3]})
    source = links(api, {"7": IDS[:3]}, [0.0])
    first = source(EVENT, IDS[:2])
    assert set(first.urls) == set(IDS[:2])
    assert set(source(EVENT, IDS[2:3]).urls) == {IDS[2]}  # kept from the first paging
    assert len(api.paged) == 1
    again = source(EVENT, IDS[:1])  # a failed try asks again: a fresh link
    assert set(again.urls) == {IDS[0]}
    assert len(api.paged) == 2


def test_links_older_than_max_age_are_not_handed_out() -> None:
    clock = [0.0]
    api = FakeApi({"7": IDS[:2]})
    source = links(api, {"7": IDS[:2]}, clock)
    source(EVENT, IDS[:1])
    clock[0] = 601.0
    assert set(source(EVENT, IDS[1:2]).urls) == {IDS[1]}
    assert len(api.paged) == 2


def test_photos_the_method_does_not_link_are_asked_by_image_id() -> None:
    api = FakeApi({"7": IDS[:1], "8": []})
    api.bad = {"8"}  # e.g. "BIB number 8 not found for this event"
    source = links(api, {"7": IDS[:2], "8": IDS[2:4]}, [0.0])
    answer = source(EVENT, IDS[:4])
    assert set(answer.urls) == set(IDS[:4])
    assert answer.urls[IDS[0]].url.startswith("http://storage/bib/")
    assert api.presigned == [IDS[1:4]]
    assert sorted(api.paged) == [("bib", "7"), ("bib", "8")]


def test_a_photo_of_two_searches_is_paged_through_one() -> None:
    api = FakeApi({"7": IDS[:2], "8": IDS[1:3]})
    source = links(api, {"7": IDS[:2], "8": IDS[1:3]}, [0.0])
    assert set(source(EVENT, IDS[1:2]).urls) == {IDS[1]}
    assert api.paged == [("bib", "7")]
