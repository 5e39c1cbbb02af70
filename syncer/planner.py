"""Walk an event's gallery pages and BIB searches into the ledger. The plan is ledger rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from syncer.api import ApiClient, EventDetails
from syncer.bib_pass import BibSearchPass
from syncer.ledger import BibPass, EventRecord, Ledger, SeenImage
from syncer.prefetch import Prefetcher
from syncer.windows import Window

log = logging.getLogger("syncer.planner")

Clock = Callable[[], datetime]


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
        """Page through All Photos, committing each page; resumes an interrupted walk."""
        result = WalkResult()
        state = self._ledger.begin_walk(event_id, self._clock())
        pages = self.api.image_pages(
            event_id, start_page=state.resume_page, page_size=100, ahead=self.api_threads
        )
        with Prefetcher(pages, name=f"walk-{event_id}") as ahead:
            for page in ahead:
                images = [SeenImage(i.image_id, i.width, i.height) for i in page.items]
                result.new += self._ledger.record_page(
                    event_id, state.walk_no, page.page, images, self._clock()
                )
                result.pages += 1
                result.seen += len(images)
                if self._on_page is not None:
                    self._on_page(event_id, len(images), page.pagination.total_pages)
                if self._stop.is_set():
                    return result
        result.missing = self._ledger.finish_walk(event_id, state.walk_no, self._clock())
        result.complete = True
        return result

    def walk_window(self, event_id: int, window: Window) -> tuple[WalkResult, frozenset[str]]:
        """Page through the photos captured in ``window`` (Timeline images), recording each
        page; return the walk's counts (never complete) and the ids it listed."""
        result, listed = WalkResult(), set[str]()
        start, end = window.seconds(self._clock())
        for page in self.api.timeline_pages(event_id, start, end):
            images = [SeenImage(i.image_id, i.width, i.height) for i in page.items]
            result.new += self._ledger.add_found(event_id, images, self._clock())
            result.pages += 1
            result.seen += len(images)
            listed.update(image.image_id for image in images)
            if self._on_page is not None:
                self._on_page(event_id, len(images), page.pagination.total_pages)
            if self._stop.is_set():
                break
        return result, frozenset(listed)

    def search_bibs(self, event_id: int, bibs: Sequence[str], details: EventDetails) -> int:
        """Search the BIBs whose last complete search has not seen every photo of the event.

        A cycle whose walk found no new photos searches only BIBs never searched (added to
        the list since). Returns how many memberships changed.
        """
        if not bibs:
            return self._ledger.retain_bibs(event_id, ())
        if not details.bib_search:
            log.warning(
                "event %d: BIB search is disabled for this event; BIB folders not updated", event_id
            )
            return 0
        changes = self._ledger.retain_bibs(event_id, bibs)
        todo = self._ledger.bibs_to_search(event_id, bibs)
        if todo.settled:
            log.debug("event %d: no photos new to the BIB searches; none repeated", event_id)
            return changes
        if todo.bibs:
            log.info("event %d: searching %d of %d BIBs", event_id, len(todo.bibs), len(bibs))
            search = self._pass(event_id, todo)
            changes += search.run()
            if not search.complete:
                return changes
        self._ledger.finish_bib_pass(event_id, todo)
        return changes

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
