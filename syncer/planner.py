"""Walk an event's gallery pages and BIB searches into the ledger. The plan is ledger rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial

from syncer.api import ApiClient, EventDetails, ImageItem, Page
from syncer.bib_pass import BibSearchPass
from syncer.errors import UnprocessableError, WindowIgnoredError
from syncer.ledger import BibPass, EventRecord, Ledger, WalkMemo
from syncer.prefetch import Prefetcher
from syncer.windows import Window, most_in_window

log = logging.getLogger("syncer.planner")

# A window's listing may exceed the timeline's counts by this much before syncer concludes that
# 9Pic ignored the window: photos arriving between the two calls, or counts a cache serves late.
WINDOW_SLACK = 0.1  # of the counted photos
WINDOW_SLACK_MIN = 10  # photos

Clock = Callable[[], datetime]
TIMELINE_PAGE_SIZES = (100, 32)

PAGES_AHEAD = 8  # gallery pages fetched ahead of the ledger
PAGES_PER_COMMIT = 5  # pages that arrived together are recorded in one transaction


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WalkResult:
    pages: int = 0
    seen: int = 0
    new: int = 0
    complete: bool = False
    missing: int = 0


def event_record(event_id: int, details: EventDetails) -> EventRecord:
    """What the ledger keeps of an event's details."""
    return EventRecord(
        event_id=event_id,
        name=details.event_name,
        slug=details.event_slug,
        date=details.event_date,
        status=details.status,
    )


class Planner:
    """Records what exists upstream; never decides that a photo is gone from one walk."""

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        *,
        stop: threading.Event,
        clock: Clock = utcnow,
        on_page: Callable[[int, int, int], None] | None = None,  # event, photos, pages in all
        on_bibs: Callable[[int, int, int], None] | None = None,
        api_threads: int = 4,  # requests in flight: gallery pages ahead, BIB searches at once
    ) -> None:
        self.api = api
        self._ledger = ledger
        self._stop = stop
        self._clock = clock
        self._on_page = on_page
        self._on_bibs = on_bibs  # (event_id, searches done, searches in this pass)
        self.api_threads = api_threads

    def refresh_event(self, event_id: int) -> EventDetails:
        """Fetch and store the event's metadata (404 -> NotFoundError, 403 -> AuthError)."""
        details = self.api.event_details(event_id)
        self._ledger.upsert_event(event_record(event_id, details))
        return details

    def walk(self, event_id: int) -> WalkResult:
        """Page through All Photos, committing as pages arrive; resumes an interrupted walk."""
        with self.gallery_walk(event_id) as walk:
            while walk.pull(timeout=None):
                pass
        return walk.result

    def gallery_walk(self, event_id: int) -> GalleryWalk:
        """A walk of All Photos to record a step at a time, between other work (downloads)."""
        return GalleryWalk(
            self.api,
            self._ledger,
            event_id,
            clock=self._clock,
            stop=self._stop,
            on_page=self._on_page,
            ahead=self.api_threads,
        )

    def walk_window(self, event_id: int, window: Window) -> tuple[WalkResult, frozenset[str]]:
        """Page through the photos captured in ``window`` (Timeline images), recording each
        page; return the walk's counts (never complete) and the ids it listed."""
        result, listed = WalkResult(), set[str]()
        start, end = window.seconds(self._clock())
        most = self._most_in_window(event_id, start, end)
        for page in self._timeline_pages(event_id, start, end):
            listing = result.seen + len(page.items)  # not ``total``: it may count anything
            if listing > _with_slack(most):  # photos may have arrived: ask the buckets again
                most = self._most_in_window(event_id, start, end)
            if listing > _with_slack(most):
                raise WindowIgnoredError(
                    f"9Pic lists {listing} photos for the window but its timeline counts at "
                    f"most {most} in those hours: it seems not to take the window's bounds "
                    "(sent as from/to); nothing of this window was synced"
                )
            images = page.items
            result.new += self._ledger.add_found(event_id, images, self._clock())
            result.pages += 1
            result.seen += len(images)
            listed.update(image.image_id for image in images)
            if self._on_page is not None:
                self._on_page(event_id, len(images), page.pagination.total_pages)
            if self._stop.is_set():
                break
        return result, frozenset(listed)

    def _most_in_window(self, event_id: int, start: int, end: int) -> int:
        """What the event's timeline buckets (one more call) allow in ``[start, end)``."""
        buckets: list[tuple[date, int | None, int]] = []
        for day in self.api.timeline_days(event_id):
            if day.hours:
                buckets += [(day.date, hour.hour, hour.count) for hour in day.hours]
            else:
                buckets.append((day.date, None, day.total))
        return most_in_window(buckets, start, end)

    def _timeline_pages(self, event_id: int, start: int, end: int) -> Iterator[Page[ImageItem]]:
        """Timeline pages at the largest size 9Pic accepts: its maximum is undocumented, so
        100 (the other lists' maximum), and the usual default of 32 when 100 is refused."""
        *larger, last = TIMELINE_PAGE_SIZES
        for size in larger:
            pages = self.api.timeline_pages(event_id, start, end, page_size=size)
            try:
                first = next(pages, None)
            except UnprocessableError as exc:
                log.info(
                    "event %d: timeline pages of %d refused (%s); asking for pages of %d",
                    event_id,
                    size,
                    exc.api_message or exc.message,
                    last,
                )
                continue
            if first is not None:
                yield first
                yield from pages
            return
        yield from self.api.timeline_pages(event_id, start, end, page_size=last)

    def search_bibs(self, event_id: int, bibs: Sequence[str], details: EventDetails) -> int:
        """Search the BIBs whose last complete search has not seen every photo of the event.

        A cycle whose walk found no new photos searches only BIBs never searched (added to
        the list since). Returns how many memberships changed.
        """
        return self.bib_searches(event_id, bibs, details).run()

    def bib_searches(
        self, event_id: int, bibs: Sequence[str], details: EventDetails
    ) -> BibSearches:
        """The BIB searches :meth:`search_bibs` makes, to pull between downloads (after the
        walk: which BIBs need searching depends on the photos it found). BIBs dropped from the
        list are forgotten here."""
        if not bibs:
            return BibSearches(self._ledger, event_id, self._ledger.retain_bibs(event_id, ()))
        if not details.bib_search:
            log.warning(
                "event %d: BIB search is disabled for this event; BIB folders not updated", event_id
            )
            return BibSearches(self._ledger, event_id, 0)
        changes = self._ledger.retain_bibs(event_id, bibs)
        todo = self._ledger.bibs_to_search(event_id, bibs)
        if todo.settled:
            log.debug("event %d: no photos new to the BIB searches; none repeated", event_id)
            return BibSearches(self._ledger, event_id, changes)
        search = None
        if todo.bibs:
            log.info("event %d: searching %d of %d BIBs", event_id, len(todo.bibs), len(bibs))
            search = self._pass(event_id, todo)
        return BibSearches(self._ledger, event_id, changes, todo, search)

    def _pass(self, event_id: int, todo: BibPass) -> BibSearchPass:
        return BibSearchPass(
            event_id,
            todo,
            search=partial(self._bib_ids, event_id),
            record=partial(self._ledger.record_bib_searches, event_id),
            clock=self._clock,
            stop=self._stop,
            threads=self.api_threads,
            on_bibs=self._on_bibs,
        )

    def _bib_ids(self, event_id: int, bib: str) -> set[str] | None:
        """Every image id tagged with ``bib`` (None when stopped before it began)."""
        if self._stop.is_set():
            return None
        return {
            image.image_id for page in self.api.bib_pages(event_id, bib) for image in page.items
        }


class GalleryWalk:
    """One walk of an event's All Photos, recorded as its pages arrive (fetched ahead in a
    thread). :meth:`pull` runs on the ledger's thread: to the end (:meth:`Planner.walk`), or
    between downloads, which then start while the walk still pages."""

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        event_id: int,
        *,
        clock: Clock,
        stop: threading.Event,
        on_page: Callable[[int, int, int], None] | None,
        ahead: int,
    ) -> None:
        self.event_id = event_id
        self.result = WalkResult()
        self._ledger = ledger
        self._clock = clock
        self._stop = stop
        self._on_page = on_page
        self._state = ledger.begin_walk(event_id, clock())
        self._memo = WalkMemo(marked=self._state.resume_page > 1)
        pages = api.image_pages(
            event_id, start_page=self._state.resume_page, page_size=100, ahead=ahead
        )
        self._ahead = Prefetcher(pages, depth=PAGES_AHEAD, name=f"walk-{event_id}")
        self._over = False

    @property
    def progress(self) -> int:
        """New photos recorded so far: what may give the downloads more to take. (Photos it
        lists again after a removal are found by the downloads' last look, after the walk.)"""
        return self.result.new

    def notify(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from the fetching thread) whenever a page arrives."""
        self._ahead.on_ready = wake

    def pull(self, timeout: float | None = 0.0) -> bool:
        """Record the pages that arrived (up to ``PAGES_PER_COMMIT`` in one transaction, after
        waiting up to ``timeout`` for one; None: until one comes). False once the walk is over:
        complete (photos the listing no longer has are counted as missing), stopped, or failed
        (raised here)."""
        if self._over:
            return False
        try:
            batch = self._ahead.take(PAGES_PER_COMMIT, timeout=timeout)
        except BaseException:
            self.close()
            raise
        if batch is None:
            self.result.missing = self._ledger.finish_walk(
                self.event_id, self._state.walk_no, self._clock(), self._memo
            )
            self.result.complete = True
            self.close()
            return False
        if batch:
            self._record(batch)
        if self._stop.is_set():
            self.close()
            return False
        return True

    def _record(self, batch: list[Page[ImageItem]]) -> None:
        result = self.result
        seen = [(page.page, page.items) for page in batch]  # recorded as listed: no copies
        result.new += self._ledger.record_pages(
            self.event_id, self._state.walk_no, seen, self._clock(), self._memo
        )
        for page in batch:
            result.pages += 1
            result.seen += len(page.items)
            if self._on_page is not None:
                self._on_page(self.event_id, len(page.items), page.pagination.total_pages)

    def close(self) -> None:
        """Stop fetching pages (idempotent); what was recorded stays recorded."""
        self._over = True
        self._ahead.close()

    def __enter__(self) -> GalleryWalk:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class BibSearches:
    """One cycle's BIB searches for an event: pulled between downloads, or run through. The
    pass is marked complete in the ledger once every BIB it needed was searched and recorded."""

    def __init__(
        self,
        ledger: Ledger,
        event_id: int,
        changes: int,
        todo: BibPass | None = None,
        search: BibSearchPass | None = None,
    ) -> None:
        self._ledger = ledger
        self._event_id = event_id
        self._changes = changes
        self._todo = todo  # None: nothing to mark complete
        self._search = search
        self._over = False

    @property
    def changes(self) -> int:
        """Memberships changed so far."""
        return self._changes + (self._search.changes if self._search is not None else 0)

    def notify(self, wake: Callable[[], None]) -> None:
        if self._search is not None:
            self._search.notify(wake)

    def pull(self, timeout: float | None = 0.0) -> bool:
        """Take the searches that finished (waiting up to ``timeout`` for one; None: until
        one does) and start more; False once the pass is over."""
        if self._over:
            return False
        if self._search is not None and self._search.pull(timeout):
            return True
        self._over = True
        complete = self._search is None or self._search.complete
        if self._todo is not None and complete:
            self._ledger.finish_bib_pass(self._event_id, self._todo)
        return False

    def run(self) -> int:
        """Search to the end (or a stop); return how many memberships changed."""
        while self.pull(timeout=None):
            pass
        return self.changes

    def close(self) -> None:
        """Stop searching (idempotent): what completed is recorded; the pass stays unfinished."""
        self._over = True
        if self._search is not None:
            self._search.close()


def _with_slack(most: int) -> int:
    """The most photos a window may list before syncer concludes its bounds were ignored."""
    return most + max(WINDOW_SLACK_MIN, int(most * WINDOW_SLACK))
