"""Thread-safe counters of what the simulator served, for tests and benchmarks."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimStats:
    """Counters; read single fields directly or take a consistent :meth:`snapshot`."""

    api_requests: int = 0
    api_by_route: Counter[str] = field(default_factory=Counter)
    storage_requests: int = 0
    storage_requests_with_api_key: int = 0
    presign_calls: int = 0
    urls_issued: int = 0
    originals_by_method: Counter[str] = field(default_factory=Counter)  # method -> pages served
    throttled: int = 0
    errors_served: Counter[int] = field(default_factory=Counter)
    bytes_served: int = 0
    objects_served: Counter[str] = field(default_factory=Counter)  # image id -> GETs answered
    full_downloads: Counter[str] = field(default_factory=Counter)  # image id -> whole 200 bodies
    clip_downloads: Counter[str] = field(default_factory=Counter)  # clip path -> whole 200 bodies
    # route -> (first, last) time.monotonic() a request of it arrived: calls per second
    api_window: dict[str, tuple[float, float]] = field(default_factory=dict)
    storage_window: tuple[float, float] | None = None  # likewise for storage requests
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def api_request(self, route: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.api_requests += 1
            self.api_by_route[route] += 1
            first, _ = self.api_window.get(route, (now, now))
            self.api_window[route] = (first, now)

    def storage_request(self, *, with_api_key: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self.storage_requests += 1
            first = self.storage_window[0] if self.storage_window else now
            self.storage_window = (first, now)
            if with_api_key:
                self.storage_requests_with_api_key += 1

    def object_served(self, image_id: str) -> None:
        with self._lock:
            self.objects_served[image_id] += 1

    def full_download(self, image_id: str, delta: int = 1) -> None:
        """One more (or, ``delta=-1``, one fewer) 200 answer whose complete, unaltered body
        went out for ``image_id``."""
        with self._lock:
            _count(self.full_downloads, image_id, delta)

    def clip_download(self, clip: str, delta: int = 1) -> None:
        """Likewise for a clip (``clips/<event_id>/<request_id>/<n>.mp4``)."""
        with self._lock:
            _count(self.clip_downloads, clip, delta)

    def downloaded_more_than_once(self) -> dict[str, int]:
        """Image ids whose complete body was served more than once (a double download)."""
        with self._lock:
            return {key: n for key, n in self.full_downloads.items() if n > 1}

    def presigned(self, urls: int, method: str = "image_ids") -> None:
        with self._lock:
            self.presign_calls += 1
            self.urls_issued += urls
            self.originals_by_method[method] += 1

    def status(self, status: int) -> None:
        """Record the status of one response (only errors are counted)."""
        if status < 400:
            return
        with self._lock:
            self.errors_served[status] += 1
            if status == 429:
                self.throttled += 1

    def sent(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_served += nbytes

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter."""
        with self._lock:
            return {
                "api_requests": self.api_requests,
                "api_by_route": dict(self.api_by_route),
                "storage_requests": self.storage_requests,
                "storage_requests_with_api_key": self.storage_requests_with_api_key,
                "presign_calls": self.presign_calls,
                "urls_issued": self.urls_issued,
                "originals_by_method": dict(self.originals_by_method),
                "throttled": self.throttled,
                "errors_served": dict(self.errors_served),
                "bytes_served": self.bytes_served,
                "objects_served": dict(self.objects_served),
                "full_downloads": dict(self.full_downloads),
                "clip_downloads": dict(self.clip_downloads),
                "api_window": dict(self.api_window),
                "storage_window": self.storage_window,
            }

    def as_json(self) -> bytes:
        """:meth:`snapshot` as JSON (status codes as string keys)."""
        return json.dumps(self.snapshot(), sort_keys=True).encode()

    def reset(self) -> None:
        """Every counter back to zero."""
        with self._lock:
            self.api_requests = self.storage_requests = self.presign_calls = 0
            self.storage_requests_with_api_key = self.urls_issued = 0
            self.throttled = self.bytes_served = 0
            self.api_by_route.clear()
            self.originals_by_method.clear()
            self.errors_served.clear()
            self.objects_served.clear()
            self.full_downloads.clear()
            self.clip_downloads.clear()
            self.api_window.clear()
            self.storage_window = None


def _count(counter: Counter[str], key: str, delta: int) -> None:
    counter[key] += delta
    if counter[key] <= 0:
        del counter[key]
