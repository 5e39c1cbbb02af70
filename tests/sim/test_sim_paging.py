"""§3.4 pagination: defaults, maxima, 422 vs clamp, edges; §3.5 ordering; envelopes."""

from __future__ import annotations

import math

import httpx
import pytest

from harness.sim import MakeSim, api_base, data, error_message, walk_ids
from syncer.sim import Simulator

SELFIE_ID = "0b8a3c4e-7c1e-4a5e-9a55-0d1f6b1c2d3e"


def _get(client: httpx.Client, path: str, **params: object) -> httpx.Response:
    if path.endswith("original-photos"):
        return client.post(path, params=params, json={"method": "bib", "identifier": "42"})
    return client.get(path, params=params)


ENDPOINTS = [  # path, default page_size, max page_size
    ("/events", 10, 100),
    ("/event/456/images", 32, 100),
    ("/event/456/bibs/42", 32, 100),
    ("/event/456/timeline/images", 32, 100),
    ("/event/456/original-photos", 30, 60),
]


@pytest.mark.parametrize(("path", "default", "maximum"), ENDPOINTS)
def test_defaults_and_maxima(client: httpx.Client, path: str, default: int, maximum: int) -> None:
    assert data(_get(client, path))["pagination"]["page_size"] == default
    assert data(_get(client, path, page_size=maximum))["pagination"]["page_size"] == maximum
    message = error_message(_get(client, path, page_size=maximum + 1), 422)
    assert message == f"query.page_size: ensure this value is less than or equal to {maximum}"


@pytest.mark.parametrize(("path", "default", "maximum"), ENDPOINTS)
def test_clamp_mode(make_sim: MakeSim, path: str, default: int, maximum: int) -> None:
    sim = make_sim(oversize_page="clamp")
    with httpx.Client(base_url=api_base(sim), headers={"X-API-Key": sim.api_key}) as client:
        got = data(_get(client, path, page_size=maximum + 50))
        assert got["pagination"]["page_size"] == maximum
        assert error_message(_get(client, path, page=0), 422)


def test_schema_problems_are_joined_in_one_422(client: httpx.Client) -> None:
    message = error_message(_get(client, "/event/456/images", page=0, page_size="x"), 422)
    assert message == (
        "query.page: ensure this value is greater than or equal to 1; "
        "query.page_size: value is not a valid integer"
    )
    assert (
        error_message(_get(client, "/event/456/images", page_size=0), 422)
        == "query.page_size: ensure this value is greater than or equal to 1"
    )
    assert (
        error_message(_get(client, "/event/456/images", page="1.5"), 422)
        == "query.page: value is not a valid integer"
    )


def test_pagination_metadata_and_beyond_the_last_page(client: httpx.Client) -> None:
    first = data(_get(client, "/event/456/images", page=1, page_size=15))
    assert len(first["images"]) == 15
    assert first["pagination"] == {
        "total": 40,
        "currentPage": 1,
        "totalPages": 3,
        "hasNextPage": True,
        "hasPreviousPage": False,
        "page_size": 15,
    }
    last = data(_get(client, "/event/456/images", page=3, page_size=15))
    assert len(last["images"]) == 10
    assert (last["pagination"]["hasNextPage"], last["pagination"]["hasPreviousPage"]) == (
        False,
        True,
    )
    beyond = _get(client, "/event/456/images", page=9, page_size=15)
    assert data(beyond)["images"] == []
    assert data(beyond)["pagination"]["currentPage"] == 9


def test_zero_results_have_no_page(client: httpx.Client) -> None:
    response = _get(client, "/event/456/bibs/no-such-bib")
    assert response.json()["message"] == "No images found"
    assert data(response) == {
        "images": [],
        "pagination": {
            "total": 0,
            "currentPage": 0,
            "totalPages": 0,
            "hasNextPage": False,
            "hasPreviousPage": False,
            "page_size": 32,
        },
    }


def test_empty_event_says_no_images_found(make_sim: MakeSim) -> None:
    sim = make_sim(photos_per_event=0)
    response = httpx.get(f"{api_base(sim)}/event/456/images", headers={"X-API-Key": sim.api_key})
    assert response.json()["message"] == "No images found"
    assert data(response)["pagination"]["totalPages"] == 0


@pytest.mark.parametrize("size", [1, 7, 32, 100])
def test_all_photos_pages_follow_the_true_order(
    sim: Simulator, client: httpx.Client, size: int
) -> None:
    expected = [p.image_id for p in sim.photos(459)]
    assert walk_ids(client, 459, size) == expected
    got = data(_get(client, "/event/459/images", page_size=size))
    assert got["pagination"]["totalPages"] == math.ceil(40 / size)


def test_image_items_have_the_documented_fields(sim: Simulator, client: httpx.Client) -> None:
    item = data(_get(client, "/event/456/images", page_size=1))["images"][0]
    photo = sim.photos(456)[0]
    assert set(item) == {"img_url", "height", "width", "image_id", "thumbnail_url", "original_url"}
    assert (item["image_id"], item["width"], item["height"]) == (
        photo.image_id,
        photo.width,
        photo.height,
    )
    assert item["original_url"] is None
    preview = httpx.get(item["img_url"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/jpeg"
    assert httpx.get(item["thumbnail_url"]).content == preview.content


def test_events_list_and_details(client: httpx.Client) -> None:
    listed = data(_get(client, "/events", page_size=2))
    assert listed["pagination"]["total"] == 5
    assert set(listed["events"][0]) == {
        "event_id",
        "event_name",
        "event_slug",
        "event_date",
        "status",
        "cover_image",
    }
    every = data(_get(client, "/events", page_size=100))["events"]
    assert [e["event_id"] for e in every] == [455, 456, 457, 458, 459]
    details = data(client.get("/event/459/details"))
    assert details["event_name"] == "Zürich Lauf: 10K / Halb?*"
    assert details["bib_search"] is True
    assert details["name_search"] is False
    draft = data(client.get("/event/457/details"))
    assert (draft["status"], draft["event_enabled"], draft["video_search"]) == (
        "draft",
        False,
        False,
    )
    assert data(client.get("/event/458/details"))["event_slug"] is None
