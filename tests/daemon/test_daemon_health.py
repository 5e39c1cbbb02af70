"""syncer.health: the /healthz verdicts and the HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncer.errors import ConfigError
from syncer.health import HealthServer, HealthState, is_loopback, parse_listen
from syncer.metrics import Metrics


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_starting_is_healthy_until_max_age() -> None:
    clock = Clock()
    state = HealthState(max_age=60, clock=clock)
    clock.now += 59
    status, body = state.verdict()
    assert (status, body["status"]) == (200, "starting")
    clock.now += 2
    status, body = state.verdict()
    assert (status, body["status"]) == (503, "stale")
    assert "61 s" in body["reason"]


def test_ok_then_stale_after_max_age() -> None:
    clock = Clock(1_768_802_400.0)  # 2026-01-19T06:00:00Z
    state = HealthState(max_age=60, clock=clock)
    state.record_success()
    clock.now += 30
    status, body = state.verdict()
    assert status == 200
    assert body == {"status": "ok", "last_success": "2026-01-19T06:00:00+00:00", "age_seconds": 30}
    clock.now += 31
    status, body = state.verdict()
    assert (status, body["status"]) == (503, "stale")
    assert body["last_success"] == "2026-01-19T06:00:00+00:00"


def test_paused_and_failing_are_unhealthy_until_a_success() -> None:
    clock = Clock()
    state = HealthState(max_age=60, clock=clock)
    state.record_success()
    state.set_paused("9Pic refused the API key (HTTP 403)")
    status, body = state.verdict()
    assert (status, body["status"]) == (503, "paused")
    assert body["reason"] == "9Pic refused the API key (HTTP 403)"
    state.set_failing("storage: root missing")
    status, body = state.verdict()
    assert (status, body["status"], body["reason"]) == (503, "failing", "storage: root missing")
    state.record_success()
    assert state.verdict()[0] == 200
    state.set_paused("x")
    state.clear_problem()
    assert state.verdict()[0] == 200


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, HealthState, Metrics, Clock]]:
    clock = Clock()
    state = HealthState(max_age=60, clock=clock)
    metrics = Metrics()
    server = HealthServer("127.0.0.1:0", state=state, metrics=metrics)
    server.start()
    yield server, state, metrics, clock
    server.stop()


def get(server: HealthServer, path: str) -> httpx.Response:
    host, port = server.address
    with httpx.Client(trust_env=False) as client:  # no proxy for 127.0.0.1
        return client.get(f"http://{host}:{port}{path}")


def test_healthz_over_http(served: tuple[HealthServer, HealthState, Metrics, Clock]) -> None:
    server, state, _, clock = served
    assert server.address[1] != 0
    answer = get(server, "/healthz")
    assert (answer.status_code, answer.json()["status"]) == (200, "starting")
    assert answer.headers["content-type"] == "application/json"
    state.record_success()
    assert get(server, "/healthz?verbose=1").json()["status"] == "ok"
    clock.now += 120
    answer = get(server, "/healthz")
    assert (answer.status_code, answer.json()["status"]) == (503, "stale")
    state.set_paused("key refused")
    answer = get(server, "/healthz")
    assert (answer.status_code, json.loads(answer.text)["status"]) == (503, "paused")


def test_metrics_over_http_parse(served: tuple[HealthServer, HealthState, Metrics, Clock]) -> None:
    server, _, metrics, _ = served
    metrics.observe_api("ping", 200)
    answer = get(server, "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"syncer_api_responses", "syncer_cycles", "syncer_photos"} <= names


def test_other_paths_are_404(served: tuple[HealthServer, HealthState, Metrics, Clock]) -> None:
    server, _, _, _ = served
    assert get(server, "/").status_code == 404
    assert get(server, "/healthz/../etc").status_code == 404


def test_stop_frees_the_port() -> None:
    server = HealthServer("127.0.0.1:0", state=HealthState(max_age=1), metrics=Metrics())
    with server:
        port = server.address[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_a_busy_port_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(f"127.0.0.1:{port}", state=HealthState(max_age=1), metrics=Metrics())
        with pytest.raises(ConfigError, match=rf"health.listen 127.0.0.1:{port}: cannot listen"):
            server.start()


@pytest.mark.parametrize("listen", ["0.0.0.0:9187", "192.168.1.10:9187", "example.com:80"])
def test_remote_hosts_are_refused(listen: str) -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        HealthServer(listen, state=HealthState(max_age=1), metrics=Metrics())


def test_remote_hosts_are_allowed_on_request() -> None:
    server = HealthServer(
        "0.0.0.0:9187", state=HealthState(max_age=1), metrics=Metrics(), allow_remote=True
    )
    assert server.address == ("0.0.0.0", 9187)  # not started: nothing is bound


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9187", ("127.0.0.1", 9187)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9187", "127.0.0.1", ":9187", "127.0.0.1:http", "h:70000"])
def test_parse_listen_errors(text: str) -> None:
    with pytest.raises(ConfigError, match=r"health\.listen: expected HOST:PORT"):
        parse_listen(text)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert is_loopback("LOCALHOST")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("::")
