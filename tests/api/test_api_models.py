"""Wire models accept every documented quirk and ignore everything else."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from syncer.api import (
    ClipJob,
    EventDetails,
    EventItem,
    FaceSearchResult,
    ImageItem,
    OriginalsPage,
    Pagination,
    Ping,
    TimelineDay,
)

FLAGS = (
    "event_enabled",
    "bib_search",
    "selfie_search",
    "name_search",
    "video_search",
    "video_selfie_search",
    "timeline_search",
)
KNOWN_IMAGE_KEYS = {
    "image_id",
    "img_url",
    "thumbnail_url",
    "thumbanail_url",
    "width",
    "widht",
    "height",
    "original_url",
    "orginal_url",
}

ids = st.text(min_size=1, max_size=40)
urls = st.from_regex(r"https://[a-z]{1,10}\.test/[a-z0-9/]{0,20}\.jpg", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
extra_keys = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_IMAGE_KEYS),
    json_scalars,
    max_size=5,
)


@settings(max_examples=80, deadline=None)
@given(
    image_id=ids,
    thumb=urls,
    original=st.none() | urls,
    width=st.none() | st.integers(min_value=0, max_value=20_000),
    misspelled=st.booleans(),
    extra=extra_keys,
)
def test_image_item_reads_either_spelling_and_ignores_extra_keys(
    image_id: str,
    thumb: str,
    original: str | None,
    width: int | None,
    misspelled: bool,
    extra: dict[str, Any],
) -> None:
    wire: dict[str, Any] = {**extra, "image_id": image_id, "img_url": thumb, "height": 10}
    wire["thumbanail_url" if misspelled else "thumbnail_url"] = thumb
    wire["widht" if misspelled else "width"] = width
    wire["orginal_url" if misspelled else "original_url"] = original

    item = ImageItem.model_validate(wire)

    assert item.image_id == image_id
    assert item.thumbnail_url == thumb
    assert item.width == width
    assert item.original_url == original
    assert item.height == 10


def test_correct_spelling_wins_and_null_falls_back_to_the_misspelled_key() -> None:
    both = ImageItem.model_validate(
        {"image_id": "a", "width": 10, "widht": 99, "thumbnail_url": None, "thumbanail_url": "t"}
    )
    assert both.width == 10
    assert both.thumbnail_url == "t"


@pytest.mark.parametrize(
    "image_id",
    ["b5513429-1d05-5f2f-c9f9-bd9f9g3gd355", "not a uuid at all", "ÅÆØ-123", "x"],
)
def test_image_ids_are_opaque_strings(image_id: str) -> None:
    assert ImageItem.model_validate({"image_id": image_id}).image_id == image_id


def test_numeric_image_id_becomes_a_string() -> None:
    assert ImageItem.model_validate({"image_id": 1234}).image_id == "1234"


@pytest.mark.parametrize("bad", [{}, {"image_id": ""}, {"image_id": None}, {"image_id": [1]}])
def test_image_without_a_usable_id_is_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ImageItem.model_validate(bad)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [(3240.0, 3240), ("4860", 4860), (None, None), ("wide", None), (-5, None), (True, None)],
)
def test_dimensions_are_lenient(wire: object, expected: int | None) -> None:
    assert ImageItem.model_validate({"image_id": "a", "height": wire}).height == expected


def test_image_null_fields_take_defaults() -> None:
    item = ImageItem.model_validate(
        {"image_id": "a", "img_url": None, "thumbnail_url": None, "width": None, "height": None}
    )
    assert (item.img_url, item.thumbnail_url, item.width, item.height) == (None,) * 4


def test_pagination_reads_camel_case_names() -> None:
    page = Pagination.model_validate(
        {
            "total": 1280,
            "currentPage": 2,
            "totalPages": 40,
            "hasNextPage": True,
            "hasPreviousPage": True,
            "page_size": 32,
        }
    )
    assert (page.total, page.current_page, page.total_pages) == (1280, 2, 40)
    assert page.has_next_page
    assert page.has_previous_page
    assert page.page_size == 32


@settings(max_examples=50, deadline=None)
@given(
    current=st.integers(min_value=0, max_value=10_000),
    pages=st.integers(min_value=0, max_value=10_000),
    has_next=st.booleans(),
    snake=st.booleans(),
    nulls=st.sets(st.sampled_from(["total", "page_size", "hasPreviousPage"])),
)
def test_pagination_accepts_snake_case_and_nulls(
    current: int, pages: int, has_next: bool, snake: bool, nulls: set[str]
) -> None:
    names = (
        ("current_page", "total_pages", "has_next_page")
        if snake
        else (
            "currentPage",
            "totalPages",
            "hasNextPage",
        )
    )
    wire: dict[str, Any] = dict(zip(names, (current, pages, has_next), strict=True))
    wire.update(dict.fromkeys(nulls))
    page = Pagination.model_validate(wire)
    assert (page.current_page, page.total_pages, page.has_next_page) == (current, pages, has_next)
    if "total" in nulls:
        assert page.total == 0
    if "page_size" in nulls:
        assert page.page_size is None


def test_pagination_defaults_are_safe() -> None:
    page = Pagination.model_validate({})
    assert page.total == 0
    assert page.total_pages == 0
    assert page.current_page is None
    assert page.has_next_page is False


def test_empty_event_pagination_reports_no_page() -> None:
    page = Pagination.model_validate(
        {"total": 0, "currentPage": 0, "totalPages": 0, "hasNextPage": False, "page_size": 32}
    )
    assert page.current_page == 0
    assert not page.has_next_page


@settings(max_examples=60, deadline=None)
@given(present=st.dictionaries(st.sampled_from(FLAGS), st.booleans()), extra=extra_keys)
def test_event_details_missing_flags_are_false(
    present: dict[str, bool], extra: dict[str, Any]
) -> None:
    details = EventDetails.model_validate({**extra, **present, "event_id": 456})
    for flag in FLAGS:
        assert getattr(details, flag) is present.get(flag, False)
    assert details.event_id == 456


def test_event_details_null_flag_is_false() -> None:
    assert EventDetails.model_validate({"bib_search": None}).bib_search is False


def test_event_item_keeps_nullable_fields() -> None:
    event = EventItem.model_validate(
        {"event_id": 789, "event_name": "Delhi", "cover_image": None, "status": "draft", "x": 1}
    )
    assert (event.event_id, event.event_name, event.cover_image) == (789, "Delhi", None)
    assert event.status == "draft"


def test_ping_flat_object() -> None:
    ping = Ping.model_validate({"status": "ok", "org_id": 903, "event_id": 456})
    assert (ping.status, ping.org_id, ping.event_id) == ("ok", 903, 456)


def test_originals_page_defaults_when_arrays_are_missing_or_null() -> None:
    page = OriginalsPage.model_validate({"presigned_urls": None, "identifier": None})
    assert page.presigned_urls == []
    assert page.failed_urls == []
    assert page.item_count == 0
    assert not page.pagination.has_next_page


def test_originals_page_reads_items_and_counts() -> None:
    page = OriginalsPage.model_validate(
        {
            "presigned_urls": [{"url": "https://s.test/a.jpg?sig=1", "filename": "a.jpg"}],
            "failed_urls": [{"image_id": "b", "error": "Failed to generate URL", "path": None}],
            "total_images": 2,
            "successful_count": 1,
            "failed_count": 1,
            "identifier": None,
        }
    )
    assert page.presigned_urls[0].filename == "a.jpg"
    assert page.failed_urls[0].error == "Failed to generate URL"
    assert page.item_count == 2


def test_face_search_result() -> None:
    result = FaceSearchResult.model_validate(
        {"request_id": "r-1", "confidence_percentage": None, "images": [{"image_id": "a"}]}
    )
    assert result.request_id == "r-1"
    assert result.confidence_percentage is None
    assert [one.image_id for one in result.images] == ["a"]


def test_timeline_day() -> None:
    day = TimelineDay.model_validate(
        {"date": "2024-01-01", "total": 125, "hours": [{"hour": 10, "count": 98}]}
    )
    assert day.date == dt.date(2024, 1, 1)
    assert [(h.hour, h.count) for h in day.hours] == [(10, 98)]


def test_timeline_hour_out_of_range_is_rejected() -> None:
    with pytest.raises(ValidationError):
        TimelineDay.model_validate({"date": "2024-01-01", "hours": [{"hour": 24}]})


@pytest.mark.parametrize(
    ("status", "terminal"),
    [("completed", True), ("FAILED", True), (" Error ", True), ("done", True),
     ("pending", False), ("processing", False), (None, False)],
)  # fmt: skip
def test_clip_job_terminal_statuses(status: str | None, terminal: bool) -> None:
    assert ClipJob.model_validate({"request_id": "r", "status": status}).terminal is terminal


def test_clip_job_keeps_unknown_fields_raw() -> None:
    wire = {"request_id": "r", "status": "completed", "clips": [{"url": "u"}], "eta": None}
    job = ClipJob.model_validate(wire)
    assert job.raw == wire
    assert job.status == "completed"
