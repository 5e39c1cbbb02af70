"""Wire models of the 9Pic ``ext`` API, tolerant of every documented quirk.

* Unknown keys are ignored everywhere.
* ``null`` is treated like a missing key, so every field falls back to its default.
* Misspelled image keys of an older revision (``widht``, ``thumbanail_url``,
  ``orginal_url``) are accepted next to the correct spelling, which wins when both are set.
* Pagination accepts the service's camelCase names and their snake_case variants.
* Ids are opaque strings: numbers are turned into strings and nothing is checked as a UUID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

T = TypeVar("T")

TERMINAL_CLIP_STATUSES = frozenset({"completed", "failed", "error", "done"})


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class WireModel(BaseModel):
    """Base of every model read from the wire: extra keys ignored, ``null`` means "missing"."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


def _lenient_dimension(value: Any) -> int | None:
    """A pixel size: integral numbers or numeric strings; anything else is unknown (None)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        return None
    return int(number)


class Pagination(WireModel):
    """``data.pagination`` (``PaginationInfo``); every field has a safe default."""

    total: int = 0
    current_page: int | None = Field(
        default=None, validation_alias=_alias("currentPage", "current_page")
    )
    total_pages: int = Field(default=0, validation_alias=_alias("totalPages", "total_pages"))
    has_next_page: bool = Field(
        default=False, validation_alias=_alias("hasNextPage", "has_next_page")
    )
    has_previous_page: bool = Field(
        default=False, validation_alias=_alias("hasPreviousPage", "has_previous_page")
    )
    page_size: int | None = Field(default=None, validation_alias=_alias("page_size", "pageSize"))


class ImageItem(WireModel):
    """One photo of a listing (``ImageItem``)."""

    image_id: str = Field(min_length=1)
    img_url: str | None = None
    thumbnail_url: str | None = Field(
        default=None, validation_alias=_alias("thumbnail_url", "thumbanail_url")
    )
    width: int | None = Field(default=None, validation_alias=_alias("width", "widht"))
    height: int | None = None
    original_url: str | None = Field(
        default=None, validation_alias=_alias("original_url", "orginal_url")
    )

    @field_validator("width", "height", mode="before")
    @classmethod
    def _dimension(cls, value: Any) -> int | None:
        return _lenient_dimension(value)


class EventItem(WireModel):
    """One event of ``GET /events`` (``EventListItem``)."""

    event_id: int
    event_name: str | None = None
    event_slug: str | None = None
    event_date: str | None = None
    status: str | None = None
    cover_image: str | None = None


class EventDetails(WireModel):
    """``GET /event/{id}/details``: metadata and feature flags (missing flags are False)."""

    event_id: int | None = None
    event_name: str | None = None
    event_slug: str | None = None
    event_date: str | None = None
    status: str | None = None
    event_enabled: bool = False
    bib_search: bool = False
    selfie_search: bool = False
    name_search: bool = False
    video_search: bool = False
    video_selfie_search: bool = False
    timeline_search: bool = False


class Ping(WireModel):
    """``GET /event/{id}/ping``."""

    status: str | None = None
    org_id: int | None = None
    event_id: int | None = None


class Page(BaseModel, Generic[T]):
    """One page of a listing: its items, the server's pagination and the page number asked for."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    pagination: Pagination
    page: int

    @property
    def item_count(self) -> int:
        return len(self.items)


class ImageList(WireModel):
    """``data`` of All Photos, BIB Search and timeline images."""

    images: list[ImageItem] = Field(default_factory=list)
    pagination: Pagination = Field(default_factory=Pagination)


class EventList(WireModel):
    """``data`` of List Events."""

    events: list[EventItem] = Field(default_factory=list)
    pagination: Pagination = Field(default_factory=Pagination)

    @property
    def item_count(self) -> int:
        return len(self.events)


class PresignedUrl(WireModel):
    """A successful item of Download Originals: a time-limited URL and a suggested file name."""

    url: str = Field(min_length=1)
    filename: str | None = None
    image_id: str | None = None


class FailedUrl(WireModel):
    """An item of Download Originals for which no URL could be generated."""

    image_id: str | None = None
    error: str = "unknown error"
    path: str | None = None


class OriginalsPage(WireModel):
    """``data`` of ``POST /original-photos``."""

    presigned_urls: list[PresignedUrl] = Field(default_factory=list)
    failed_urls: list[FailedUrl] = Field(default_factory=list)
    total_images: int | None = None
    successful_count: int | None = None
    failed_count: int | None = None
    identifier: str | list[str] | None = None
    pagination: Pagination = Field(default_factory=Pagination)

    @property
    def item_count(self) -> int:
        return len(self.presigned_urls) + len(self.failed_urls)


class FaceSearchResult(WireModel):
    """``data`` of Face Search (POST and GET by ``request_id``)."""

    request_id: str | None = None
    confidence_percentage: float | None = None
    images: list[ImageItem] = Field(default_factory=list)
    pagination: Pagination = Field(default_factory=Pagination)

    @property
    def item_count(self) -> int:
        return len(self.images)


class TimelineHour(WireModel):
    """Photo count of one UTC hour (0-23)."""

    hour: int = Field(ge=0, le=23)
    count: int = 0


class TimelineDay(WireModel):
    """Photo counts of one UTC day."""

    date: dt.date
    total: int = 0
    hours: list[TimelineHour] = Field(default_factory=list)


class TimelineDays(WireModel):
    """``data`` of ``GET /timeline/days``."""

    days: list[TimelineDay] = Field(default_factory=list)


class ClipJob(BaseModel):
    """State of a video clipping job; its fields are undocumented, so the raw object is kept."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    request_id: str | None = None
    status: str | None = Field(default=None, validation_alias=_alias("status", "state"))
    raw: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**data, "raw": dict(data)}
        return data

    @property
    def terminal(self) -> bool:
        """True once the job reached a final status (completed, failed, error or done)."""
        return self.status is not None and self.status.strip().lower() in TERMINAL_CLIP_STATUSES


@dataclass(frozen=True)
class PresignResult:
    """Presigned URLs for a batch of image ids, reconciled against what was asked.

    ``urls``: id -> URL; ``failed``: id -> the server's error; ``missing``: ids the answer did not
    mention (unknown, ask again later); ``invalid``: ids the server refused with 400.
    """

    urls: dict[str, PresignedUrl] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
