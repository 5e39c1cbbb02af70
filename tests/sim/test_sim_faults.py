"""API fault knobs: throttling, 5xx, slowness, revocation, drift and compat shapes."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import pytest

from harness.sim import FakeClock, MakeSim, SleepRecorder, api_base, data, error_message, walk_ids
from syncer.sim import Faults, Simulator


def _statuses(client: httpx.Client, n: int) -> list[int]:
    return [client.get("/event/456/ping").status_code for _ in range(n)]


def test_throttle_every_counts_from_the_assignment(sim: Simulator, client: httpx.Client) -> None:
    _statuses(client, 2)
    sim.faults.throttle_every = 3
    assert _statuses(client, 6) == [200, 200, 429, 200, 200, 429]
    assert sim.stats.throttled == 2
    assert sim.stats.errors_served[429] == 2


@pytest.mark.parametrize(("value", "header"), [(None, None), (2.0, "2"), (0.25, "0.25")])
def test_retry_after_seconds_or_absent(
    sim: Simulator, client: httpx.Client, value: float | None, header: str | None
) -> None:
    sim.faults.retry_after = value
    sim.faults.throttle_every = 1
    response = client.get("/events")
    assert response.status_code == 429
    assert response.headers.get("retry-after") == header
    assert "responseType" not in response.json(), "429 comes from the gateway"


def test_retry_after_as_http_date(make_sim: MakeSim) -> None:
    clock = FakeClock(1_780_000_000.0)
    sim = make_sim(Faults(throttle_every=1, retry_after="date"), clock=clock)
    response = httpx.get(f"{api_base(sim)}/events", headers={"X-API-Key": sim.api_key})
    moment = parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert clock.now < moment <= clock.now + 2


def test_throttle_burst(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.throttle_burst = 3
    assert _statuses(client, 5) == [429, 429, 429, 200, 200]
    assert sim.faults.burst_remaining == 0


def test_server_errors_and_their_bodies(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.error_500_every = 1
    assert error_message(client.get("/events"), 500) == "Internal server error"
    sim.faults.error_500_every = None
    for status, kind in ((502, "text/html"), (503, "text/html"), (504, "text/plain")):
        setattr(sim.faults, f"error_{status}_every", 1)
        response = client.get("/events")
        assert response.status_code == status
        assert response.headers["content-type"].startswith(kind)
        with pytest.raises(ValueError, match="Expecting value"):
            response.json()
        setattr(sim.faults, f"error_{status}_every", None)
    assert client.get("/events").status_code == 200


def test_every_nth_knobs_are_independent(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.throttle_every = 2
    sim.faults.error_503_every = 3
    assert _statuses(client, 6) == [200, 429, 503, 429, 200, 429]


def test_slow_api_uses_the_injected_sleep(make_sim: MakeSim) -> None:
    sleeper = SleepRecorder()
    sim = make_sim(Faults(slow_api_seconds=1.5), sleep=sleeper)
    httpx.get(f"{api_base(sim)}/events", headers={"X-API-Key": sim.api_key})
    assert sleeper.calls == [1.5]


def test_revoke_after_requests(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.revoke_after_requests = 2
    assert _statuses(client, 4) == [200, 200, 403, 403]
    assert (sim.api_key, False) in sim.api_keys()


def test_drift_inserts_earlier_photos_and_removes_some(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.drift_insert_per_page = 2
    sim.faults.drift_remove_per_page = 1
    before = {p.image_id for p in sim.photos(456)}
    first = data(client.get("/event/456/images", params={"page_size": 10}))
    after = sim.photos(456)
    assert len(after) == 41
    assert {p.image_id for p in after[:2]}.isdisjoint(before), "inserts sort first"
    assert len(before - {p.image_id for p in after}) == 1
    assert first["pagination"]["total"] == 40
    seen = walk_ids(client, 456, 10)
    assert len(seen) > len(set(seen)), "earlier inserts shift offsets: a walk repeats items"


def test_drift_is_deterministic(make_sim: MakeSim) -> None:
    runs = []
    for _ in range(2):
        sim = make_sim(Faults(drift_insert_per_page=1, drift_remove_per_page=1))
        with httpx.Client(base_url=api_base(sim), headers={"X-API-Key": sim.api_key}) as client:
            runs.append(walk_ids(client, 456, 7))
    assert runs[0] == runs[1]


def test_compat_shapes(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.compat_flat = True
    assert client.get("/event/456/ping").json() == {"status": "ok", "org_id": 903, "event_id": 456}
    details = client.get("/event/456/details").json()
    assert "responseType" not in details
    assert details["bib_search"] is True
    assert "timeline_search" not in details
    assert error_message(client.get("/event/455/details"), 404), "errors keep the envelope"
    sim.faults.compat_misspelled = True
    item = data(client.get("/event/456/images"))["images"][0]
    assert {"widht", "thumbanail_url", "orginal_url"} <= set(item)
    assert not {"width", "thumbnail_url", "original_url"} & set(item)
