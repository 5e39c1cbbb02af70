"""Durations and sizes as written in settings, and sizes as shown to people."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncer.units import format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("0", 0.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("1h 30m 5s", 5405.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 15M ", 900.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "m", "15x", "15m10", "fifteen", "-5s", -1, True, None, [5], "1e3", float("nan")]
)
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(value)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_duration_parts_add_up(hours: int, minutes: int, seconds: int) -> None:
    assert parse_duration(f"{hours}h{minutes}m{seconds}s") == hours * 3600 + minutes * 60 + seconds


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1048576, 1048576),
        ("1048576", 1048576),
        ("500MB", 500_000_000),
        ("500 mb", 500_000_000),
        ("2GiB", 2 * 1024**3),
        ("1.5KiB", 1536),
        ("10kB", 10_000),
        ("3TB", 3 * 10**12),
        ("7B", 7),
        (0, 0),
    ],
)
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "GiB", "2 gallons", "2GB extra", "-1MB", -1, False, None])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError, match="bad size"):
        parse_size(value)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1536, "1.5 kB"),
        (999_949, "999.9 kB"),
        (999_960, "1.0 MB"),
        (2_500_000, "2.5 MB"),
        (2 * 1024**3, "2.1 GB"),
        (3 * 10**12, "3.0 TB"),
        (5 * 10**18, "5000.0 PB"),
    ],
)
def test_sizes_are_shown_in_decimal_units(count: int, text: str) -> None:
    assert format_size(count) == text


@given(st.integers(min_value=0, max_value=999 * 10**12))
def test_a_shown_size_reads_back_within_rounding(count: int) -> None:
    """One decimal of the shown unit: off by at most 0.05 units, about 5 % of the count."""
    assert abs(parse_size(format_size(count)) - count) <= count * 0.053
