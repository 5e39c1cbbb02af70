"""Walk an event's gallery pages and BIB searches into the ledger. The plan is ledger rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from syncer.api import ApiClient, EventDetails
from syncer.errors import NotFoundError
from syncer.ledger import BibPass, EventRecord, Ledger, SeenImage
from syncer.prefetch import Prefetcher

log = logging.getLogger("syncer.planner")

Clock = Callable[[], datetime]
BIB_BATCH = 500  # completed BIB searches recorded per ledger transaction


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WalkResult:
    pages: int = 0
    seen: int = 0
    new: int = 0
    complete: bool = False
    missing: int = 0


class Planner:
    """Records what exists upstream; never decides that a photo is gone from one walk."""

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        *,
        stop: threading.Event,
        clock: Clock = utcnow,
        on_page: Callable[[int, int], None] | None = None,
        on_bibs: Callable[[int, int, int], None] | None = None,
        api_threads: int = 4,  # requests in flight: gallery pages ahead, BIB searches at once
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._stop = stop
        self._clock = clock
        self._on_page = on_page
        self._on_bibs = on_bibs  # (event_id, searches done, searches in this pass)
        self._api_threads = api_threads

    def refresh_event(self, event_id: int) -> EventDetails:
        """Fetch and store the event's metadata (404 -> NotFoundError, 403 -> AuthError)."""
        details = self._api.event_details(event_id)
        self._ledger.upsert_event(
            EventRecord(
                event_id=event_id,
                name=details.event_name,
                slug=details.event_slug,
                date=details.event_date,
                status=details.status,
            )
        )
        return details

    def walk(self, event_id: int) -> WalkResult:
        """Page through All Photos, committing each page; resumes an interrupted walk."""
        result = WalkResult()
        state = self._ledger.begin_walk(event_id, self._clock())
        pages = self._api.image_pages(
            event_id, start_page=state.resume_page, page_size=100, ahead=self._api_threads
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
                    self._on_page(event_id, len(images))
                if self._stop.is_set():
                    return result
        result.missing = self._ledger.finish_walk(event_id, state.walk_no, self._clock())
        result.complete = True
        return result

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

    def _pass(self, event_id: int, todo: BibPass) -> _BibPass:
        return _BibPass(
            event_id,
            todo,
            search=partial(self._bib_ids, event_id),
            record=partial(self._ledger.record_bib_searches, event_id),
            clock=self._clock,
            stop=self._stop,
            threads=self._api_threads,
            on_bibs=self._on_bibs,
        )

    def _bib_ids(self, event_id: int, bib: str) -> set[str] | None:
        """Every image id tagged with ``bib`` (None when stopped before it began)."""
        if self._stop.is_set():
            return None
        return {
            image.image_id for page in self._api.bib_pages(event_id, bib) for image in page.items
        }


Search = Callable[[str], "set[str] | None"]
Record = Callable[[Mapping[str, Collection[str]], int, datetime], int]


class _BibPass:
    """One pass of BIB searches, ``threads`` at once, recorded in batches as they complete."""

    def __init__(
        self,
        event_id: int,
        todo: BibPass,
        *,
        search: Search,
        record: Record,
        clock: Clock,
        stop: threading.Event,
        threads: int,
        on_bibs: Callable[[int, int, int], None] | None,
    ) -> None:
        self._event_id = event_id
        self._todo = todo
        self._search = search
        self._record = record
        self._clock = clock
        self._stop = stop
        self._threads = threads
        self._on_bibs = on_bibs
        self._batch: dict[str, set[str]] = {}
        self._not_found = 0
        self._changes = 0
        self._recorded = 0

    @property
    def complete(self) -> bool:
        """Every BIB of the pass was searched to the end and recorded."""
        return self._recorded == len(self._todo.bibs)

    def run(self) -> int:
        """Search every BIB of the pass (until a stop); return how many memberships changed."""
        total = len(self._todo.bibs)
        self._progress(0, total)
        try:
            with closing(self._searches()) as searches:  # on an error too: no new searches
                for done, (bib, future) in enumerate(searches, start=1):
                    self._take(bib, future)
                    self._progress(done, total)
        finally:  # the searches that completed count, whatever ended the pass
            self._flush()
            if self._not_found > 1:
                log.warning(
                    "event %d: %d BIB searches answered 404 in all; those BIBs were skipped",
                    self._event_id,
                    self._not_found,
                )
        return self._changes

    def _take(self, bib: str, future: Future[set[str] | None]) -> None:
        try:
            ids = future.result()
        except NotFoundError as exc:
            self._not_found += 1
            if self._not_found == 1:
                log.warning(
                    "event %d: BIB %r search answered 404 (%s); skipped",
                    self._event_id,
                    bib,
                    exc.api_message,
                )
            return
        if ids is not None:
            self._batch[bib] = ids
            if len(self._batch) >= BIB_BATCH:
                self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._changes += self._record(self._batch, self._todo.mark, self._clock())
            self._recorded += len(self._batch)
            self._batch = {}

    def _progress(self, done: int, total: int) -> None:
        if self._on_bibs is not None:
            self._on_bibs(self._event_id, done, total)

    def _searches(self) -> Generator[tuple[str, Future[set[str] | None]], None, None]:
        """Each BIB with its finished search, in completion order; ``threads`` x 2 queued."""
        waiting = iter(self._todo.bibs)
        running: dict[Future[set[str] | None], str] = {}
        with ThreadPoolExecutor(self._threads, thread_name_prefix="bibs") as pool:
            try:
                while True:
                    while len(running) < self._threads * 2 and not self._stop.is_set():
                        bib = next(waiting, None)
                        if bib is None:
                            break
                        running[pool.submit(self._search, bib)] = bib
                    if not running:
                        return
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield running.pop(future), future
            finally:  # a refused key or a stop: no further searches start
                pool.shutdown(cancel_futures=True)
