"""Fault knobs of the simulator: deterministic, thread-safe and changeable while it runs.

Every "every N" knob has its own counter, which restarts at zero whenever the knob is assigned:
``faults.throttle_every = 3`` throttles the 3rd, 6th, ... API request *after* the assignment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from syncer.errors import ConfigError

CORRUPT_MODES = ("html200", "short", "long", "ctype")

# knob -> HTTP status, in priority order when several fire on the same request
_API_EVERY = (
    ("throttle_every", 429),
    ("error_500_every", 500),
    ("error_502_every", 502),
    ("error_503_every", 503),
    ("error_504_every", 504),
)
_EVERY = frozenset(
    {name for name, _ in _API_EVERY}
    | {
        "drop_mid_body_every",
        "failed_every",
        "drop_ids_every",
        "duplicate_links_every",
        "storage_503_every",
        "stall_mid_body_every",
    }
)
_COUNTS = frozenset(
    {"throttle_burst", "drift_insert_per_page", "drift_remove_per_page", "fail_first_links"}
)
_POSITIVE = frozenset({"corrupt_every", "clip_polls"})
_SECONDS = frozenset({"slow_api_seconds", "slow_storage_seconds", "stall_seconds"})
_RATES = frozenset({"storage_bytes_per_second", "storage_link_bytes_per_second"})
_FLAGS = frozenset(
    {
        "expire_first_presign",
        "compat_flat",
        "compat_misspelled",
        "clip_fail",
        "clip_never_finishes",
        "clip_404_once",
    }
)
_DEFAULTS: dict[str, Any] = {
    "throttle_every": None,
    "retry_after": None,
    "throttle_burst": 0,
    "error_500_every": None,
    "error_502_every": None,
    "error_503_every": None,
    "error_504_every": None,
    "slow_api_seconds": 0.0,
    "slow_storage_seconds": 0.0,
    "storage_bytes_per_second": None,
    "storage_link_bytes_per_second": None,
    "drop_mid_body_every": None,
    "stall_mid_body_every": None,
    "stall_seconds": 30.0,
    "storage_503_every": None,
    "storage_retry_after": None,
    "expire_first_presign": False,
    "failed_ids": set(),
    "failed_every": None,
    "fail_first_links": 0,
    "drop_ids_every": None,
    "duplicate_links_every": None,
    "drift_insert_per_page": 0,
    "drift_remove_per_page": 0,
    "compat_flat": False,
    "compat_misspelled": False,
    "revoke_after_requests": None,
    "corrupt_storage": None,
    "corrupt_every": 1,
    "clip_polls": 3,
    "clip_fail": False,
    "clip_never_finishes": False,
    "clip_404_once": False,
}


@dataclass(frozen=True)
class ApiFault:
    """An injected answer for one API request."""

    status: int
    retry_after: float | str | None = None


class Faults:
    """All fault knobs. Assign attributes at any time; unknown or invalid values raise.

    API: ``throttle_every``, ``retry_after`` (seconds, ``"date"`` or ``None`` = no header),
    ``throttle_burst`` (the next K requests all get 429), ``error_50x_every``,
    ``slow_api_seconds``, ``revoke_after_requests``, ``compat_flat``, ``compat_misspelled``,
    ``drift_insert_per_page``, ``drift_remove_per_page``.
    Links: ``failed_ids``, ``failed_every``, ``drop_ids_every``, ``expire_first_presign``.
    Storage (presigned originals and clip files): ``slow_storage_seconds`` (wait before the
    status line, i.e. before the first byte), ``storage_bytes_per_second`` (pace each body to
    at most this rate; ``None`` = unpaced), ``storage_link_bytes_per_second`` (all bodies
    together share this rate, like one uplink; ``None`` = unlimited); originals only:
    ``drop_mid_body_every``, ``corrupt_storage`` with ``corrupt_every``.
    More storage: ``stall_mid_body_every`` (half the body, then silence for ``stall_seconds``),
    ``storage_503_every`` (a 503 with ``Retry-After: storage_retry_after`` when that is set).
    More links: ``fail_first_links`` (each photo's first N link requests land in
    ``failed_urls``), ``duplicate_links_every`` (the N-th link is listed twice).
    Video clipping: ``clip_polls`` (polls until terminal), ``clip_fail`` (jobs end ``failed``),
    ``clip_never_finishes`` (jobs stay ``processing``), ``clip_404_once`` (the first GET of
    each clip URL answers 404 NoSuchKey, later ones serve the file).
    """

    _lock: threading.RLock
    _counters: dict[str, int]
    _burst_left: int
    _issued: set[str]
    _clips_missed: set[str]
    _link_requests: dict[str, int]
    throttle_every: int | None
    retry_after: float | str | None
    throttle_burst: int
    error_500_every: int | None
    error_502_every: int | None
    error_503_every: int | None
    error_504_every: int | None
    slow_api_seconds: float
    slow_storage_seconds: float
    storage_bytes_per_second: int | None
    storage_link_bytes_per_second: int | None
    drop_mid_body_every: int | None
    stall_mid_body_every: int | None
    stall_seconds: float
    storage_503_every: int | None
    storage_retry_after: float | None
    expire_first_presign: bool
    failed_ids: set[str]
    failed_every: int | None
    fail_first_links: int
    drop_ids_every: int | None
    duplicate_links_every: int | None
    drift_insert_per_page: int
    drift_remove_per_page: int
    compat_flat: bool
    compat_misspelled: bool
    revoke_after_requests: int | None
    corrupt_storage: str | None
    corrupt_every: int
    clip_polls: int
    clip_fail: bool
    clip_never_finishes: bool
    clip_404_once: bool

    def __init__(self, **knobs: Any) -> None:
        object.__setattr__(self, "_lock", threading.RLock())
        object.__setattr__(self, "_counters", {})
        object.__setattr__(self, "_burst_left", 0)
        object.__setattr__(self, "_issued", set())
        object.__setattr__(self, "_clips_missed", set())
        object.__setattr__(self, "_link_requests", {})
        for name, value in _DEFAULTS.items():
            setattr(self, name, set(value) if isinstance(value, set) else value)
        for name, value in knobs.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _DEFAULTS:
            raise ConfigError(f"simulator: unknown fault knob {name!r}")
        checked = _check(name, value)
        with self._lock:
            object.__setattr__(self, name, checked)
            self._counters[name] = 0
            if name == "throttle_burst":
                object.__setattr__(self, "_burst_left", checked)
            if name == "expire_first_presign":
                self._issued.clear()
            if name == "clip_404_once":
                self._clips_missed.clear()
            if name == "fail_first_links":
                self._link_requests.clear()

    def __repr__(self) -> str:
        active = {k: v for k, v in self.as_dict().items() if v != _DEFAULTS[k]}
        return f"Faults({', '.join(f'{k}={v!r}' for k, v in active.items())})"

    def as_dict(self) -> dict[str, Any]:
        """Current knob values."""
        with self._lock:
            return {name: getattr(self, name) for name in _DEFAULTS}

    def reset(self) -> None:
        """Every knob back to its default (no faults)."""
        for name, value in _DEFAULTS.items():
            setattr(self, name, set(value) if isinstance(value, set) else value)

    @property
    def burst_remaining(self) -> int:
        """How many of the ``throttle_burst`` 429s are still to be served."""
        with self._lock:
            return int(self._burst_left)

    # decisions, called by the simulator once per request or item

    def api_fault(self) -> ApiFault | None:
        """Count one API request; return the fault to serve instead of the answer, if any."""
        with self._lock:
            if self._burst_left > 0:
                object.__setattr__(self, "_burst_left", self._burst_left - 1)
                return ApiFault(429, self.retry_after)
            fired: ApiFault | None = None
            for name, status in _API_EVERY:
                ticked = self._tick(name)  # every counter counts every request
                if fired is None and ticked:
                    fired = ApiFault(status, self.retry_after if status == 429 else None)
            return fired

    def key_revoked_now(self) -> bool:
        """Count one API request against ``revoke_after_requests``; True once it is exceeded."""
        with self._lock:
            limit = self.revoke_after_requests
            if limit is None:
                return False
            self._counters["revoke_after_requests"] += 1
            return bool(self._counters["revoke_after_requests"] > limit)

    def presign_item(self, image_id: str) -> str | None:
        """``"fail"`` (into failed_urls), ``"drop"`` (silently omitted), ``"twice"`` (listed
        two times) or None for one link."""
        with self._lock:
            failed = self._tick("failed_every")
            dropped = self._tick("drop_ids_every")
            doubled = self._tick("duplicate_links_every")
            asked = self._link_requests.get(image_id, 0) + 1
            self._link_requests[image_id] = asked
            if image_id in self.failed_ids or failed or asked <= self.fail_first_links:
                return "fail"
            if dropped:
                return "drop"
            return "twice" if doubled else None

    def expire_first(self, key: str) -> bool:
        """True when this is the first link issued for ``key`` and that one must be expired."""
        with self._lock:
            if not self.expire_first_presign or key in self._issued:
                return False
            self._issued.add(key)
            return True

    def clip_missing_now(self, clip: str) -> bool:
        """True when ``clip_404_once`` is on and this is the first GET of that clip URL."""
        with self._lock:
            if not self.clip_404_once or clip in self._clips_missed:
                return False
            self._clips_missed.add(clip)
            return True

    def storage_fault(self) -> str | None:
        """Count one storage GET: ``"503"``, ``"drop"``, ``"stall"``, a corruption mode, or
        None."""
        with self._lock:
            busy = self._tick("storage_503_every")
            dropped = self._tick("drop_mid_body_every")
            stalled = self._tick("stall_mid_body_every")
            corrupt = self.corrupt_storage is not None and self._tick("corrupt_every")
            if busy:
                return "503"
            if dropped:
                return "drop"
            if stalled:
                return "stall"
            return self.corrupt_storage if corrupt else None

    def _tick(self, name: str) -> bool:
        every = getattr(self, name)
        if every is None:
            return False
        self._counters[name] += 1
        return bool(self._counters[name] % every == 0)


def _check(name: str, value: Any) -> Any:
    if name in _EVERY or name == "revoke_after_requests":
        low = 0 if name == "revoke_after_requests" else 1
        return None if value is None else _int(name, value, low)
    if name in _COUNTS:
        return _int(name, value, 0)
    if name in _POSITIVE:
        return _int(name, value, 1)
    if name in _SECONDS:
        return _seconds(name, value)
    if name in _RATES:
        return None if value is None else _int(name, value, 1)
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise ConfigError(f"simulator: fault {name} must be true or false, got {value!r}")
        return value
    if name == "retry_after":
        return value if value is None or value == "date" else _seconds(name, value)
    if name == "storage_retry_after":
        return None if value is None else _seconds(name, value)
    if name == "failed_ids":
        return _id_set(value)
    if value is not None and value not in CORRUPT_MODES:
        raise ConfigError(
            f"simulator: fault corrupt_storage must be one of {', '.join(CORRUPT_MODES)} or None"
        )
    return value


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"simulator: fault {name} must be an integer >= {low}, got {value!r}")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise ConfigError(f"simulator: fault {name} must be a number of seconds >= 0")
    return float(value)


def _id_set(value: Any) -> set[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError("simulator: fault failed_ids must be a set of image ids")
    ids = set(value)
    if not all(isinstance(item, str) for item in ids):
        raise ConfigError("simulator: fault failed_ids must contain strings only")
    return ids
