"""Latency and bandwidth knobs, concurrency, and the per-photo count of complete downloads."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from harness.sim import MakeSim, PacingClock
from syncer.errors import ConfigError
from syncer.sim import Faults, Simulator

CONNECTIONS = 64


def _first_byte_after(url: str) -> float:
    """Seconds from sending a GET to receiving the first byte of the answer (status line)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        began = time.monotonic()
        conn.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert conn.recv(1)
        return time.monotonic() - began


def test_storage_latency_comes_before_the_first_byte(make_sim: MakeSim) -> None:
    sim = make_sim(Faults(slow_storage_seconds=0.25))
    url = sim.presign(456, sim.photos(456)[0].image_id)
    assert _first_byte_after(url) >= 0.24


def _get(
    url: str, headers: dict[str, str] | None = None, *, settle: bool = False
) -> tuple[int, bytes]:
    """One GET on a fresh connection; ``settle`` then sends a HEAD on the same connection,
    which the server reads only once it is done with the GET (its last pacing sleep)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    target = f"{parts.path}?{parts.query}"
    try:
        conn.request("GET", target, headers=headers or {})
        answer = conn.getresponse()
        got = answer.status, answer.read()
        if settle:
            conn.request("HEAD", target)
            conn.getresponse().read()
        return got
    finally:
        conn.close()


def _all_at_once(calls: list[Callable[[], tuple[int, bytes]]]) -> tuple[float, list[int]]:
    """Run every call on its own thread, released together; (wall seconds, statuses)."""
    gate = threading.Barrier(len(calls) + 1)
    statuses: list[int] = []

    def run(call: Callable[[], tuple[int, bytes]]) -> None:
        gate.wait()
        statuses.append(call()[0])

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join(timeout=30)
    return time.monotonic() - began, statuses


def test_64_slow_storage_bodies_are_served_concurrently(make_sim: MakeSim) -> None:
    sim = make_sim(Faults(slow_storage_seconds=0.3), photos_per_event=CONNECTIONS)
    urls = [sim.presign(456, p.image_id) for p in sim.photos(456)]
    took, statuses = _all_at_once([lambda u=u: _get(u) for u in urls])  # type: ignore[misc]
    assert statuses == [200] * CONNECTIONS
    assert took < 3.0, f"{CONNECTIONS} bodies took {took:.1f} s: serialised would be 19 s"


def test_64_slow_api_calls_are_answered_concurrently(make_sim: MakeSim) -> None:
    sim = make_sim(Faults(slow_api_seconds=0.3))
    url = f"{sim.base_url}/api/v1/ext/{sim.org_id}/event/456/ping?"
    key = {"X-API-Key": sim.api_key}
    took, statuses = _all_at_once([lambda: _get(url, key)] * CONNECTIONS)
    assert statuses == [200] * CONNECTIONS
    assert took < 3.0, f"{CONNECTIONS} API calls took {took:.1f} s: serialised would be 19 s"


def test_bandwidth_cap_paces_in_small_slices(make_sim: MakeSim) -> None:
    pacing = PacingClock()
    sim = make_sim(Faults(storage_bytes_per_second=100_000), sleep=pacing.sleep, monotonic=pacing)
    photo = sim.photos(456)[0]
    status, body = _get(sim.presign(456, photo.image_id), settle=True)
    assert (status, body) == (200, sim.photo_path(456, photo.image_id).read_bytes())
    slices = -(-photo.size // 2_000)  # 100 kB/s: 20 ms slices of 2,000 bytes (>= 8 per body)
    assert len(pacing.calls) == slices, "paced in slices, not one sleep"
    assert max(pacing.calls) == pytest.approx(0.02)
    assert sum(pacing.calls) == pytest.approx(photo.size / 100_000)


def test_bandwidth_cap_holds_per_connection_in_real_time(make_sim: MakeSim) -> None:
    # 50 kB/s makes each body take ~0.4 s, so connection set-up and a busy machine are small
    # next to it; four bodies under one shared cap would take 4x that, under a cap each 1x.
    cap = 50_000
    sim = make_sim(Faults(storage_bytes_per_second=cap))
    photos = sim.photos(456)[:4]
    size = max(p.size for p in photos)
    one = time.monotonic()
    assert _get(sim.presign(456, photos[0].image_id))[0] == 200
    alone = time.monotonic() - one
    took, statuses = _all_at_once(
        [lambda p=p: _get(sim.presign(456, p.image_id)) for p in photos]  # type: ignore[misc]
    )
    assert statuses == [200] * len(photos)
    assert alone >= photos[0].size / cap * 0.9
    assert took < 2 * size / cap, "each connection gets the cap, not a share of one"


def test_bandwidth_cap_applies_to_ranges_and_can_be_lifted(make_sim: MakeSim) -> None:
    pacing = PacingClock()
    sim = make_sim(Faults(storage_bytes_per_second=50_000), sleep=pacing.sleep, monotonic=pacing)
    photo = sim.photos(456)[0]
    url = sim.presign(456, photo.image_id)
    status, part = _get(url, {"Range": "bytes=0-4999"}, settle=True)
    assert (status, len(part)) == (206, 5000)
    assert sum(pacing.calls) == pytest.approx(0.1)
    sim.faults.storage_bytes_per_second = None
    pacing.calls.clear()
    assert _get(url)[0] == 200
    assert pacing.calls == []


def test_link_cap_is_shared_by_every_connection(make_sim: MakeSim) -> None:
    sim = make_sim(Faults(storage_link_bytes_per_second=200_000))
    photos = sim.photos(456)[:3]
    took, statuses = _all_at_once(
        [lambda p=p: _get(sim.presign(456, p.image_id)) for p in photos]  # type: ignore[misc]
    )
    assert statuses == [200, 200, 200]
    total = sum(p.size for p in photos)
    assert took >= total / 200_000 * 0.85, "three bodies share the link"


def test_link_cap_alone_paces_one_body(make_sim: MakeSim) -> None:
    pacing = PacingClock()
    sim = make_sim(
        Faults(storage_link_bytes_per_second=400_000), sleep=pacing.sleep, monotonic=pacing
    )
    photo = sim.photos(456)[0]
    status, body = _get(sim.presign(456, photo.image_id), settle=True)
    assert (status, len(body)) == (200, photo.size)
    assert len(pacing.calls) >= 8
    assert sum(pacing.calls) == pytest.approx(photo.size / 400_000)


@pytest.mark.parametrize("knob", ["storage_bytes_per_second", "storage_link_bytes_per_second"])
@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "fast"])
def test_bandwidth_caps_must_be_positive_integers(knob: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=f"{knob} must be an integer >= 1"):
        Faults(**{knob: bad})


def _download(sim: Simulator, image_id: str, **headers: str) -> httpx.Response:
    return httpx.get(sim.presign(456, image_id), headers=headers)


def test_full_downloads_count_whole_200_bodies_only(sim: Simulator) -> None:
    first, second = (p.image_id for p in sim.photos(456)[:2])
    assert _download(sim, first).status_code == 200
    assert _download(sim, second, Range="bytes=0-99").status_code == 206
    assert httpx.head(sim.presign(456, second)).status_code == 200
    assert sim.stats.full_downloads == {first: 1}
    assert sim.stats.downloaded_more_than_once() == {}
    assert _download(sim, first).status_code == 200
    assert sim.stats.downloaded_more_than_once() == {first: 2}
    assert sim.stats.snapshot()["full_downloads"] == {first: 2}
    sim.stats.reset()
    assert sim.stats.full_downloads == {}


def test_cut_or_corrupted_bodies_are_not_full_downloads(sim: Simulator) -> None:
    image_id = sim.photos(456)[0].image_id
    sim.faults.drop_mid_body_every = 1
    with pytest.raises(httpx.RemoteProtocolError):
        _download(sim, image_id)
    sim.faults.drop_mid_body_every = None
    sim.faults.corrupt_storage = "ctype"
    assert _download(sim, image_id).status_code == 200
    sim.faults.corrupt_storage = None
    assert sim.stats.full_downloads == {}
    assert sim.stats.objects_served[image_id] == 2
    assert _download(sim, image_id).status_code == 200
    assert sim.stats.full_downloads == {image_id: 1}


def test_stats_are_served_as_json_for_a_simulator_in_another_process(sim: Simulator) -> None:
    image_id = sim.photos(456)[0].image_id
    assert _download(sim, image_id).status_code == 200
    served = httpx.get(f"{sim.base_url}/_sim/stats")
    assert served.headers["content-type"] == "application/json"
    counters = served.json()
    assert counters["full_downloads"] == {image_id: 1}
    assert counters["storage_requests"] == 1
    assert httpx.post(f"{sim.base_url}/_sim/stats").status_code == 404
