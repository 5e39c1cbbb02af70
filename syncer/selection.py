"""Selection-only runs: photos chosen by a search instead of a gallery walk.

A :class:`Selector` is one way of choosing photos (BIBs; a person's selfie is another): it
runs its searches, records what they found in the ledger, and names the original-photos
``method`` that links the photos. :func:`selection_scope` turns what the selectors found into
the coordinator's :class:`~syncer.coordinator.Scope`: only those photos, linked by
:class:`OriginalsLinks`, and never conclusive (the run did not see the whole gallery, so it
neither trashes nor marks anything unavailable).

Adding a method: write a class with ``method`` (``"selfie"``), ``gate(details)`` (why the event
cannot be searched, or None) and ``find(event_id)`` returning one :class:`Found` per
identifier (``Found(request_id, image_ids)``), and pass it to the cycle's selectors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from syncer.api import ApiClient, EventDetails, OriginalsMethod, PresignedUrl, PresignResult
from syncer.bib_pass import BibSearchPass
from syncer.coordinator import Scope
from syncer.errors import BadRequestError, NotFoundError
from syncer.ledger import BibPass, Ledger

log = logging.getLogger("syncer.selection")

LINK_MAX_AGE = 600.0
"""Seconds a link paged ahead is kept for a later batch; 9Pic's links live about an hour."""


@dataclass(frozen=True)
class Found:
    """What one search chose: the identifier original-photos is asked with, and the photos."""

    identifier: str
    image_ids: frozenset[str]


class Selector(Protocol):
    """One way of choosing photos without walking the gallery."""

    @property
    def method(self) -> OriginalsMethod: ...

    def gate(self, details: EventDetails) -> str | None:
        """Why this event cannot be searched this way (a feature flag off), or None."""
        ...

    def find(self, event_id: int) -> list[Found]:
        """Run the searches and record what they found in the ledger; one Found each."""
        ...


class BibSelector:
    """``--bibs ... --only``: each BIB's search, its photos linked by the method ``bib``."""

    method: OriginalsMethod = "bib"

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        bibs: Sequence[str],
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
        threads: int,
        on_bibs: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._bibs = tuple(dict.fromkeys(bibs))
        self._clock = clock
        self._stop = stop
        self._threads = threads
        self._on_bibs = on_bibs

    def gate(self, details: EventDetails) -> str | None:
        if details.bib_search:
            return None
        return "BIB search is disabled for this event; its BIBs' photos cannot be selected"

    def find(self, event_id: int) -> list[Found]:
        """Search every BIB afresh (the ledger cannot know photos no walk has listed)."""
        found: dict[str, frozenset[str]] = {}

        def record(batch: Mapping[str, Collection[str]], mark: int, now: datetime) -> int:
            found.update((bib, frozenset(ids)) for bib, ids in batch.items())
            return self._ledger.record_bib_searches(event_id, batch, mark, now)

        mark = self._ledger.bibs_to_search(event_id, self._bibs).mark
        BibSearchPass(
            event_id,
            BibPass(mark=mark, bibs=self._bibs),
            search=partial(self._search, event_id),
            record=record,
            clock=self._clock,
            stop=self._stop,
            threads=self._threads,
            on_bibs=self._on_bibs,
        ).run()
        return [Found(bib, found[bib]) for bib in self._bibs if found.get(bib)]

    def _search(self, event_id: int, bib: str) -> set[str] | None:
        if self._stop.is_set():
            return None
        return {
            image.image_id for page in self._api.bib_pages(event_id, bib) for image in page.items
        }


@dataclass(frozen=True)
class Source:
    """One search's photos and the original-photos request that links them."""

    method: OriginalsMethod
    found: Found


class OriginalsLinks:
    """Presigned URLs for a selection's photos from the original-photos method of its search.

    When a batch needs a photo, the pages of its search's identifier are asked for then, and
    the links of that identifier's other photos are kept for later batches, at most
    ``max_age`` seconds. Each link is handed out once: asking again for a photo (its link
    expired, its download failed) pages again. Links map back to image ids by file name,
    checked against the search's ids; a photo the method gives no link for is asked for
    through ``image_ids``.
    """

    def __init__(
        self,
        api: ApiClient,
        sources: Sequence[Source],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = LINK_MAX_AGE,
    ) -> None:
        self._api = api
        self._clock = clock
        self._max_age = max_age
        self._source: dict[str, Source] = {}
        for source in sources:
            for image_id in source.found.image_ids:
                self._source.setdefault(image_id, source)
        self._kept: dict[str, tuple[float, PresignedUrl]] = {}
        self._lock = threading.Lock()

    def __call__(self, event_id: int, image_ids: list[str]) -> PresignResult:
        with self._lock:
            self._forget_old()
            failed = self._page(event_id, [i for i in image_ids if i not in self._kept])
            urls = {i: self._kept.pop(i)[1] for i in image_ids if i in self._kept}
        rest = [i for i in image_ids if i not in urls and i not in failed]
        if not rest:
            return PresignResult(urls=urls, failed=failed)
        log.debug("%d photos without a link from their search: asked by image id", len(rest))
        other = self._api.presign(event_id, rest)
        return PresignResult(
            urls={**urls, **other.urls},
            failed={**failed, **other.failed},
            missing=other.missing,
            invalid=other.invalid,
        )

    def _forget_old(self) -> None:
        oldest = self._clock() - self._max_age
        for image_id in [i for i, (at, _) in self._kept.items() if at < oldest]:
            del self._kept[image_id]

    def _page(self, event_id: int, needed: list[str]) -> dict[str, str]:
        """Page the searches ``needed`` photos came from; keep their links, return the
        per-photo failures 9Pic named."""
        sources = dict.fromkeys(self._source[i] for i in needed if i in self._source)
        failed: dict[str, str] = {}
        for source in sources:
            method, identifier = source.method, source.found.identifier
            try:
                answer = self._api.links_for(
                    event_id, method, identifier, sorted(source.found.image_ids)
                )
            except (BadRequestError, NotFoundError) as exc:
                log.info(
                    "event %d: no %s links for %r (%s); asked by image id",
                    event_id,
                    method,
                    identifier,
                    exc.message,
                )
                continue
            now = self._clock()
            self._kept.update((i, (now, url)) for i, url in answer.urls.items())
            failed.update((i, error) for i, error in answer.failed.items() if i in needed)
        return failed


def selection_scope(api: ApiClient, picks: Sequence[tuple[Selector, list[Found]]]) -> Scope:
    """The coordinator's scope for what the selectors found: only those photos, linked by
    their searches' methods, and not conclusive."""
    sources = [Source(selector.method, one) for selector, found in picks for one in found]
    chosen = frozenset(i for source in sources for i in source.found.image_ids)
    return Scope(image_ids=chosen, links=OriginalsLinks(api, sources), conclusive=False)
