"""How a sync shows its progress: tqdm bars on a terminal, a log line every so often elsewhere.

Both count with a :class:`Tally`: files and bytes done, the byte total estimated from the mean
size of the files so far once the number of files is known, rate and ETA. Sizes are decimal
(MB = 10^6 bytes), as in the summary.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

from syncer.sync import Progress
from syncer.units import format_size

log = logging.getLogger("syncer.progress")

Clock = Callable[[], float]
BYTES_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}]"
)
BIBS_FORMAT = "{desc}: {n:,}/{total:,} |{bar}| [{elapsed}<{remaining}]"


class Tally:
    """Files and bytes of the download phase, with a byte total, rate and ETA estimated."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.files_total = 0
        self.files_done = 0
        self.bytes_done = 0
        self.started = clock()

    def start(self, files: int) -> None:
        self.files_total, self.files_done, self.bytes_done = files, 0, 0
        self.started = self._clock()

    @property
    def bytes_total(self) -> int | None:
        """All bytes of the phase, estimated from the mean file so far (None before a file)."""
        if not self.files_done or not self.files_total:
            return None
        return max(self.bytes_done, round(self.bytes_done / self.files_done * self.files_total))

    def rate(self) -> float:
        """Bytes per second since the phase started."""
        elapsed = self._clock() - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left, from the byte rate; None while there is nothing to go on."""
        total, rate = self.bytes_total, self.rate()
        if total is None or rate <= 0:
            return None
        return max(0.0, (total - self.bytes_done) / rate)


def duration_text(seconds: float) -> str:
    """``45s``, ``12m05s``, ``3h07m``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class LogProgress(Progress):
    """Not on a terminal: one INFO line every ``interval`` seconds of a long sync (like rclone's
    ``--stats``): walk pages, BIB searches done/total, or files, bytes, rate and ETA."""

    def __init__(
        self,
        interval: float,
        clock: Clock = time.monotonic,
        on_concurrency: Callable[[int], None] | None = None,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._on_concurrency = on_concurrency
        self._at_once = 0
        self._lock = threading.Lock()
        self._tally = Tally(clock)
        self._last = clock()
        self._phase = ""
        self._pages = self._photos = self._pages_total = 0
        self._bibs = (0, 0)
        self._event = 0

    def walk_page(self, event_id: int, images: int, pages: int = 0) -> None:
        with self._lock:
            if self._phase != "walk" or self._event != event_id:
                self._phase, self._event, self._pages, self._photos = "walk", event_id, 0, 0
            self._pages += 1
            self._photos += images
            self._pages_total = pages
            self._maybe_log()

    def bibs(self, event_id: int, done: int, total: int) -> None:
        with self._lock:
            self._phase, self._event, self._bibs = "bibs", event_id, (done, total)
            self._maybe_log()

    def downloads(self, event_id: int, files: int) -> None:
        with self._lock:
            self._phase, self._event = "download", event_id
            self._tally.start(files)
            if files:
                log.debug("event %d: %s files to download", event_id, f"{files:,}")

    def more_files(self, event_id: int, files: int) -> None:
        with self._lock:
            self._tally.files_total += files
            log.debug(
                "event %d: %s files to download (%s found by the walk just now)",
                event_id,
                f"{self._tally.files_total:,}",
                f"{files:,}",
            )

    def bytes(self, count: int) -> None:
        with self._lock:
            self._tally.bytes_done += count
            self._maybe_log()

    def file_done(self, ok: bool) -> None:
        with self._lock:
            self._tally.files_done += 1
            self._maybe_log()

    def concurrency(self, downloads: int) -> None:
        with self._lock:
            self._at_once = downloads
        if self._on_concurrency is not None:
            self._on_concurrency(downloads)

    def _maybe_log(self) -> None:
        now = self._clock()
        if self._interval <= 0 or now - self._last < self._interval:
            return
        self._last = now
        log.info("progress: %s", self.line())

    def line(self) -> str:
        """What the progress line says now (a walk that downloads as it goes: both)."""
        if self._phase == "bibs":
            done, total = self._bibs
            searches = f"event {self._event}: BIB searches {done:,}/{total:,}"
            return f"{searches}; {self._download_text()}" if self._tally.files_total else searches
        walking = self._phase == "walk" and self._pages < self._pages_total
        if self._phase == "walk" and (walking or not self._tally.files_total):
            of = f" of {self._pages_total:,}" if self._pages_total >= self._pages else ""
            walk = f"walked {self._pages:,}{of} pages, {self._photos:,} photos"
            if not self._tally.files_total:
                return f"event {self._event}: {walk}"
            return f"event {self._event}: {walk}; {self._download_text()}"
        return f"event {self._event}: {self._download_text()}"

    def _download_text(self) -> str:
        tally = self._tally
        estimate = tally.bytes_total
        eta = tally.eta()
        return (
            f"{tally.files_done:,}/{tally.files_total:,} files, "
            f"{format_size(tally.bytes_done)}"
            + (f" of ~{format_size(estimate)}" if estimate is not None else "")
            + f", {format_size(round(tally.rate()))}/s"
            + (f", ETA {duration_text(eta)}" if eta is not None else "")
            + (f", {self._at_once} at once" if self._at_once else "")
        )


class BarProgress(Progress):
    """Walk: pages and photos; BIB searches done/total; download: files, and bytes with a total
    estimated once files finish, rate and ETA. Log lines are printed above the bars."""

    def __init__(self, stream: TextIO | None = None, clock: Clock = time.monotonic) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._tally = Tally(clock)
        self._walk: tqdm[Any] | None = None
        self._bibs: tqdm[Any] | None = None
        self._files: tqdm[Any] | None = None
        self._bytes: tqdm[Any] | None = None
        self._photos = 0
        self._event = 0
        self._at_once = 0

    def walk_page(self, event_id: int, images: int, pages: int = 0) -> None:
        with self._lock:
            self._switch_to(event_id)
            walk = self._walk
            if walk is None:
                self._photos = 0
                walk = self._walk = self._bar(f"walk {event_id}", unit=" pages")
            if pages > walk.n and walk.total != pages:  # the total the first page announced
                walk.total = pages
            self._photos += images
            walk.set_postfix_str(f"{self._photos:,} photos", refresh=False)
            walk.update(1)

    def bibs(self, event_id: int, done: int, total: int) -> None:
        with self._lock:
            self._switch_to(event_id)
            self._close("_walk")
            bar = self._bibs
            if bar is None:
                bar = self._bibs = self._bar(
                    f"bibs {event_id}", total=total, bar_format=BIBS_FORMAT
                )
            bar.total = total
            bar.update(done - bar.n)

    def downloads(self, event_id: int, files: int) -> None:
        with self._lock:
            self._switch_to(event_id)
            self.close_bars()
            self._tally.start(files)
            if files:  # nothing to download: no empty bar
                self._download_bars(event_id)

    def more_files(self, event_id: int, files: int) -> None:
        with self._lock:
            self._tally.files_total += files
            if self._files is None:
                self._download_bars(event_id)
            else:
                self._files.total = self._tally.files_total
                self._files.refresh()

    def _download_bars(self, event_id: int) -> None:
        self._files = self._bar(f"event {event_id}", total=self._tally.files_total, unit=" files")
        self._show_concurrency()
        self._bytes = self._bar("bytes", unit="B", unit_scale=True, unit_divisor=1000)

    def bytes(self, count: int) -> None:
        with self._lock:
            self._tally.bytes_done += count
            if self._bytes is not None:
                self._bytes.update(count)

    def file_done(self, ok: bool) -> None:
        with self._lock:
            self._tally.files_done += 1
            if self._files is not None:
                self._files.update(1)
            if self._bytes is not None:
                self._bytes.total = self._tally.bytes_total
                self._bytes.bar_format = BYTES_FORMAT  # with a total: units on both sides

    def concurrency(self, downloads: int) -> None:
        with self._lock:
            self._at_once = downloads
            self._show_concurrency()

    def _show_concurrency(self) -> None:
        if self._files is not None and self._at_once:
            self._files.set_postfix_str(f"{self._at_once} at once", refresh=False)

    def close(self) -> None:
        """Close every bar; what is printed next starts on its own line."""
        with self._lock:
            self.close_bars()

    def close_bars(self) -> None:
        for name in ("_walk", "_bibs", "_bytes", "_files"):
            self._close(name)

    def _switch_to(self, event_id: int) -> None:
        """The bars of the previous event go when the next event starts."""
        if event_id != self._event:
            self.close_bars()
            self._event = event_id

    def _close(self, name: str) -> None:
        bar = getattr(self, name)
        if bar is not None:
            bar.close()
            setattr(self, name, None)

    def _bar(self, desc: str, **options: Any) -> tqdm[Any]:
        return tqdm(desc=desc, file=self._stream, leave=False, dynamic_ncols=True, **options)


class _AboveBars:
    """A stream for the log handler: each line goes through ``tqdm.write``, above the bars."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        tqdm.write(text.rstrip("\n"), file=self._stream)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


@contextmanager
def logs_above_bars(stream: TextIO) -> Iterator[None]:
    """While the bars run, the root logger's stream handlers write through ``tqdm.write``
    (their formatters and filters, the secret redaction among them, stay as they are)."""
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
            swapped.append((handler, handler.setStream(_AboveBars(stream))))
    try:
        yield
    finally:
        for handler, old in swapped:
            handler.setStream(old)
