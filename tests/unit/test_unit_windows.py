"""Timeline windows: parsing the bounds, their order, and the configured `window`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.settings import isolate, load, write_toml
from syncer.errors import ConfigError
from syncer.windows import HOUR, Window, most_in_window, parse_bound, window_of

IST = timezone(timedelta(hours=5, minutes=30))
NOW = datetime(2026, 1, 19, 12, 0, tzinfo=UTC)


def test_a_date_time_keeps_its_offset() -> None:
    start = parse_bound("2026-01-19T06:00:00+05:30", end=False)
    assert start == datetime(2026, 1, 19, 6, 0, tzinfo=IST)
    assert parse_bound("2026-01-19T00:30:00Z", end=True) == datetime(2026, 1, 19, 0, 30, tzinfo=UTC)


def test_a_date_is_a_whole_utc_day() -> None:
    window = window_of("2026-01-19", "2026-01-19")
    assert window.seconds(NOW) == (
        int(datetime(2026, 1, 19, tzinfo=UTC).timestamp()),
        int(datetime(2026, 1, 20, tzinfo=UTC).timestamp()),
    )


def test_bounds_are_whole_seconds_rounded_up() -> None:
    window = window_of("2026-01-19T00:00:00.2Z", "2026-01-19T00:00:10.5Z")
    base = int(datetime(2026, 1, 19, tzinfo=UTC).timestamp())
    assert window.seconds(NOW) == (base + 1, base + 11)


def test_open_ends() -> None:
    assert Window().seconds(NOW) == (0, int((NOW + timedelta(days=1)).timestamp()))
    assert (
        window_of(None, "2026-01-19").describe() == "[the first photo, 2026-01-20T00:00:00+00:00)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is not an ISO 8601 date-time with an offset"),
        ("2026-01-19T06:00:00", "has no UTC offset"),
        ("2026-02-30", "is not a calendar date"),
        ("", "is not an ISO 8601"),
    ],
)
def test_bad_bounds_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_bound(text, end=False)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-01-20", "2026-01-19"), ("2026-01-19T06:00:00+05:30", "2026-01-19T00:30:00Z")],
)
def test_until_must_be_later_than_from(start: str, end: str) -> None:
    with pytest.raises(ValueError, match="until must be later than from"):
        window_of(start, end)


def test_configured_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)
    text = '[[events]]\nid = 456\nwindow = ["2026-01-19T06:00:00+05:30", "2026-01-19"]\n'
    settings = load(tmp_path, config=write_toml(tmp_path, text + "[[events]]\nid = 457\n"))
    assert settings.window_for(456) == Window(
        datetime(2026, 1, 19, 6, tzinfo=IST), datetime(2026, 1, 20, tzinfo=UTC)
    )
    assert settings.window_for(457) is None
    assert settings.window_for(1) is None


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ('["2026-01-19"]', "two ISO 8601 times or dates"),
        ('["2026-01-19T06:00:00", "2026-01-20"]', "has no UTC offset"),
        ('["2026-01-20", "2026-01-19"]', "until must be later than from"),
    ],
)
def test_bad_configured_window_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, window: str, message: str
) -> None:
    isolate(monkeypatch, tmp_path)
    config = write_toml(tmp_path, f"[[events]]\nid = 456\nwindow = {window}\n")
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, config=config)


def test_most_in_window_counts_every_bucket_the_window_touches() -> None:
    day = date(2026, 1, 19)
    base = int(datetime(2026, 1, 19, tzinfo=UTC).timestamp())
    hours = [(day, 5, 10), (day, 6, 20), (day, 7, 40)]
    assert most_in_window(hours, base + 6 * HOUR, base + 7 * HOUR) == 20  # exactly one hour
    assert most_in_window(hours, base + 6 * HOUR + 1, base + 7 * HOUR + 1) == 60  # cuts two
    assert most_in_window(hours, base + 8 * HOUR, base + 9 * HOUR) == 0
    assert most_in_window(hours, 0, base + 24 * HOUR) == 70
    assert most_in_window([(day, None, 70)], base + 6 * HOUR, base + 7 * HOUR) == 70  # a day total
    assert most_in_window([(day, None, 70)], base + 24 * HOUR, base + 25 * HOUR) == 0
    assert most_in_window([], 0, base) == 0
