"""Timeline windows: the half-open capture-time range ``[from, until)`` of a windowed walk.

A bound is an ISO 8601 date-time with an offset (``2026-01-19T06:00:00+05:30``, ``...Z``) or a
date (``2026-01-19``). A date is a whole UTC day, the days of 9Pic's timeline: as ``from`` it
starts at that day's 00:00 UTC, as ``until`` it ends at the next day's 00:00 UTC, so
``--from 2026-01-19 --until 2026-01-19`` is that one day. A date-time without an offset is
refused: the event's time zone is not known. Bounds go to 9Pic as whole Unix seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OPEN_END = timedelta(days=1)  # an open ``until`` reaches a day past now: no photo is newer


@dataclass(frozen=True)
class Window:
    """``[start, end)``; a missing bound is open (the event's first photo, or now)."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(
                f"the window ends ({_show(self.end)}) before or when it starts "
                f"({_show(self.start)}): until must be later than from"
            )

    def seconds(self, now: datetime) -> tuple[int, int]:
        """The bounds as Unix seconds, open ends filled in."""
        start = 0 if self.start is None else math.ceil(self.start.timestamp())
        end = self.end if self.end is not None else now + OPEN_END
        return start, math.ceil(end.timestamp())

    def describe(self) -> str:
        start = "the first photo" if self.start is None else _show(self.start)
        end = "now" if self.end is None else _show(self.end)
        return f"[{start}, {end})"


def parse_bound(text: str, *, end: bool) -> datetime:
    """One bound; ``end``: a date means the end of that day. ValueError says what is wrong."""
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None
        start = datetime.combine(day, time(0), UTC)
        return start + timedelta(days=1) if end else start
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date-time with an offset "
            "(e.g. 2026-01-19T06:00:00+05:30) or a date (2026-01-19)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(
            f"{text!r} has no UTC offset; add one, e.g. {value}+05:30 or {value}Z "
            "(the event's time zone is not known)"
        )
    return moment


def window_of(start: str | None, end: str | None) -> Window:
    """A window from two optional texts (ValueError when one is bad or they are out of order)."""
    return Window(
        None if start is None else parse_bound(start, end=False),
        None if end is None else parse_bound(end, end=True),
    )


def _show(moment: datetime) -> str:
    return moment.isoformat()


HOUR = 3600


def most_in_window(hours: Iterable[tuple[date, int | None, int]], start: int, end: int) -> int:
    """The most photos 9Pic's timeline buckets allow in ``[start, end)`` (Unix seconds).

    ``hours``: ``(UTC day, hour 0-23, count)``, or ``(day, None, count)`` for a day given only
    as a total. Every bucket that overlaps the window counts whole, so this is an upper bound.
    """
    most = 0
    for day, hour, count in hours:
        base = int(datetime.combine(day, time(0), UTC).timestamp())
        first, span = (base, 24 * HOUR) if hour is None else (base + hour * HOUR, HOUR)
        if first < end and first + span > start:
            most += count
    return most
