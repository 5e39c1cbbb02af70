"""POST original-photos: the four methods, outcome rules, pagination, per-item faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.sim import MakeSim, api_base, data, error_message
from syncer.sim import Simulator

PATH = "/event/456/original-photos"


def _post(client: httpx.Client, body: Any, **params: object) -> httpx.Response:
    return client.post(PATH, json=body, params=params)


def _stems(got: dict[str, Any]) -> list[str]:
    return [item["filename"].removesuffix(".jpg") for item in got["presigned_urls"]]


def test_image_ids_give_one_link_per_id(sim: Simulator, client: httpx.Client) -> None:
    ids = [p.image_id for p in sim.photos(456)[:5]]
    got = data(_post(client, {"method": "image_ids", "identifier": ids}))
    assert _stems(got) == ids
    assert all(set(item) == {"url", "filename"} for item in got["presigned_urls"])
    assert (got["total_images"], got["successful_count"], got["failed_count"]) == (5, 5, 0)
    assert got["identifier"] is None
    assert got["failed_urls"] == []
    assert sim.stats.presign_calls == 1
    assert sim.stats.urls_issued == 5


def test_duplicates_are_answered_once(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.photos(456)[0].image_id
    got = data(_post(client, {"method": "image_ids", "identifier": [photo, photo]}))
    assert _stems(got) == [photo]


def test_pages_slice_the_resolved_list(sim: Simulator, client: httpx.Client) -> None:
    ids = [p.image_id for p in sim.photos(456)[:25]]
    body = {"method": "image_ids", "identifier": ids}
    pages = [data(_post(client, body, page=n, page_size=10)) for n in (1, 2, 3, 4)]
    assert [len(p["presigned_urls"]) for p in pages] == [10, 10, 5, 0]
    assert [stem for p in pages for stem in _stems(p)] == ids
    assert pages[0]["pagination"]["totalPages"] == 3
    assert pages[0]["total_images"] == 25
    assert pages[0]["successful_count"] == 10


def test_single_image_id_and_bib_echo_the_identifier(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.photos(456)[3].image_id
    single = data(_post(client, {"method": "image_id", "identifier": photo}))
    assert (_stems(single), single["identifier"]) == ([photo], photo)
    by_bib = data(_post(client, {"method": "bib", "identifier": "a-17"}))
    expected = [p.image_id for p in sim.photos(456) if "A-17" in p.bibs]
    assert (_stems(by_bib), by_bib["identifier"]) == (expected, "a-17")
    nothing = _post(client, {"method": "bib", "identifier": "99999"})
    assert data(nothing)["presigned_urls"] == []
    assert data(nothing)["failed_urls"] == []
    assert "No images found" in nothing.json()["message"]
    assert sim.stats.snapshot()["originals_by_method"] == {"image_id": 1, "bib": 2}


def test_selfie_method_uses_the_face_search(client: httpx.Client) -> None:
    search = data(
        client.post(
            "/event/456/faces",
            files={"file": ("me.jpg", b"my face", "image/jpeg")},
            params={"page_size": 100},
        )
    )
    got = data(_post(client, {"method": "selfie", "identifier": search["request_id"]}))
    assert _stems(got) == [i["image_id"] for i in search["images"]]
    assert got["identifier"] == search["request_id"]
    unknown = {"method": "selfie", "identifier": "0b8a3c4e-7c1e-4a5e-9a55-0d1f6b1c2d3e"}
    assert error_message(_post(client, unknown), 404)


def test_unknown_ids_are_400(sim: Simulator, client: httpx.Client) -> None:
    one = _post(client, {"method": "image_id", "identifier": "nope"})
    assert error_message(one, 400) == "Image nope not found for this event"
    every = _post(client, {"method": "image_ids", "identifier": ["nope", "nada"]})
    assert "None of the requested image ids" in error_message(every, 400)
    foreign = sim.photos(457)[0].image_id
    assert error_message(_post(client, {"method": "image_id", "identifier": foreign}), 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"identifier": "1"}, "body.method: field required"),
        ({"method": "all", "identifier": "1"}, "body.method: value is not a valid enumeration"),
        ({"method": "bib"}, "body.identifier: field required"),
        ({"method": "image_ids", "identifier": []}, "ensure this value has at least 1 items"),
        ({"method": "image_ids", "identifier": "x"}, "body.identifier: value is not a valid list"),
        ({"method": "image_ids", "identifier": ["a", 3]}, "body.identifier.1: str type expected"),
        ({"method": "image_id", "identifier": ["a"]}, "body.identifier: str type expected"),
        ([1, 2], "body: value is not a valid dict"),
    ],
)
def test_schema_errors_are_422(client: httpx.Client, body: Any, message: str) -> None:
    assert message in error_message(_post(client, body), 422)


def test_invalid_json_is_422(client: httpx.Client) -> None:
    response = client.post(PATH, content=b"{nope", headers={"Content-Type": "application/json"})
    assert error_message(response, 422) == "body: invalid JSON"


def test_partially_invalid_ids_failed_mode(sim: Simulator, client: httpx.Client) -> None:
    good = sim.photos(456)[0].image_id
    got = data(_post(client, {"method": "image_ids", "identifier": [good, "ghost"]}))
    assert _stems(got) == [good]
    assert got["failed_urls"] == [{"image_id": "ghost", "error": "Image not found", "path": None}]
    assert (got["total_images"], got["failed_count"]) == (2, 1)


def test_partially_invalid_ids_drop_mode(make_sim: MakeSim) -> None:
    sim = make_sim(partial_invalid_ids="drop")
    good = sim.photos(456)[0].image_id
    with httpx.Client(base_url=api_base(sim), headers={"X-API-Key": sim.api_key}) as client:
        got = data(_post(client, {"method": "image_ids", "identifier": ["ghost", good]}))
    assert _stems(got) == [good]
    assert got["failed_urls"] == []
    assert got["total_images"] == 1


def test_failed_ids_and_failed_every(sim: Simulator, client: httpx.Client) -> None:
    ids = [p.image_id for p in sim.photos(456)[:6]]
    sim.faults.failed_ids = {ids[0]}
    sim.faults.failed_every = 3
    got = data(_post(client, {"method": "image_ids", "identifier": ids}))
    failed = [item["image_id"] for item in got["failed_urls"]]
    assert failed == [ids[0], ids[2], ids[5]]
    assert got["failed_urls"][0] == {
        "image_id": ids[0],
        "error": "Failed to generate URL",
        "path": f"imgs/456/large/{ids[0]}.jpg",
    }
    assert _stems(got) == [ids[1], ids[3], ids[4]]


def test_drop_ids_every_silently_omits(sim: Simulator, client: httpx.Client) -> None:
    ids = [p.image_id for p in sim.photos(456)[:4]]
    sim.faults.drop_ids_every = 2
    got = data(_post(client, {"method": "image_ids", "identifier": ids}))
    assert _stems(got) == [ids[0], ids[2]]
    assert got["failed_urls"] == []


def test_removed_photo_is_reported_not_found(sim: Simulator, client: httpx.Client) -> None:
    ids = [p.image_id for p in sim.photos(456)[:2]]
    sim.remove_photo(456, ids[1])
    got = data(_post(client, {"method": "image_ids", "identifier": ids}))
    assert [f["image_id"] for f in got["failed_urls"]] == [ids[1]]
