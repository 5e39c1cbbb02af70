"""Splitting long parameter lists so one statement never exceeds SQLite's variable limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

CHUNK = 500  # well below SQLITE_MAX_VARIABLE_NUMBER on every supported SQLite build


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive lists of at most ``size`` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
