"""Selfie searches and clip jobs against the real simulator on 127.0.0.1, with a real ledger."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from harness.api import BASE, EVENT, KEY, ORG, envelope, image
from syncer.api import ApiClient, EventDetails, RetryPolicy, StorageClient
from syncer.clips import ClipFetcher
from syncer.layout import DEFAULT_PEOPLE_TEMPLATE, DEFAULT_TEMPLATE, NameRules, Template
from syncer.ledger import EventRecord, Ledger
from syncer.people import PeopleSearch
from syncer.placement import PeopleFolders, Placer
from syncer.report import PersonReport
from syncer.selfies import Person, read_person
from syncer.sim import Faults, SimConfig, Simulator
from syncer.sim.selfie import selfie_jpeg

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Bench:
    sim: Simulator
    api: ApiClient
    ledger: Ledger
    event_id: int
    root: Path
    stop: threading.Event = field(default_factory=threading.Event)

    def calls(self, route: str) -> int:
        count: int = self.sim.stats.snapshot()["api_by_route"].get(route, 0)
        return count

    def details(self) -> EventDetails:
        return self.api.event_details(self.event_id)

    def person(self, bib: str, name: str = "Ana", *, clips: bool = False) -> Person:
        path = self.root.parent / f"{name}-{bib}.jpg"
        path.write_bytes(selfie_jpeg([bib]))
        return read_person(name, path, clips=clips, max_bytes=1_000_000, where="test")

    def bib(self, rank: int = 0) -> str:
        counts: dict[str, int] = {}
        for photo in self.sim.photos(self.event_id):
            for bib in photo.bibs:
                counts[bib] = counts.get(bib, 0) + 1
        return sorted(counts, key=lambda b: (-counts[b], b))[rank]

    def matched(self, bib: str) -> set[str]:
        return {p.image_id for p in self.sim.photos(self.event_id) if bib in p.bibs}

    def search(
        self, *people: Person, details: EventDetails | None = None, fresh: bool = False
    ) -> list[PersonReport]:
        searches = PeopleSearch(self.api, self.ledger, clock=lambda: T0, stop=self.stop)
        return searches.run(self.event_id, list(people), details or self.details(), fresh=fresh)

    def placer(self) -> Placer:
        record = EventRecord(self.event_id, None, "run", None, None)
        folders = PeopleFolders(
            Template.parse(DEFAULT_PEOPLE_TEMPLATE, people=True),
            self.ledger.people_members(self.event_id),
        )
        return Placer(self.root, Template.parse(DEFAULT_TEMPLATE), NameRules(), record, folders)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    config = SimConfig(events=4, photos_per_event=40, photo_bytes=2_000, clip_bytes=3_000)
    with Simulator(config, faults=Faults(clip_polls=2)) as sim:
        event = next(e for e in sim.events() if e.configured and e.flags.get("video_selfie_search"))
        api = ApiClient(
            base_url=sim.base_url,
            org_id=sim.org_id,
            api_key=SecretStr(sim.api_key),
            retry=RetryPolicy(max_attempts=1),
        )
        root = tmp_path / "root"
        (root / ".tmp").mkdir(parents=True)
        with api, Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
            yield Bench(sim, api, ledger, event.event_id, root)


def test_a_failed_post_is_sent_again_with_the_same_request_id(bench: Bench) -> None:
    person = bench.person(bench.bib())
    details = bench.details()
    bench.sim.faults.error_500_every = 1
    [failed] = bench.search(person, details=details)
    bench.sim.faults.error_500_every = None
    assert failed.error is not None
    assert "selfie search failed" in failed.error
    pending = bench.ledger.person_search(bench.event_id, "Ana", person.sha256)
    assert pending is not None
    assert pending.covered_mark is None
    [done] = bench.search(person)
    assert done.error is None
    assert done.matches == len(bench.matched(bench.bib()))
    finished = bench.ledger.person_search(bench.event_id, "Ana", person.sha256)
    assert finished is not None
    assert finished.request_id == pending.request_id
    # the simulator cached the search under the request_id the retry sent
    cached = next(bench.api.face_pages(bench.event_id, pending.request_id))
    assert {i.image_id for i in cached.images} == bench.matched(bench.bib())


def test_later_pages_come_from_the_cached_result(bench: Bench) -> None:
    bench.sim.add_photos(bench.event_id, 150, bibs=["9999"])
    [report] = bench.search(bench.person("9999"))
    assert report.matches == 150
    assert bench.calls("faces_search") == 1
    assert bench.calls("faces_cached") == 1  # page 2 of 2


def test_no_new_photos_no_new_search_and_matches_only_grow(bench: Bench) -> None:
    first, second = bench.bib(0), bench.bib(1)
    bench.search(bench.person(first))
    [again] = bench.search(bench.person(first))
    assert not again.searched
    assert bench.calls("faces_search") == 1
    [changed] = bench.search(bench.person(second))  # a new selfie: a new search
    assert changed.searched
    assert bench.calls("faces_search") == 2
    members = bench.ledger.people_members(bench.event_id)
    assert {i for i, people in members.items() if "Ana" in people} == (
        bench.matched(first) | bench.matched(second)
    )


def test_disabled_selfie_search_searches_nothing(bench: Bench) -> None:
    bench.sim.set_flag(bench.event_id, "selfie_search", False)
    assert bench.search(bench.person(bench.bib())) == []
    assert bench.calls("faces_search") == 0


@dataclass
class FakeWait:
    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def _clips(bench: Bench, storage: StorageClient, wait: FakeWait, deadline: float) -> ClipFetcher:
    return ClipFetcher(
        bench.api,
        bench.ledger,
        storage,
        bench.root / ".tmp",
        deadline=deadline,
        clock=lambda: T0,
        stop=bench.stop,
        fsync=False,
        monotonic=lambda: wait.now,
        wait=wait.wait,
    )


def test_a_clip_job_past_its_deadline_is_polled_again_next_run(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    bench.sim.faults.clip_never_finishes = True
    wait = FakeWait()
    with StorageClient(timeout=10) as storage:
        report = PersonReport("Ana")
        _clips(bench, storage, wait, 60).run(bench.placer(), person, bench.details(), report)
        assert report.error is not None
        assert "people.clip_deadline" in report.error
        assert wait.waits == [2, 4, 8, 16, 30]  # 2 s doubling, capped at 30 s, within 60 s
        job = bench.ledger.person_search(bench.event_id, "Ana", person.sha256)
        assert job is not None
        assert job.clip_state == "running"
        assert job.clip_request_id
        bench.sim.faults.clip_never_finishes = False
        report = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 60).run(bench.placer(), person, bench.details(), report)
    assert report.error is None
    assert report.clips > 0
    assert bench.calls("clip_start") == 1  # the same job, polled again
    folder = bench.root / bench.placer().person_path("Ana", "x").rsplit("/", 1)[0] / "clips"
    files = sorted(folder.iterdir())
    assert len(files) == report.clips
    assert all(f.read_bytes()[4:8] == b"ftyp" for f in files)
    assert not list((bench.root / ".tmp").iterdir())


def test_a_failed_job_starts_a_new_one_next_run(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    bench.sim.faults.clip_fail = True
    with StorageClient(timeout=10) as storage:
        report = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 60).run(bench.placer(), person, bench.details(), report)
        assert report.error is not None
        assert "failed" in report.error
        bench.sim.faults.clip_fail = False
        again = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 60).run(bench.placer(), person, bench.details(), again)
        assert again.error is None
        assert again.clips > 0
        assert bench.calls("clip_start") == 2
        served = dict(bench.sim.stats.clip_downloads)
        third = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 60).run(bench.placer(), person, bench.details(), third)
    assert third.clips == 0
    assert dict(bench.sim.stats.clip_downloads) == served
    assert bench.calls("clip_start") == 2


def test_a_clip_deleted_by_hand_comes_from_the_same_job_or_a_new_one(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    folder = bench.root / bench.placer().person_path("Ana", "x").rsplit("/", 1)[0] / "clips"

    def run(*, check_files: bool = True) -> PersonReport:
        report = PersonReport("Ana")
        with StorageClient(timeout=10) as storage:
            fetcher = _clips(bench, storage, FakeWait(), 60)
            fetcher.run(bench.placer(), person, bench.details(), report, check_files=check_files)
        assert report.error is None
        return report

    stored = run().clips
    assert stored >= 1
    victim = sorted(folder.iterdir())[0]
    good = victim.read_bytes()
    victim.unlink()
    assert run(check_files=False).clips == 0  # not looked for: nothing fetched
    assert run().clips == 1
    assert victim.read_bytes() == good
    assert bench.calls("clip_start") == 1  # the same finished job gave it again
    victim.unlink()
    bench.sim.forget_clip_jobs()
    assert run().clips == 1
    assert victim.read_bytes() == good
    assert bench.calls("clip_start") == 2  # 9Pic forgot the job: a new one from the search
    assert run().clips == 0
    assert len(list(folder.iterdir())) == stored


def test_a_running_job_9pic_forgot_is_started_again(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    bench.sim.faults.clip_never_finishes = True
    with StorageClient(timeout=10) as storage:
        report = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 10).run(bench.placer(), person, bench.details(), report)
        assert report.error is not None  # past its deadline: polled again next run
        bench.sim.faults.clip_never_finishes = False
        bench.sim.forget_clip_jobs()
        again = PersonReport("Ana")
        fetcher = _clips(bench, storage, FakeWait(), 60)
        assert fetcher.run(bench.placer(), person, bench.details(), again) is False
    assert again.error is None
    assert again.clips > 0
    assert bench.calls("clip_start") == 2


def test_a_search_9pic_forgot_is_said_not_failed(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    bench.sim.forget_face_searches()
    with StorageClient(timeout=10) as storage:
        report = PersonReport("Ana")
        fetcher = _clips(bench, storage, FakeWait(), 60)
        assert fetcher.run(bench.placer(), person, bench.details(), report) is True
        assert report.error is None  # the caller searches again and calls once more
        [searched] = bench.search(person, fresh=True)
        assert searched.error is None
        assert fetcher.run(bench.placer(), person, bench.details(), report) is False
    assert report.error is None
    assert report.clips > 0


def test_a_clip_that_404s_once_is_fetched_on_the_next_try(bench: Bench) -> None:
    person = bench.person(bench.bib(), clips=True)
    bench.search(person)
    bench.sim.faults.clip_404_once = True
    with StorageClient(timeout=10) as storage:
        report = PersonReport("Ana")
        _clips(bench, storage, FakeWait(), 60).run(bench.placer(), person, bench.details(), report)
    assert report.error is None
    assert report.clips > 0
    assert bench.sim.stats.storage_requests_with_api_key == 0


def test_a_refused_request_id_is_left_to_9pic(tmp_path: Path) -> None:
    """A server that refuses client-chosen request_ids (undocumented) still gets a search."""
    sent: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(dict(request.url.params))
        if "request_id" in request.url.params:
            return envelope(None, status=400, message="unknown request_id")
        data = {"request_id": "srv-1", "images": [image("p1"), image("p2")], "pagination": {}}
        return envelope(data)

    api = ApiClient(
        base_url=BASE,
        org_id=ORG,
        api_key=SecretStr(KEY),
        http=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    selfie = tmp_path / "me.jpg"
    selfie.write_bytes(selfie_jpeg())
    person = read_person("Me", selfie, clips=False, max_bytes=100_000, where="test")
    details = EventDetails.model_validate({"event_id": EVENT, "selfie_search": True})
    with api, Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        searches = PeopleSearch(api, ledger, clock=lambda: T0, stop=threading.Event())
        [report] = searches.run(EVENT, [person], details)
        search = ledger.person_search(EVENT, "Me", person.sha256)
    assert report.error is None
    assert report.matches == 2
    assert [("request_id" in params) for params in sent] == [True, False]
    assert search is not None
    assert search.request_id == "srv-1"
