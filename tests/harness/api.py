"""Helpers for the API client tests: a scripted 9Pic behind httpx.MockTransport, fake time."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncer.api import AdaptiveLimiter, ApiClient

KEY = "sk_live_9pic_TOPSECRET_0123456789"
BASE = "https://api.example.test"
ORG = 903
EVENT = 456
WALL = 1_700_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]
Scripted = httpx.Response | Exception


def envelope(data: Any, status: int = 200, message: str = "ok", **headers: str) -> httpx.Response:
    """A response in the documented envelope."""
    kind = "success" if status < 400 else "error"
    body = {"responseType": kind, "message": message, "data": data}
    return httpx.Response(status, json=body, headers=headers)


def error(status: int, message: str = "refused", **headers: str) -> httpx.Response:
    """An error response in the envelope (``data: null``)."""
    return envelope(None, status=status, message=message, **headers)


def raw(status: int, body: str, content_type: str = "text/html", **headers: str) -> httpx.Response:
    """A response with a body that is not the envelope (gateway style)."""
    return httpx.Response(status, text=body, headers={"Content-Type": content_type, **headers})


def image(image_id: str, **extra: Any) -> dict[str, Any]:
    """One wire ``ImageItem``."""
    item = {
        "image_id": image_id,
        "img_url": f"https://photos.example.test/large/{image_id}.jpg",
        "thumbnail_url": f"https://photos.example.test/small/{image_id}.jpg",
        "width": 3240,
        "height": 4860,
        "original_url": None,
    }
    item.update(extra)
    return item


def pagination(
    page: int, total_pages: int, total: int, size: int, has_next: bool | None = None
) -> dict[str, Any]:
    """Wire ``PaginationInfo``."""
    return {
        "total": total,
        "currentPage": page,
        "totalPages": total_pages,
        "hasNextPage": page < total_pages if has_next is None else has_next,
        "hasPreviousPage": page > 1,
        "page_size": size,
    }


def body_of(request: httpx.Request) -> Any:
    """The JSON body a request carried."""
    return json.loads(request.content)


def params_of(request: httpx.Request) -> dict[str, str]:
    """The query parameters of a request."""
    return dict(request.url.params)


@dataclass
class FakeTime:
    """Injected clocks and sleeper: sleeping only advances the monotonic clock."""

    now: float = 0.0
    wall: float = WALL
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall


@dataclass
class FakeApi:
    """A client wired to ``handler`` with everything it saw recorded."""

    client: ApiClient
    requests: list[httpx.Request]
    time: FakeTime
    observed: list[tuple[str, int]]
    limiter: AdaptiveLimiter


class MaxRng(random.Random):
    """Jitter that always picks the upper bound, so delays are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


def script(*answers: Scripted) -> Handler:
    """A handler that answers with ``answers`` in order (exceptions are raised)."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        assert queue, f"unexpected extra request {request.method} {request.url}"
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


def always(answer: Callable[[], Scripted]) -> Handler:
    """A handler that answers every request with a fresh ``answer()``."""

    def handle(request: httpx.Request) -> httpx.Response:
        result = answer()
        if isinstance(result, Exception):
            raise result
        return result

    return handle


MakeApi = Callable[..., FakeApi]
"""The ``make_api`` fixture: ``make_api(handler, **ApiClient overrides) -> FakeApi``."""
