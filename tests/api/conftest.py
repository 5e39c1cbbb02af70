"""Fixtures of the API client tests (helpers live in harness/api.py)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from harness.api import BASE, KEY, ORG, FakeApi, FakeTime, Handler, MakeApi
from syncer.api import AdaptiveLimiter, ApiClient, RetryPolicy


@pytest.fixture
def make_api() -> Iterable[MakeApi]:
    """Build a client around a handler; keyword arguments override ApiClient's."""
    clients: list[ApiClient] = []

    def make(handler: Handler, **overrides: Any) -> FakeApi:
        requests: list[httpx.Request] = []
        observed: list[tuple[str, int]] = []
        fake_time = overrides.pop("time", FakeTime())
        limiter = overrides.pop("limiter", AdaptiveLimiter())

        def recording(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return handler(request)

        options: dict[str, Any] = {
            "base_url": BASE,
            "org_id": ORG,
            "api_key": SecretStr(KEY),
            "http": httpx.Client(transport=httpx.MockTransport(recording)),
            "retry": RetryPolicy(),
            "limiter": limiter,
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "wall_clock": fake_time.wall_clock,
            "rng": random.Random(7),
            "observer": lambda name, status: observed.append((name, status)),
        }
        options.update(overrides)
        client = ApiClient(**options)
        clients.append(client)
        return FakeApi(client, requests, fake_time, observed, limiter)

    yield make
    for client in clients:
        client.close()
