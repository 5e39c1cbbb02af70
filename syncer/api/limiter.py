"""Adaptive cap on concurrent API calls: halve on throttling, grow back slowly on success."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class AdaptiveLimiter:
    """Thread-safe limit on how many API calls are in flight at once.

    ``throttled()`` halves the limit (never below ``minimum``); ``succeeded()`` raises it by one
    after ``grow_after`` consecutive successes (never above ``maximum``). ``initial`` is clamped
    into ``[minimum, maximum]``.
    """

    def __init__(
        self, initial: int = 4, minimum: int = 1, maximum: int = 4, grow_after: int = 20
    ) -> None:
        if minimum < 1:
            raise ValueError(f"limiter minimum must be at least 1, got {minimum}")
        if maximum < minimum:
            raise ValueError(f"limiter maximum ({maximum}) is below its minimum ({minimum})")
        if grow_after < 1:
            raise ValueError(f"limiter grow_after must be at least 1, got {grow_after}")
        self._minimum = minimum
        self._maximum = maximum
        self._grow_after = grow_after
        self._limit = min(max(initial, minimum), maximum)
        self._in_flight = 0
        self._streak = 0
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return (
            f"AdaptiveLimiter(limit={self.limit}, minimum={self._minimum}, "
            f"maximum={self._maximum}, in_flight={self.in_flight})"
        )

    @property
    def limit(self) -> int:
        """How many calls may currently be in flight."""
        with self._cond:
            return self._limit

    @property
    def in_flight(self) -> int:
        """How many calls hold a slot right now."""
        with self._cond:
            return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block; waits while the limit is reached."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def throttled(self) -> None:
        """The API answered 429: halve the limit and restart the success streak."""
        with self._cond:
            self._limit = max(self._minimum, self._limit // 2)
            self._streak = 0

    def succeeded(self) -> None:
        """A call succeeded: after ``grow_after`` in a row, allow one more call in flight."""
        with self._cond:
            self._streak += 1
            if self._streak < self._grow_after:
                return
            self._streak = 0
            if self._limit < self._maximum:
                self._limit += 1
                self._cond.notify_all()
