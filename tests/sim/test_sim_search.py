"""BIB search, Face Search (POST/GET), Photo Timeline and Video Clipping."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from harness.sim import data, error_message
from syncer.api import ApiClient
from syncer.sim import Faults, Simulator
from syncer.sim.world import ODD_BIBS

UNKNOWN_ID = "0b8a3c4e-7c1e-4a5e-9a55-0d1f6b1c2d3e"


def _tagged(sim: Simulator, event_id: int, bib: str) -> list[str]:
    return [p.image_id for p in sim.photos(event_id) if bib.lower() in map(str.lower, p.bibs)]


@pytest.mark.parametrize(("asked", "tagged"), [("a-17", "A-17"), ("BX9", "Bx9"), ("0042", "0042")])
def test_bib_search_is_case_insensitive(
    sim: Simulator, client: httpx.Client, asked: str, tagged: str
) -> None:
    response = client.get(f"/event/456/bibs/{asked}", params={"page_size": 100})
    expected = _tagged(sim, 456, tagged)
    assert expected
    assert [i["image_id"] for i in data(response)["images"]] == expected
    assert response.json()["message"] == f"Records for bib number {asked}"


def test_bib_42_and_0042_are_different_bibs(sim: Simulator, client: httpx.Client) -> None:
    got = data(client.get("/event/456/bibs/42", params={"page_size": 100}))
    assert [i["image_id"] for i in got["images"]] == _tagged(sim, 456, "42")
    assert set(_tagged(sim, 456, "42")) != set(_tagged(sim, 456, "0042"))


def test_bib_with_encoded_slash_is_one_segment(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.add_photos(456, 1, bibs=("A/1",))[0]
    got = data(client.get("/event/456/bibs/a%2F1"))
    assert [i["image_id"] for i in got["images"]] == [photo.image_id]


@pytest.mark.parametrize("bib", ODD_BIBS)
def test_odd_bibs_are_found_through_the_client(sim: Simulator, bib: str) -> None:
    """Each odd BIB reaches the search as itself, whatever it holds ('/', '..', '?', '%')."""
    expected = _tagged(sim, 456, bib)
    assert expected
    with ApiClient(base_url=sim.base_url, org_id=sim.org_id, api_key=SecretStr(sim.api_key)) as api:
        found = [i.image_id for page in api.bib_pages(456, bib) for i in page.items]
    assert found == expected


def test_the_bib_index_follows_added_and_removed_photos(
    sim: Simulator, client: httpx.Client
) -> None:
    def search() -> list[str]:
        return [i["image_id"] for i in data(client.get("/event/456/bibs/9999"))["images"]]

    assert search() == []
    photo = sim.add_photos(456, 1, bibs=("9999",))[0]
    assert search() == [photo.image_id]
    sim.remove_photo(456, photo.image_id)
    assert search() == []


def _selfie(client: httpx.Client, content: bytes, **extra: object) -> httpx.Response:
    return client.post(
        "/event/456/faces", files={"file": ("me.jpg", content, "image/jpeg")}, **extra
    )


def test_face_search_is_deterministic_and_cached(client: httpx.Client) -> None:
    first = data(_selfie(client, b"selfie-one", params={"page_size": 100}))
    again = data(_selfie(client, b"selfie-one", params={"page_size": 100}))
    other = data(_selfie(client, b"selfie-two", params={"page_size": 100}))
    ids = [i["image_id"] for i in first["images"]]
    assert ids
    assert ids == [i["image_id"] for i in again["images"]]
    assert ids != [i["image_id"] for i in other["images"]]
    assert first["request_id"] != again["request_id"]
    assert first["confidence_percentage"] == 80
    cached = client.post(
        "/event/456/faces", data={"request_id": first["request_id"]}, params={"page_size": 100}
    )
    assert [i["image_id"] for i in data(cached)["images"]] == ids
    paged = data(client.get(f"/event/456/faces/{first['request_id']}", params={"page_size": 1}))
    assert paged["pagination"]["total"] == len(ids)
    assert [i["image_id"] for i in paged["images"]] == ids[:1]


def test_face_search_with_a_client_chosen_request_id(client: httpx.Client) -> None:
    chosen = "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f"
    made = data(_selfie(client, b"face", params={"request_id": chosen}))
    assert made["request_id"] == chosen
    assert data(client.get(f"/event/456/faces/{chosen.upper()}"))["request_id"] == chosen


def test_face_search_errors(client: httpx.Client) -> None:
    assert error_message(_selfie(client, b""), 400) == "The selfie file is empty"
    assert error_message(client.post("/event/456/faces", data={"x": "1"}), 422)
    assert "body.file" in error_message(client.post("/event/456/faces"), 422)
    bad_id = _selfie(client, b"face", params={"request_id": "not-a-uuid"})
    assert error_message(bad_id, 400) == "request_id must be a UUID"
    assert error_message(client.get(f"/event/456/faces/{UNKNOWN_ID}"), 404)
    unknown = client.post("/event/456/faces", data={"request_id": UNKNOWN_ID})
    assert error_message(unknown, 404)


def test_timeline_days_bucket_by_utc_day_and_hour(sim: Simulator, client: httpx.Client) -> None:
    expected: Counter[tuple[str, int]] = Counter()
    for photo in sim.photos(459):
        if photo.captured_at is not None:
            moment = datetime.fromtimestamp(photo.captured_at, UTC)
            expected[(moment.date().isoformat(), moment.hour)] += 1
    days = data(client.get("/event/459/timeline/days"))["days"]
    assert len(days) == 2, "event 459 starts 22:30 UTC and runs past midnight"
    assert [d["date"] for d in days] == sorted(d["date"] for d in days)
    got = {(d["date"], h["hour"]): h["count"] for d in days for h in d["hours"]}
    assert got == dict(expected)
    assert all(d["total"] == sum(h["count"] for h in d["hours"]) for d in days)
    for day in days:
        assert [h["hour"] for h in day["hours"]] == sorted(h["hour"] for h in day["hours"])


def test_timeline_images_window_is_half_open(sim: Simulator, client: httpx.Client) -> None:
    timed = [p for p in sim.photos(456) if p.captured_at is not None]
    low, high = timed[5].captured_at, timed[20].captured_at
    assert low is not None
    assert high is not None
    got = data(
        client.get("/event/456/timeline/images", params={"from": low, "to": high, "page_size": 100})
    )
    expected = [p.image_id for p in timed if low <= p.captured_at < high]  # type: ignore[operator]
    assert [i["image_id"] for i in got["images"]] == expected
    everything = data(client.get("/event/456/timeline/images", params={"page_size": 100}))
    assert everything["pagination"]["total"] == len(timed)
    message = error_message(client.get("/event/456/timeline/images", params={"from": "x"}), 422)
    assert message == "query.from: value is not a valid number"


def test_video_clipping_progresses_to_completed(client: httpx.Client) -> None:
    search = data(_selfie(client, b"runner"))
    start = client.post(
        "/event/456/video-clipping/search-by-selfie", json={"request_id": search["request_id"]}
    )
    assert start.status_code == 202
    assert data(start)["status"] == "pending"
    path = f"/event/456/video-clipping/{search['request_id']}"
    states = [data(client.get(path))["status"] for _ in range(4)]
    assert states == ["pending", "processing", "completed", "completed"]
    clips = data(client.get(path))["clips"]
    assert clips
    assert all(c["clip_url"].endswith(".mp4") for c in clips)


def test_video_clipping_from_upload_and_failure(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.clip_polls = 1
    sim.faults.clip_fail = True
    start = client.post(
        "/event/456/video-clipping/search-by-selfie", files={"file": ("a.jpg", b"x", "image/jpeg")}
    )
    request_id = data(start)["request_id"]
    polled = data(client.get(f"/event/456/video-clipping/{request_id}"))
    assert (polled["status"], polled["clips"]) == ("failed", [])
    assert error_message(client.get(f"/event/456/video-clipping/{UNKNOWN_ID}"), 404)
    missing = client.post("/event/456/video-clipping/search-by-selfie", json={})
    assert error_message(missing, 422) == "body.file: field required"


def test_faults_object_is_shared_with_the_running_server(sim: Simulator) -> None:
    assert isinstance(sim.faults, Faults)
    sim.faults.compat_flat = True
    response = httpx.get(
        f"{sim.base_url}/api/v1/ext/903/event/456/ping", headers={"X-API-Key": sim.api_key}
    )
    assert response.json() == {"status": "ok", "org_id": 903, "event_id": 456}
