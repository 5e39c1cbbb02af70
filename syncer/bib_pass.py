"""One pass of BIB searches: many at once, recorded in batches as they complete."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Generator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import datetime

from syncer.errors import NotFoundError
from syncer.ledger import BibPass

log = logging.getLogger("syncer.planner")

BIB_BATCH = 500  # completed BIB searches recorded per ledger transaction

Clock = Callable[[], datetime]
Search = Callable[[str], "set[str] | None"]
Record = Callable[[Mapping[str, Collection[str]], int, datetime], int]


class BibSearchPass:
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
