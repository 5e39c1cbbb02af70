"""Page walking (§3.4): stop on the last page, an empty page, or a cap; never loop forever."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from syncer.api.models import Pagination

log = logging.getLogger(__name__)

MAX_PAGES = 100_000
"""Absolute bound on the pages one walk fetches, whatever the server says."""

PAGE_MARGIN = 3
"""Pages allowed past the first answer's ``totalPages`` (events grow while they are walked)."""


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


def walk(fetch: Callable[[int], P], *, start_page: int = 1, label: str = "") -> Iterator[P]:
    """Yield ``fetch(page)`` for ``start_page``, ``start_page + 1``, ... while pages remain.

    Stops after a page that says ``hasNextPage: false``, holds no items, or reports
    ``currentPage: 0`` ("there is no page"); also after page ``totalPages + 3`` of the first
    answer, and after :data:`MAX_PAGES` pages in any case.
    """
    if start_page < 1:
        raise ValueError(f"start_page must be at least 1, got {start_page}")
    return _walk(fetch, start_page, label)


def _walk(fetch: Callable[[int], P], start_page: int, label: str) -> Iterator[P]:
    page = start_page
    last_allowed: int | None = None
    for fetched in range(1, MAX_PAGES + 1):
        result = fetch(page)
        yield result
        info = result.pagination
        if last_allowed is None:
            last_allowed = _last_allowed(info, start_page)
        if _is_last(result, info):
            return
        if page >= last_allowed or fetched >= MAX_PAGES:
            log.warning(
                "%s: stopped after page %d although the server reports more pages", label, page
            )
            return
        page += 1


def _is_last(result: Paged, info: Pagination) -> bool:
    return not info.has_next_page or result.item_count == 0 or info.current_page == 0


def _last_allowed(first: Pagination, start_page: int) -> int:
    if first.total_pages > 0:
        return first.total_pages + PAGE_MARGIN
    return start_page + MAX_PAGES
