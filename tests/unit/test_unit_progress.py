"""Progress shown by the CLI: the tally's estimates, the periodic log line off a terminal, and
the tqdm bars (decimal units, BIB searches, no empty bar, log lines above the bars)."""

from __future__ import annotations

import io
import logging

import pytest

from syncer.cli.progress import BarProgress, LogProgress, Tally, duration_text, logs_above_bars
from syncer.logs import RedactFilter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tally_estimates_the_byte_total_rate_and_eta() -> None:
    clock = FakeClock()
    tally = Tally(clock)
    tally.start(10)
    assert tally.bytes_total is None
    assert tally.eta() is None
    tally.files_done, tally.bytes_done = 2, 4_000_000
    clock.now += 2
    assert tally.bytes_total == 20_000_000
    assert tally.rate() == 2_000_000
    assert tally.eta() == 8.0


def test_duration_text() -> None:
    assert duration_text(44.6) == "45s"
    assert duration_text(725) == "12m05s"
    assert duration_text(3 * 3600 + 7 * 60) == "3h07m"


def test_log_progress_logs_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    progress = LogProgress(30, clock)
    caplog.set_level(logging.DEBUG, logger="syncer.progress")
    for _ in range(5):
        progress.walk_page(456, 100)
        clock.now += 10
    walked = [r.getMessage() for r in caplog.records]
    assert walked == ["progress: event 456: walked 4 pages, 400 photos"]
    caplog.clear()
    clock.now += 30
    progress.bibs(456, 1234, 30000)
    assert caplog.records[0].getMessage() == "progress: event 456: BIB searches 1,234/30,000"
    caplog.clear()
    progress.downloads(456, 3000)
    assert [r.getMessage() for r in caplog.records] == ["event 456: 3,000 files to download"]
    caplog.clear()
    for _ in range(100):
        progress.bytes(2_500_000)
        progress.file_done(True)
        clock.now += 0.5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1  # 50 s of downloads: one line at the 30 s mark
    assert lines[0] == (
        "progress: event 456: 60/3,000 files, 152.5 MB of ~7.6 GB, 5.1 MB/s, ETA 24m30s"
    )


def test_log_progress_interval_zero_is_off(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    progress = LogProgress(0, clock)
    caplog.set_level(logging.INFO, logger="syncer.progress")
    for _ in range(3):
        progress.walk_page(1, 10)
        clock.now += 100
    assert caplog.records == []


def test_bars_use_decimal_units_and_a_byte_total() -> None:
    stream = io.StringIO()
    bars = BarProgress(stream)
    bars.downloads(456, 4)
    for _ in range(2):
        bars.bytes(1_500_000)
        bars.file_done(True)
    assert bars._bytes is not None
    assert bars._bytes.total == 6_000_000  # 2 files of 1.5 MB so far, 4 in all
    shown = str(bars._bytes)
    assert "50%" in shown
    assert "3.00MB/6.00MB" in shown
    assert "iB" not in stream.getvalue()  # no MiB / KiB anywhere
    bars.close()


def test_bib_searches_have_their_own_bar() -> None:
    stream = io.StringIO()
    bars = BarProgress(stream)
    bars.walk_page(7, 100)
    bars.bibs(7, 1234, 30000)
    assert bars._walk is None  # the walk bar is closed when the BIB searches start
    assert bars._bibs is not None
    assert str(bars._bibs).startswith("bibs 7: 1,234/30,000 |")
    bars.bibs(7, 30000, 30000)
    assert str(bars._bibs).startswith("bibs 7: 30,000/30,000 |")
    bars.close()


def test_nothing_to_download_shows_no_bar() -> None:
    stream = io.StringIO()
    bars = BarProgress(stream)
    bars.downloads(456, 0)
    bars.close()
    assert stream.getvalue() == ""


def test_log_lines_go_above_the_bars_and_stay_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter(["s3cr3t-key"]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        bars = BarProgress(stream)
        with logs_above_bars(stream):
            bars.downloads(456, 10)
            bars.file_done(True)
            logging.getLogger("syncer.test").warning("slow answer for s3cr3t-key")
            assert handler.stream is not stream  # redirected while the bars run
        bars.close()
        assert handler.stream is stream  # restored
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cr3t-key" not in text
    message = text.index("slow answer for ********\n")  # a whole line of its own
    assert text.index("event 456:") < message < text.rindex("event 456:")  # bars drawn below


def test_the_walk_counts_pages_against_the_announced_total(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    bars = BarProgress(stream)
    bars.walk_page(7, 100, 200)
    bars.walk_page(7, 100, 200)
    assert bars._walk is not None
    assert str(bars._walk).startswith("walk 7:   1%|")
    assert "2/200" in str(bars._walk)
    bars.close()
    clock = FakeClock()
    progress = LogProgress(30, clock)
    caplog.set_level(logging.INFO, logger="syncer.progress")
    for _ in range(4):
        progress.walk_page(456, 100, 200)
        clock.now += 10
    assert [r.getMessage() for r in caplog.records] == [
        "progress: event 456: walked 4 of 200 pages, 400 photos"
    ]


def test_the_download_concurrency_is_shown_and_handed_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    told: list[int] = []
    progress = LogProgress(30, clock, on_concurrency=told.append)
    caplog.set_level(logging.INFO, logger="syncer.progress")
    progress.downloads(456, 10)
    progress.concurrency(12)
    clock.now += 31
    progress.file_done(True)
    assert caplog.records[0].getMessage().endswith(", 12 at once")
    assert told == [12]
    bars = BarProgress(io.StringIO())
    bars.downloads(456, 4)
    bars.concurrency(18)
    assert "18 at once" in str(bars._files)
    bars.close()


def test_a_walk_that_downloads_as_it_goes_shows_both(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    bars = BarProgress(stream)
    bars.walk_page(6, 100, 3)  # the event before: its bars go
    bars.downloads(7, 0)  # nothing due before the walk: no bar yet
    assert bars._files is None
    bars.walk_page(7, 100, 3)
    bars.more_files(7, 100)
    bars.file_done(True)
    bars.walk_page(7, 100, 3)
    bars.more_files(7, 60)
    assert bars._walk is not None
    assert bars._files is not None
    assert "1/160" in str(bars._files)
    assert "2/3" in str(bars._walk)
    bars.close()
    clock = FakeClock()
    progress = LogProgress(30, clock)
    caplog.set_level(logging.INFO, logger="syncer.progress")
    progress.downloads(7, 0)
    progress.walk_page(7, 100, 3)
    progress.more_files(7, 100)
    progress.file_done(True)
    clock.now += 30
    progress.walk_page(7, 100, 3)
    progress.more_files(7, 40)
    progress.walk_page(7, 100, 3)  # the walk is over; the downloads go on
    clock.now += 30
    progress.file_done(True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("progress: event 7: walked 2 of 3 pages, 200 photos; 1/100 files")
    assert lines[1].startswith("progress: event 7: 2/140 files")
