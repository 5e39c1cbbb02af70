"""UTC timestamps stored as fixed-width ISO 8601 text, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from syncer.errors import SyncerError

_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # always 32 characters


def require_utc(value: datetime, name: str = "now") -> datetime:
    """Return ``value`` converted to UTC; a naive datetime is a caller bug."""
    if value.utcoffset() is None:
        raise SyncerError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(UTC)


@lru_cache(maxsize=1024)
def to_text(value: datetime) -> str:
    """Fixed-width UTC text for ``value`` (timezone-aware); batches repeat one ``now``."""
    return require_utc(value, "timestamp").strftime(_FORMAT)


def from_text(value: str) -> datetime:
    """The timezone-aware UTC datetime stored as ``value``."""
    return datetime.fromisoformat(value).astimezone(UTC)


class UtcTimestamp(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as sortable UTC text."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else to_text(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_text(str(value))
