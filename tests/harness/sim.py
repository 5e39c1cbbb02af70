"""Helpers shared by the simulator tests: fake clock and sleeper, envelope readers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from syncer.sim import Simulator

MakeSim = Callable[..., Simulator]


class FakeClock:
    """A clock the test moves by hand (presigned URL expiry, Retry-After dates)."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SleepRecorder:
    """Stands in for time.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class PacingClock:
    """A monotonic clock that moves only when the simulator sleeps (records the sleeps too)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds


def api_base(sim: Simulator) -> str:
    return f"{sim.base_url}/api/v1/ext/{sim.org_id}"


def data(response: httpx.Response) -> Any:
    """The envelope's data of a 2xx answer (checks the envelope on the way)."""
    assert response.is_success, response.text
    body = response.json()
    assert set(body) == {"responseType", "message", "data"}
    assert body["responseType"] == "success"
    return body["data"]


def error_message(response: httpx.Response, status: int) -> str:
    """The message of an error envelope with ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["responseType"] == "error"
    assert body["data"] is None
    return str(body["message"])


def walk_ids(client: httpx.Client, event_id: int, page_size: int = 100) -> list[str]:
    """Every image_id of All Photos, page by page, in the order served."""
    ids: list[str] = []
    page = 1
    while True:
        got = data(
            client.get(f"/event/{event_id}/images", params={"page": page, "page_size": page_size})
        )
        ids += [item["image_id"] for item in got["images"]]
        if not got["pagination"]["hasNextPage"]:
            return ids
        page += 1
