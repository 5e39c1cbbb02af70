"""Retry policy: exponential backoff with full jitter, and ``Retry-After`` parsing."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
THROTTLE_STATUS = 429


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one API call.

    ``max_attempts`` and ``deadline`` (seconds since the first attempt) bound the retries of
    5xx answers and network errors; 429 answers have their own budget: the sum of the delays
    slept because of them stays under ``throttle_deadline``.

    ``first_contact_attempts``: attempts a call gets while no server has answered the client
    yet and the connection itself fails (refused, unknown host): most likely a mistyped
    ``api.base_url``, said in seconds rather than after the whole budget. None (a daemon, which
    rides out an outage): the same budget as any failure.
    """

    max_attempts: int = 5
    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    throttle_deadline: float = 900.0
    deadline: float = 300.0
    first_contact_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.first_contact_attempts is not None and self.first_contact_attempts < 1:
            raise ValueError(
                f"first_contact_attempts must be at least 1, got {self.first_contact_attempts}"
            )
        for name in ("base", "factor", "cap", "throttle_deadline", "deadline"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full-jitter delay before retry number ``attempt`` (1 for the first retry).

    Uniform in ``[0, min(cap, base * factor ** (attempt - 1))]``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    try:
        ceiling = min(policy.cap, policy.base * policy.factor ** (attempt - 1))
    except OverflowError:
        ceiling = policy.cap
    return rng.uniform(0.0, ceiling)


def longest_wait(policy: RetryPolicy, failures: int) -> float:
    """The most the retries left after ``failures`` can still wait, in seconds (each delay at
    its ceiling, and never past the deadline)."""
    ceilings = sum(
        min(policy.cap, policy.base * policy.factor ** min(attempt - 1, 64))
        for attempt in range(failures, policy.max_attempts)
    )
    return min(ceilings, policy.deadline)


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header.

    Accepts delta seconds (``"120"``, ``"1.5"``) or an HTTP date, compared with ``now`` (Unix
    seconds). A date in the past means "now" (0.0). Negative, non-finite or unparseable values
    give None, so the caller falls back to its own backoff.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_date(text, now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; a missing zone means UTC.
        when = when.replace(tzinfo=UTC)
    try:
        delta = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, delta)
