"""One pass of BIB searches: many at once, recorded in batches as they complete."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime

from syncer.errors import NotFoundError
from syncer.ledger import BibPass

log = logging.getLogger("syncer.planner")

BIB_BATCH = 500  # completed BIB searches recorded per ledger transaction
FLUSH_SECONDS = 1.0  # and at least this often, so downloads meanwhile see the BIBs found

Clock = Callable[[], datetime]
Search = Callable[[str], "set[str] | None"]
Record = Callable[[Mapping[str, Collection[str]], int, datetime], int]


class BibSearchPass:
    """One pass of BIB searches, ``threads`` at once, recorded in batches as they complete.

    :meth:`run` searches to the end; :meth:`pull` takes what finished without waiting (on the
    ledger's thread, between downloads) and starts more. Either way the searches that completed
    are recorded whatever ends the pass (the end, a stop, an error).
    """

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
        self._done = 0
        self._waiting = iter(todo.bibs)
        self._running: dict[Future[set[str] | None], str] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._wake: Callable[[], None] | None = None
        self._flushed_at = time.monotonic()
        self._over = False

    @property
    def complete(self) -> bool:
        """Every BIB of the pass was searched to the end and recorded."""
        return self._recorded == len(self._todo.bibs)

    @property
    def changes(self) -> int:
        """Memberships changed so far."""
        return self._changes

    def run(self) -> int:
        """Search every BIB of the pass (until a stop); return how many memberships changed."""
        while self.pull(timeout=None):
            pass
        return self._changes

    def notify(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from a search thread) whenever a search finishes."""
        self._wake = wake

    def pull(self, timeout: float | None = 0.0) -> bool:
        """Take the searches that finished (after waiting up to ``timeout`` for one; None: until
        one does), record them when a batch is full or a second has passed, and start more;
        False once the pass is over."""
        if self._over:
            return False
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="bibs")
                self._progress()
            self._start_more()
            if not self._running:
                self.close()
                return False
            finished = [future for future in self._running if future.done()]
            if not finished and timeout != 0:
                finished = list(_first_done(self._running, timeout))
            for future in finished:
                self._take(self._running.pop(future), future)
                self._done += 1
                self._progress()
            if time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
                self._flush()
            self._start_more()
        except BaseException:
            self.close()  # what completed is recorded; no new searches
            raise
        return True

    def close(self) -> None:
        """End the pass (idempotent): no new searches, the completed ones recorded."""
        if self._over:
            return
        self._over = True
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._flush()
        if self._not_found > 1:
            log.warning(
                "event %d: %d BIB searches answered 404 in all; those BIBs were skipped",
                self._event_id,
                self._not_found,
            )

    def _start_more(self) -> None:
        """Keep ``threads`` x 2 searches queued (none once stopped)."""
        assert self._pool is not None
        while len(self._running) < self._threads * 2 and not self._stop.is_set():
            bib = next(self._waiting, None)
            if bib is None:
                return
            future = self._pool.submit(self._search, bib)
            if self._wake is not None:
                future.add_done_callback(self._woken)
            self._running[future] = bib

    def _woken(self, _future: object) -> None:
        if self._wake is not None:
            self._wake()

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
        self._flushed_at = time.monotonic()
        if self._batch:
            self._changes += self._record(self._batch, self._todo.mark, self._clock())
            self._recorded += len(self._batch)
            self._batch = {}

    def _progress(self) -> None:
        if self._on_bibs is not None:
            self._on_bibs(self._event_id, self._done, len(self._todo.bibs))


def _first_done(
    running: Collection[Future[set[str] | None]], timeout: float | None
) -> set[Future[set[str] | None]]:
    finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
    return finished
