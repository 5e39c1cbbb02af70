"""§2.3 checks on every call: 401 only for a missing key, 403/404 for the rest."""

from __future__ import annotations

import httpx
import pytest

from harness.sim import MakeSim, api_base, data, error_message
from syncer.errors import ConfigError
from syncer.sim import Simulator

EVENT_PATHS = [
    ("GET", "/event/456/ping"),
    ("GET", "/event/456/details"),
    ("GET", "/event/456/images"),
    ("GET", "/event/456/bibs/42"),
    ("GET", "/event/456/timeline/days"),
    ("POST", "/event/456/original-photos"),
]


@pytest.mark.parametrize(("method", "path"), [*EVENT_PATHS, ("GET", "/events")])
def test_missing_key_is_401_and_wrong_key_is_403(sim: Simulator, method: str, path: str) -> None:
    url = api_base(sim) + path
    assert "X-API-Key" in error_message(httpx.request(method, url), 401)
    assert error_message(httpx.request(method, url, headers={"X-API-Key": ""}), 401)
    wrong = httpx.request(method, url, headers={"X-API-Key": "nope"})
    assert error_message(wrong, 403) == "Invalid or inactive API key"


def test_ping_answers_with_the_path_values(client: httpx.Client) -> None:
    response = client.get("/event/456/ping")
    assert response.json()["message"] == "pong"
    assert data(response) == {"status": "ok", "org_id": 903, "event_id": 456}


def test_foreign_org_foreign_event_and_unknown_event_are_403(
    sim: Simulator, client: httpx.Client
) -> None:
    other_org = httpx.get(
        f"{sim.base_url}/api/v1/ext/{sim.foreign_org_id}/event/456/ping",
        headers={"X-API-Key": sim.api_key},
    )
    assert "does not belong to organisation" in error_message(other_org, 403)
    foreign_key = httpx.get(
        f"{api_base(sim)}/event/456/ping", headers={"X-API-Key": sim.foreign_api_key}
    )
    assert "does not belong to organisation 903" in error_message(foreign_key, 403)
    for event_id in (sim.foreign_event_id, 123456):
        message = error_message(client.get(f"/event/{event_id}/ping"), 403)
        assert f"Event {event_id} does not belong" in message


def test_unconfigured_event_is_404_but_listed(sim: Simulator, client: httpx.Client) -> None:
    for path in ("ping", "details", "images"):
        response = client.get(f"/event/{sim.unconfigured_event_id}/{path}")
        assert error_message(response, 404) == "Event configuration not found"
    listed = [e["event_id"] for e in data(client.get("/events"))["events"]]
    assert sim.unconfigured_event_id in listed


def test_revoked_and_inactive_keys_are_403(sim: Simulator, client: httpx.Client) -> None:
    inactive = next(key for key, active in sim.api_keys() if not active)
    response = httpx.get(f"{api_base(sim)}/events", headers={"X-API-Key": inactive})
    assert error_message(response, 403) == "Invalid or inactive API key"
    spare = next(key for key, active in sim.api_keys()[1:] if active)
    assert httpx.get(f"{api_base(sim)}/events", headers={"X-API-Key": spare}).status_code == 200
    assert client.get("/events").status_code == 200
    sim.revoke_key(sim.api_key)
    assert error_message(client.get("/events"), 403) == "Invalid or inactive API key"


@pytest.mark.parametrize(
    ("path", "flag_event"),
    [
        ("/event/{e}/bibs/42", 458),
        ("/event/{e}/faces/0b8a3c4e-7c1e-4a5e-9a55-0d1f6b1c2d3e", 458),
        ("/event/{e}/timeline/days", 458),
        ("/event/{e}/timeline/images", 458),
        ("/event/{e}/video-clipping/0b8a3c4e-7c1e-4a5e-9a55-0d1f6b1c2d3e", 457),
    ],
)
def test_disabled_feature_flag_is_403(client: httpx.Client, path: str, flag_event: int) -> None:
    response = client.get(path.format(e=flag_event))
    assert "is disabled for this event" in error_message(response, 403)


def test_download_endpoint_is_not_gated_by_flags(client: httpx.Client) -> None:
    body = {"method": "bib", "identifier": "42"}
    assert data(client.post("/event/458/original-photos", json=body))["identifier"] == "42"


def test_host_allowlist(make_sim: MakeSim) -> None:
    sim = make_sim(allowed_hosts=("api.9pic.ai",))
    key = {"X-API-Key": sim.api_key}
    url = f"{api_base(sim)}/event/456/ping"
    assert error_message(httpx.get(url, headers=key), 403) == "Host not allowed"
    good = httpx.get(url, headers={**key, "Host": "API.9pic.ai"})
    assert data(good)["status"] == "ok"
    assert httpx.get(url, headers={**key, "Host": "api.9pic.ai:443"}).status_code == 200
    assert httpx.get(url, headers={"Host": "api.9pic.ai"}).status_code == 401


def test_non_integer_path_values_are_422(sim: Simulator, client: httpx.Client) -> None:
    assert "path.event_id" in error_message(client.get("/event/abc/ping"), 422)
    response = httpx.get(f"{sim.base_url}/api/v1/ext/x/events", headers={"X-API-Key": sim.api_key})
    assert error_message(response, 422) == "path.org_id: value is not a valid integer"


def test_unknown_routes_and_methods(sim: Simulator, client: httpx.Client) -> None:
    assert error_message(client.get("/event/456/nothing"), 404) == "Not Found"
    assert error_message(client.delete("/event/456/images"), 405) == "Method Not Allowed"
    assert error_message(client.get("/event/456/original-photos"), 405)
    assert httpx.get(f"{sim.base_url}/elsewhere").status_code == 404
    assert sim.stats.api_by_route["unknown"] == 3


def test_error_messages_never_contain_the_key(sim: Simulator, client: httpx.Client) -> None:
    sim.revoke_key(sim.api_key)
    for method, path in EVENT_PATHS:
        response = client.request(method, path)
        assert sim.api_key not in response.text
        assert sim.api_key not in str(response.headers)


def test_flags_can_be_switched_while_running(sim: Simulator, client: httpx.Client) -> None:
    assert client.get("/event/456/bibs/42").status_code == 200
    sim.set_flag(456, "bib_search", False)
    assert "bib_search is disabled" in error_message(client.get("/event/456/bibs/42"), 403)
    assert data(client.get("/event/456/details"))["bib_search"] is False
    with pytest.raises(ConfigError, match="unknown event flag"):
        sim.set_flag(456, "photo_search", True)
