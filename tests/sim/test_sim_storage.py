"""The presigned storage host: bytes, HEAD, Range, expiry, signatures, faults.

Its speed over loopback is a bar in tests/bench/test_bench_sim.py.
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

import httpx
import pytest
from tls_ca import ThrowawayCA

from harness.sim import FakeClock, MakeSim, SleepRecorder, api_base, data
from syncer.sim import Faults, SimPhoto, Simulator


def _link(sim: Simulator, client: httpx.Client, photo: SimPhoto) -> str:
    body = {"method": "image_id", "identifier": photo.image_id}
    url = data(client.post(f"/event/{photo.event_id}/original-photos", json=body))
    return str(url["presigned_urls"][0]["url"])


def _served(sim: Simulator, expected: int, timeout: float = 5.0) -> int:
    """The simulator's byte count once it reaches ``expected`` (or the timeout passes).

    The server counts a body after handing it to the socket, so the client can hold every
    byte a moment before the count includes them.
    """
    deadline = time.monotonic() + timeout
    while sim.stats.bytes_served != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.stats.bytes_served


def test_get_serves_the_true_bytes(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.photos(456)[0]
    response = httpx.get(_link(sim, client, photo))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["content-length"]) == photo.size
    assert hashlib.sha256(response.content).hexdigest() == photo.sha256
    assert response.headers["etag"] == f'"{photo.md5}"'
    assert response.content == sim.photo_path(456, photo.image_id).read_bytes()
    assert _served(sim, photo.size) == photo.size
    assert urlsplit(_link(sim, client, photo)).path == f"/storage/456/{photo.image_id}.jpg"


def test_memory_and_disk_copies_serve_identical_bytes(sim: Simulator) -> None:
    photo = sim.photos(456)[4]
    url = sim.presign(456, photo.image_id)
    from_memory = httpx.get(url).content
    middle = httpx.get(url, headers={"Range": "bytes=1000-15000"}).content  # prefix/tail seam
    assert not (sim.data_dir / sim.storage_relpath(456, photo.image_id)).exists()
    on_disk = sim.photo_path(456, photo.image_id).read_bytes()
    assert from_memory == on_disk
    assert hashlib.sha256(from_memory).hexdigest() == photo.sha256
    assert middle == on_disk[1000:15001]
    assert httpx.get(url).content == on_disk
    assert httpx.get(url, headers={"Range": "bytes=1000-15000"}).content == middle


def test_head_and_ranges(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.photos(456)[1]
    url = _link(sim, client, photo)
    blob = sim.photo_path(456, photo.image_id).read_bytes()
    head = httpx.head(url)
    assert (head.status_code, head.content) == (200, b"")
    assert int(head.headers["content-length"]) == photo.size
    last = photo.size - 1
    cases = [("bytes=0-99", 0, 99), ("bytes=100-", 100, last), ("bytes=-10", last - 9, last)]
    cases.append((f"bytes=5-{photo.size + 50}", 5, last))
    for header, start, end in cases:
        part = httpx.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == blob[start : end + 1], header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{photo.size}"
    unsatisfiable = httpx.get(url, headers={"Range": f"bytes={photo.size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{photo.size}"
    multi = httpx.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert (multi.status_code, multi.content) == (200, blob)


def test_expired_and_forged_links_are_403_xml(make_sim: MakeSim) -> None:
    clock = FakeClock()
    sim = make_sim(clock=clock, presign_ttl=60.0)
    photo = sim.photos(456)[0]
    with httpx.Client(base_url=api_base(sim), headers={"X-API-Key": sim.api_key}) as client:
        url = _link(sim, client, photo)
    assert httpx.get(url).status_code == 200
    clock.now += 61
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert expired.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "expired" in expired.text
    forged = httpx.get(url.replace("sig=", "sig=0"))
    assert "<Code>SignatureDoesNotMatch</Code>" in forged.text
    moved = httpx.get(url.replace(f"/{photo.image_id}.jpg", f"/{sim.photos(456)[1].image_id}.jpg"))
    assert moved.status_code == 403
    bare = httpx.get(url.split("?")[0])
    assert bare.status_code == 403
    assert "<Error>" in bare.text
    assert sim.stats.errors_served[403] == 4


def test_unknown_and_removed_objects_are_404(sim: Simulator, client: httpx.Client) -> None:
    photo = sim.photos(456)[2]
    url = _link(sim, client, photo)
    sim.remove_photo(456, photo.image_id)
    gone = httpx.get(url)
    assert gone.status_code == 404
    assert "<Code>NoSuchKey</Code>" in gone.text
    assert httpx.get(f"{sim.base_url}/storage/456/../../etc/passwd").status_code == 404


def test_requests_carrying_the_api_key_are_counted(sim: Simulator, client: httpx.Client) -> None:
    url = _link(sim, client, sim.photos(456)[0])
    httpx.get(url)
    httpx.get(url, headers={"X-API-Key": sim.api_key})
    httpx.head(url, headers={"x-api-key": "anything"})
    preview = f"{sim.base_url}/imgs/456/large/{sim.photos(456)[0].image_id}.jpg"
    assert httpx.get(preview, headers={"X-API-Key": sim.api_key}).status_code == 200
    assert sim.stats.storage_requests == 4
    assert sim.stats.storage_requests_with_api_key == 3


def test_expire_first_presign(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.expire_first_presign = True
    photo = sim.photos(456)[0]
    first, second = _link(sim, client, photo), _link(sim, client, photo)
    assert httpx.get(first).status_code == 403
    assert httpx.get(second).status_code == 200


def test_slow_storage_uses_the_injected_sleep(make_sim: MakeSim) -> None:
    sleeper = SleepRecorder()
    sim = make_sim(Faults(slow_storage_seconds=2.5), sleep=sleeper)
    url = sim.presign(456, sim.photos(456)[0].image_id)
    assert httpx.get(url).status_code == 200
    assert sleeper.calls == [2.5]


def test_drop_mid_body_every(sim: Simulator) -> None:
    sim.faults.drop_mid_body_every = 2
    url = sim.presign(456, sim.photos(456)[0].image_id)
    assert httpx.get(url).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert httpx.get(url).status_code == 200


def _raw_get(url: str) -> tuple[dict[str, str], bytes]:
    """Headers and every body byte until the server closes (ignores Content-Length)."""
    import socket

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        conn.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}, body


def test_corrupt_storage_modes(sim: Simulator) -> None:
    photo = sim.photos(456)[0]
    url = sim.presign(456, photo.image_id)
    true = sim.photo_path(456, photo.image_id).read_bytes()
    sim.faults.corrupt_storage = "html200"
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.content.startswith(b"<!DOCTYPE html>")
    sim.faults.corrupt_storage = "ctype"
    typed = httpx.get(url)
    assert typed.headers["content-type"].startswith("text/html")
    assert typed.content == true
    sim.faults.corrupt_storage = "short"
    headers, body = _raw_get(url)
    assert int(headers["content-length"]) == len(true)
    assert len(body) < len(true)
    sim.faults.corrupt_storage = "long"
    headers, body = _raw_get(url)
    assert int(headers["content-length"]) < len(true)
    assert body == true
    sim.faults.corrupt_storage = None
    assert httpx.get(url).content == true


def test_corrupt_every_nth(sim: Simulator) -> None:
    sim.faults.corrupt_storage = "html200"
    sim.faults.corrupt_every = 3
    url = sim.presign(456, sim.photos(456)[0].image_id)
    kinds = [httpx.get(url).headers["content-type"] for _ in range(6)]
    assert [k.startswith("text/html") for k in kinds] == [False, False, True] * 2


def test_storage_base_url_points_links_elsewhere(make_sim: MakeSim) -> None:
    sim = make_sim(storage_base_url="http://files.example:8080/objects/", photos_per_event=3)
    photo = sim.photos(456)[0]
    url = sim.presign(456, photo.image_id)
    assert url.startswith(f"http://files.example:8080/objects/456/{photo.image_id}.jpg?")
    on_disk = sim.data_dir / sim.storage_relpath(456, photo.image_id)
    assert on_disk.stat().st_size == photo.size, "files are written before links are handed out"
    added = sim.add_photos(456, 1)[0]
    assert (sim.data_dir / sim.storage_relpath(456, added.image_id)).stat().st_size == added.size


def test_tls_mode_presigns_https_urls_and_serves_them(
    make_sim: MakeSim, test_ca: ThrowawayCA
) -> None:
    sim = make_sim(tls_cert=test_ca.cert, tls_key=test_ca.key)
    event = next(e for e in sim.events() if sim.photos(e.event_id))
    photo = sim.photos(event.event_id)[0]
    url = sim.presign(event.event_id, photo.image_id)
    assert sim.base_url.startswith("https://")
    assert url.startswith(f"{sim.base_url}/storage/")
    answer = httpx.get(url, verify=test_ca.client_context())
    assert answer.status_code == 200
    assert hashlib.sha256(answer.content).hexdigest() == photo.sha256
