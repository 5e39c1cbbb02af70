"""Walking with pages requested ahead: the same pages, in the same order, as one at a time.

A synthetic listing stands in for the server so every stop rule can be driven directly; the
fetches run in real threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import cast

import pytest

from syncer.api import paging
from syncer.api.models import Pagination


@dataclass(frozen=True)
class FakePage:
    number: int
    pagination: Pagination
    item_count: int


@dataclass
class Clock:
    """Stands in for ``time`` in the walk: wall and thread-CPU seconds that fetches advance."""

    wall: float = 0.0
    cpu: float = 0.0

    def advance(self, *, waiting: float, working: float) -> None:
        self.wall += waiting + working
        self.cpu += working

    def perf_counter(self) -> float:
        return self.wall

    def thread_time(self) -> float:
        return self.cpu


@dataclass
class Listing:
    """``pages`` pages of items; the server claims ``claimed`` pages and may lie about more."""

    pages: int
    claimed: int | None = None
    always_next: bool = False
    empty_from: int | None = None  # pages from here on hold no items
    zero_from: int | None = None  # pages from here on say currentPage 0
    fail_at: int | None = None
    delay: float = 0.0
    clock: Clock | None = None  # set: fetches advance this clock instead of sleeping
    waits: float = 0.0  # seconds each fetch waits on the (fake) server
    busy: float = 0.0  # seconds of (fake) CPU each fetch burns: a slow client, not a slow server
    hold_from: int | None = None  # pages from here on wait until ``release`` is set
    release: threading.Event = field(default_factory=threading.Event, init=False)
    requested: list[int] = field(default_factory=list, init=False)
    threads: set[int] = field(default_factory=set, init=False)
    in_flight: int = field(default=0, init=False)
    most_in_flight: int = field(default=0, init=False)  # fetches running at the same time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def fetch(self, page: int) -> FakePage:
        with self._lock:
            self.requested.append(page)
            self.threads.add(threading.get_ident())
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._wait(page)
        finally:
            with self._lock:
                self.in_flight -= 1
        if page == self.fail_at:
            raise RuntimeError(f"page {page} failed")
        empty = self.empty_from is not None and page >= self.empty_from
        items = 0 if empty or page > self.pages else 10
        claimed = self.pages if self.claimed is None else self.claimed
        info = Pagination.model_validate(
            {
                "currentPage": 0 if self.zero_from is not None and page >= self.zero_from else page,
                "totalPages": claimed,
                "hasNextPage": self.always_next or page < claimed,
            }
        )
        return FakePage(page, info, items)

    def _wait(self, page: int) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.hold_from is not None and page >= self.hold_from:
            assert self.release.wait(10), f"page {page} was never released"
        if self.clock is not None:
            self.clock.advance(waiting=self.waits, working=self.busy)


@dataclass
class SlowFrom(Listing):
    """Answers at once until page ``slow_from``, which (like every later page) waits."""

    slow_from: int = 1
    here: list[int] = field(default_factory=list, init=False)

    def fetch(self, page: int) -> FakePage:
        if threading.current_thread() is threading.main_thread():
            self.here.append(page)
        if page >= self.slow_from and self.clock is not None:
            self.clock.advance(waiting=paging.WIDEN_WAIT, working=0.0)
        return super().fetch(page)


@dataclass
class SlowOnly(Listing):
    """Only the pages in ``slow`` wait."""

    slow: set[int] = field(default_factory=set)

    def fetch(self, page: int) -> FakePage:
        if page in self.slow and self.clock is not None:
            self.clock.advance(waiting=paging.WIDEN_WAIT, working=0.0)
        return super().fetch(page)


def numbers(
    fetch: Callable[[int], FakePage], *, start: int = 1, ahead: int, widen_wait: float = 0.0
) -> list[int]:
    """The page numbers walked; ``widen_wait=0``: pages are requested ahead from page 2 on."""
    walk = paging.walk(fetch, start_page=start, ahead=ahead, widen_wait=widen_wait)
    return [page.number for page in walk]


SCENARIOS = {
    "plain": Listing(pages=9),
    "one page": Listing(pages=1),
    "empty event": Listing(pages=0, claimed=0),
    "grows past the first total": Listing(pages=12, claimed=9, always_next=True),
    "always claims more": Listing(pages=5, claimed=5, always_next=True, empty_from=99),
    "empty page ends it": Listing(pages=9, empty_from=4, always_next=True),
    "current page zero ends it": Listing(pages=9, zero_from=6, always_next=True),
    "no total at all": Listing(pages=6, claimed=0, always_next=True, empty_from=7),
}


@pytest.mark.parametrize("ahead", [2, 4, 16])
@pytest.mark.parametrize("start", [1, 3])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_same_pages_as_one_at_a_time(name: str, start: int, ahead: int) -> None:
    listing = SCENARIOS[name]
    one, many = replace(listing), replace(listing)
    expected = numbers(one.fetch, start=start, ahead=1)
    assert numbers(many.fetch, start=start, ahead=ahead) == expected
    assert expected  # every scenario yields at least its first page


def test_pages_past_the_end_are_dropped_and_errors_there_never_surface() -> None:
    listing = Listing(pages=3, claimed=6, empty_from=4, fail_at=5, always_next=True, delay=0.05)
    assert numbers(listing.fetch, ahead=4) == [1, 2, 3, 4]
    assert 5 in listing.requested  # asked for ahead, failed, and dropped with the walk's end


def test_an_error_surfaces_at_its_page_after_the_pages_before_it() -> None:
    listing = Listing(pages=8, fail_at=4)
    seen: list[int] = []

    def consume() -> None:
        seen.extend(page.number for page in paging.walk(listing.fetch, ahead=4, widen_wait=0))

    with pytest.raises(RuntimeError, match="page 4 failed"):
        consume()
    assert seen == [1, 2, 3]


def test_pages_are_requested_concurrently() -> None:
    listing = Listing(pages=9, delay=0.1)
    assert numbers(listing.fetch, ahead=4, widen_wait=paging.WIDEN_WAIT) == list(range(1, 10))
    assert listing.most_in_flight >= 2  # one at a time: 1, and 0.9 s
    assert len(listing.threads) > 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(paging, "time", fake)
    return fake


def test_a_fast_server_is_walked_in_the_callers_thread(clock: Clock) -> None:
    listing = Listing(pages=30, clock=clock, waits=paging.WIDEN_WAIT / 2, busy=0.001)
    assert numbers(listing.fetch, ahead=4, widen_wait=paging.WIDEN_WAIT) == list(range(1, 31))
    assert listing.threads == {threading.get_ident()}
    assert listing.requested == list(range(1, 31))  # nothing requested past the end


def test_a_slow_client_is_not_mistaken_for_a_slow_server(clock: Clock) -> None:
    listing = Listing(pages=6, clock=clock, busy=paging.WIDEN_WAIT * 10)  # all CPU, no waiting
    assert numbers(listing.fetch, ahead=4, widen_wait=paging.WIDEN_WAIT) == list(range(1, 7))
    assert listing.threads == {threading.get_ident()}


def test_the_first_page_that_waits_starts_the_read_ahead(clock: Clock) -> None:
    listing = SlowFrom(pages=12, clock=clock, slow_from=4)
    assert numbers(listing.fetch, ahead=4, widen_wait=paging.WIDEN_WAIT) == list(range(1, 13))
    assert listing.here == [1, 2, 3, 4, 5]  # pages 4 and 5 waited: from 6 on, the pool's
    assert len(listing.threads) > 1


def test_one_page_that_waits_is_a_hiccup(clock: Clock) -> None:
    listing = SlowOnly(pages=12, clock=clock, slow={3, 6, 9})
    assert numbers(listing.fetch, ahead=4, widen_wait=paging.WIDEN_WAIT) == list(range(1, 13))
    assert listing.threads == {threading.get_ident()}


def test_stopping_early_returns_at_once() -> None:
    listing = Listing(pages=50, delay=0.05, hold_from=4)  # pages 4 on hang until released
    walk = cast(Generator[FakePage, None, None], paging.walk(listing.fetch, ahead=8))
    assert [next(walk).number for _ in range(3)] == [1, 2, 3]
    closing = threading.Thread(target=walk.close)
    closing.start()
    closing.join(5)
    closed_while_fetching = not closing.is_alive() and listing.in_flight > 0
    listing.release.set()
    closing.join()
    assert closed_while_fetching, "close() waited for the requests still in flight"
    assert max(listing.requested) <= 3 + 8


def test_ahead_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="ahead"):
        paging.walk(Listing(pages=1).fetch, ahead=0)
