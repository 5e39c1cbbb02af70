"""Personal archives: BIB-marker selfies, clip jobs and clip files, original-photos by bib and
selfie, timeline windows, all paged as the reference says."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from harness.sim import data, error_message
from syncer.sim import Simulator, bib_marker, selfie_jpeg
from syncer.sim.jpeg import EOI, SOI
from syncer.sim.mp4 import boxes, render_clip


def _tagged(sim: Simulator, event_id: int, *bibs: str) -> list[str]:
    wanted = {b.casefold() for b in bibs}
    return [p.image_id for p in sim.photos(event_id) if wanted & {b.casefold() for b in p.bibs}]


def _search(client: httpx.Client, selfie: bytes, **params: Any) -> dict[str, Any]:
    files = {"file": ("me.jpg", selfie, "image/jpeg")}
    got: dict[str, Any] = data(client.post("/event/456/faces", files=files, params=params))
    return got


def _every_page(client: httpx.Client, path: str, size: int, **params: Any) -> list[str]:
    ids: list[str] = []
    first = data(client.get(path, params={**params, "page_size": size}))
    pages = first["pagination"]["totalPages"]
    assert pages == math.ceil(first["pagination"]["total"] / size)
    for page in range(1, pages + 1):
        got = data(client.get(path, params={**params, "page": page, "page_size": size}))
        assert got["pagination"]["currentPage"] == page
        assert got["pagination"]["hasNextPage"] == (page < pages)
        ids += [item["image_id"] for item in got["images"]]
    return ids


def test_selfie_jpeg_is_a_jpeg_carrying_its_markers() -> None:
    selfie = selfie_jpeg(["A-17", "0042"])
    assert selfie.startswith(SOI + b"\xff\xfe")
    assert selfie.endswith(EOI)
    assert bib_marker("A-17") in selfie
    assert bib_marker("0042") in selfie
    assert selfie_jpeg(["A-17", "0042"]) == selfie


def test_a_bib_marker_selfie_matches_that_bibs_photos(sim: Simulator, client: httpx.Client) -> None:
    expected = _tagged(sim, 456, "A-17")
    assert len(expected) >= 2
    found = _search(client, selfie_jpeg(["a-17"]), page_size=100)
    assert [i["image_id"] for i in found["images"]] == expected
    assert found["pagination"]["total"] == len(expected)
    path = f"/event/456/faces/{found['request_id']}"
    assert _every_page(client, path, 1) == expected
    both = _search(client, b"any bytes " + bib_marker("A-17") + bib_marker("0042"))
    assert [i["image_id"] for i in both["images"]] == _tagged(sim, 456, "A-17", "0042")


def test_a_marker_for_an_unknown_bib_matches_nothing(client: httpx.Client) -> None:
    response = client.post(
        "/event/456/faces", files={"file": ("me.jpg", selfie_jpeg(["nobody"]), "image/jpeg")}
    )
    assert response.json()["message"] == "No images found"
    assert data(response)["images"] == []
    assert data(response)["pagination"]["totalPages"] == 0


def _start(client: httpx.Client, request_id: str) -> dict[str, Any]:
    response = client.post(
        "/event/456/video-clipping/search-by-selfie", json={"request_id": request_id}
    )
    assert response.status_code == 202
    got: dict[str, Any] = data(response)
    return got


def _poll(client: httpx.Client, request_id: str) -> dict[str, Any]:
    got: dict[str, Any] = data(client.get(f"/event/456/video-clipping/{request_id}"))
    return got


def test_clip_urls_serve_valid_mp4_files_without_the_key(
    sim: Simulator, client: httpx.Client
) -> None:
    request_id = _search(client, selfie_jpeg(["A-17"]))["request_id"]
    assert _start(client, request_id)["status"] == "pending"
    states = [_poll(client, request_id) for _ in range(3)]
    assert [s["status"] for s in states] == ["pending", "processing", "completed"]
    assert states[0]["clips"] == states[1]["clips"] == []
    clips = states[2]["clips"]
    assert 1 <= len(clips) <= 3
    bodies = []
    for n, clip in enumerate(clips):
        assert clip["clip_url"] == f"{sim.base_url}/clips/456/{request_id}/{n}.mp4"
        assert clip["duration_seconds"] == 8
        answer = httpx.get(clip["clip_url"])  # no X-API-Key
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "video/mp4"
        assert int(answer.headers["content-length"]) == len(answer.content)
        assert answer.content[4:8] == b"ftyp"
        assert [kind for kind, _ in boxes(answer.content)] == [b"ftyp", b"moov", b"mdat"]
        assert httpx.get(clip["clip_url"]).content == answer.content
        bodies.append(answer.content)
    assert len(set(bodies)) == len(bodies)
    assert sim.stats.storage_requests_with_api_key == 0
    assert sim.stats.clip_downloads == {
        f"clips/456/{request_id}/{n}.mp4": 2 for n in range(len(clips))
    }


def test_clip_ranges_resume_a_download(client: httpx.Client) -> None:
    request_id = _search(client, selfie_jpeg(["0042"]))["request_id"]
    _start(client, request_id)
    url = [_poll(client, request_id) for _ in range(3)][-1]["clips"][0]["clip_url"]
    whole = httpx.get(url).content
    tail = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    assert whole[:1000] + tail.content == whole


def test_clip_urls_are_404_until_the_job_completes(sim: Simulator, client: httpx.Client) -> None:
    request_id = _search(client, selfie_jpeg(["A-17"]))["request_id"]
    _start(client, request_id)
    url = f"{sim.base_url}/clips/456/{request_id}/0.mp4"
    early = httpx.get(url)
    assert early.status_code == 404
    assert "<Code>NoSuchKey</Code>" in early.text
    for _ in range(3):
        _poll(client, request_id)
    assert httpx.get(url).status_code == 200
    assert httpx.get(f"{sim.base_url}/clips/456/{request_id}/7.mp4").status_code == 404
    assert httpx.get(f"{sim.base_url}/clips/456/not-a-job/0.mp4").status_code == 404


def test_clip_404_once(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.clip_404_once = True
    sim.faults.clip_polls = 1
    request_id = _search(client, selfie_jpeg(["A-17"]))["request_id"]
    _start(client, request_id)
    url = _poll(client, request_id)["clips"][0]["clip_url"]
    assert httpx.get(url).status_code == 404
    assert httpx.get(url).status_code == 200
    assert httpx.get(url).status_code == 200


def test_a_job_that_never_finishes(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.clip_never_finishes = True
    request_id = _search(client, selfie_jpeg(["A-17"]))["request_id"]
    _start(client, request_id)
    states = [_poll(client, request_id) for _ in range(12)]
    assert [s["status"] for s in states] == ["pending"] + ["processing"] * 11
    assert all(s["clips"] == [] and s["error"] is None for s in states)
    sim.faults.clip_never_finishes = False
    assert _poll(client, request_id)["status"] == "completed"


def test_a_selfie_without_matches_completes_with_no_clips(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.clip_polls = 1
    request_id = _search(client, selfie_jpeg(["nobody"]))["request_id"]
    _start(client, request_id)
    assert _poll(client, request_id) == {
        "request_id": request_id,
        "status": "completed",
        "clips": [],
        "error": None,
    }


def test_clip_files_are_exact_iso_boxes() -> None:
    for size in (0, 200, 48_000):
        blob = render_clip("clips/456/x/0.mp4", size, 8)
        headers = 28 + 116 + 8  # ftyp, moov holding mvhd, the mdat header
        assert sum(length for _, length in boxes(blob)) == len(blob) == max(size, headers)
    with pytest.raises(ValueError, match="claims"):
        list(boxes(render_clip("c", 1000, 8)[:-1]))


def _originals(client: httpx.Client, body: dict[str, Any], page: int, size: int) -> Any:
    return data(
        client.post(
            "/event/456/original-photos", json=body, params={"page": page, "page_size": size}
        )
    )


@pytest.mark.parametrize("method", ["bib", "selfie"])
def test_original_photos_by_bib_and_selfie_are_paged(
    sim: Simulator, client: httpx.Client, method: str
) -> None:
    expected = _tagged(sim, 456, "A-17")
    identifier = "A-17" if method == "bib" else _search(client, selfie_jpeg(["A-17"]))["request_id"]
    body = {"method": method, "identifier": identifier}
    stems: list[str] = []
    for page in range(1, len(expected) + 1):
        got = _originals(client, body, page, 1)
        assert got["identifier"] == identifier
        assert got["total_images"] == len(expected)
        assert got["pagination"]["totalPages"] == len(expected)
        assert got["pagination"]["hasNextPage"] == (page < len(expected))
        stems += [item["filename"].removesuffix(".jpg") for item in got["presigned_urls"]]
    assert stems == expected
    beyond = _originals(client, body, len(expected) + 1, 1)
    assert beyond["presigned_urls"] == []
    default = _originals(client, body, 1, 30)
    assert default["pagination"]["page_size"] == 30
    too_big = client.post("/event/456/original-photos", json=body, params={"page_size": 61})
    assert "less than or equal to 60" in error_message(too_big, 422)


def test_original_photos_selfie_without_matches(client: httpx.Client) -> None:
    request_id = _search(client, selfie_jpeg(["nobody"]))["request_id"]
    response = client.post(
        "/event/456/original-photos", json={"method": "selfie", "identifier": request_id}
    )
    assert response.json()["message"] == f"No images found for selfie identifier {request_id}"
    assert data(response)["presigned_urls"] == []


def test_timeline_window_pages_exactly_the_half_open_window(
    sim: Simulator, client: httpx.Client
) -> None:
    timed = [p for p in sim.photos(456) if p.captured_at is not None]
    low, high = timed[3].captured_at, timed[30].captured_at
    assert low is not None
    assert high is not None
    inside = [p.image_id for p in timed if low <= p.captured_at < high]  # type: ignore[operator]
    assert len(inside) > 10
    window = {"from": int(low), "to": int(high)}
    assert _every_page(client, "/event/456/timeline/images", 4, **window) == inside
    only_from = [p.image_id for p in timed if p.captured_at >= low]  # type: ignore[operator]
    assert _every_page(client, "/event/456/timeline/images", 100, **{"from": int(low)}) == only_from
    default = data(client.get("/event/456/timeline/images"))
    assert default["pagination"]["page_size"] == 32
    too_big = client.get("/event/456/timeline/images", params={"page_size": 101})
    assert "less than or equal to 100" in error_message(too_big, 422)
    empty = data(client.get("/event/456/timeline/images", params={"from": 1, "to": 2}))
    assert (empty["images"], empty["pagination"]["currentPage"]) == ([], 0)


def test_timeline_days_add_up_to_the_timed_photos(sim: Simulator, client: httpx.Client) -> None:
    days = data(client.get("/event/456/timeline/days"))["days"]
    timed = [p for p in sim.photos(456) if p.captured_at is not None]
    assert len(timed) < len(sim.photos(456)), "some photos have no capture time"
    assert sum(day["total"] for day in days) == len(timed)
