"""Page walking (§3.4): stop on the last page, an empty page, or a cap; never loop forever."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from syncer.api.models import Pagination

log = logging.getLogger(__name__)

MAX_PAGES = 100_000
"""Absolute bound on the pages one walk fetches, whatever the server says."""

PAGE_MARGIN = 3
"""Pages allowed past the first answer's ``totalPages`` (events grow while they are walked)."""

WIDEN_WAIT = 0.005
"""Seconds a page may spend waiting (its wall time less its thread's CPU time): after two such
pages in a row the walk starts requesting pages ahead. Against a fast, near server, threads
cost more than they save; one slow page can be a hiccup. The wait also counts the time the
thread waited for the GIL: while a sync records pages, a page from a local server that
answers in about 1 ms "waits" up to about 3.5 ms (Python hands the GIL over every 5 ms)."""


class Paged(Protocol):
    """One page of any listing."""

    @property
    def pagination(self) -> Pagination: ...

    @property
    def item_count(self) -> int: ...


P = TypeVar("P", bound=Paged)


def page_size_for(asked: int, maximum: int) -> int:
    """The ``page_size`` to send: ``asked`` clamped to the endpoint ``maximum``."""
    if asked < 1:
        raise ValueError(f"page_size must be at least 1, got {asked}")
    return min(asked, maximum)


def walk(
    fetch: Callable[[int], P],
    *,
    start_page: int = 1,
    label: str = "",
    ahead: int = 1,
    widen_wait: float = WIDEN_WAIT,
) -> Iterator[P]:
    """Yield ``fetch(page)`` for ``start_page``, ``start_page + 1``, ... while pages remain.

    Stops after a page that says ``hasNextPage: false``, holds no items, or reports
    ``currentPage: 0`` ("there is no page"); also after page ``totalPages + 3`` of the first
    answer, and after :data:`MAX_PAGES` pages in any case.

    With ``ahead`` > 1, up to that many of the pages the first answer announced are requested
    at once (``fetch`` must be thread-safe), once two pages in a row waited ``widen_wait``
    seconds or more on the server; until then pages are fetched one at a time in the caller's
    thread. Pages are still yielded, and judged, in order: the walk yields exactly what the
    one-at-a-time walk would; an error surfaces at its page, and pages requested past the end
    are dropped.
    """
    if start_page < 1:
        raise ValueError(f"start_page must be at least 1, got {start_page}")
    if ahead < 1:
        raise ValueError(f"ahead must be at least 1, got {ahead}")
    return _walk(_Ahead(fetch, ahead, widen_wait), start_page, label)


def _walk(get: _Ahead[P], start_page: int, label: str) -> Iterator[P]:
    page = start_page
    last_allowed: int | None = None
    with get:
        for fetched in range(1, MAX_PAGES + 1):
            result = get(page)
            yield result
            info = result.pagination
            if last_allowed is None:
                last_allowed = _last_allowed(info, start_page)
                get.announced = min(info.total_pages, last_allowed, start_page + MAX_PAGES - 1)
            if _is_last(result, info):
                return
            if page >= last_allowed or fetched >= MAX_PAGES:
                log.warning(
                    "%s: stopped after page %d although the server reports more pages",
                    label,
                    page,
                )
                return
            page += 1


class _Ahead(Generic[P]):
    """``get(page)``: the page, with up to ``ahead`` of the announced pages requested at once.

    The pool starts once two pages in a row fetched in the caller's thread each waited
    ``widen_wait`` seconds or more. Pages past ``announced`` (0 until the first answer sets it)
    are fetched one at a time; requests still pending when the walk ends are cancelled or
    dropped.
    """

    def __init__(self, fetch: Callable[[int], P], ahead: int, widen_wait: float) -> None:
        self._fetch = fetch
        self._ahead = ahead
        self._widen_wait = widen_wait
        self._pool: ThreadPoolExecutor | None = None
        self._slow = 0  # pages in a row that waited widen_wait or more
        self._pending: deque[tuple[int, Future[P]]] = deque()
        self._next = 0
        self.announced = 0

    def __call__(self, page: int) -> P:
        if self._pool is not None:
            self._next = max(self._next, page)
            while len(self._pending) < self._ahead and self._next <= self.announced:
                self._pending.append((self._next, self._pool.submit(self._fetch, self._next)))
                self._next += 1
        if self._pending and self._pending[0][0] == page:
            return self._pending.popleft()[1].result()
        return self._fetch_here(page)

    def _fetch_here(self, page: int) -> P:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = self._fetch(page)
        waited = (time.perf_counter() - wall) - (time.thread_time() - cpu)
        self._slow = self._slow + 1 if waited >= self._widen_wait else 0
        if self._pool is None and self._ahead > 1 and self._slow >= 2:
            self._pool = ThreadPoolExecutor(self._ahead, thread_name_prefix="pages")
        return result

    def __enter__(self) -> _Ahead[P]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for _, future in self._pending:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _is_last(result: Paged, info: Pagination) -> bool:
    return not info.has_next_page or result.item_count == 0 or info.current_page == 0


def _last_allowed(first: Pagination, start_page: int) -> int:
    if first.total_pages > 0:
        return first.total_pages + PAGE_MARGIN
    return start_page + MAX_PAGES
