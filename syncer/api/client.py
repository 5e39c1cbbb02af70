"""The typed 9Pic API client: one method per endpoint of the ``ext`` surface (§1.1)."""

from __future__ import annotations

import logging
import os
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Literal, Self, get_args
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr

from syncer.api.agent import DEFAULT_USER_AGENT
from syncer.api.envelope import decode
from syncer.api.limiter import AdaptiveLimiter
from syncer.api.models import (
    ClipJob,
    EventDetails,
    EventItem,
    EventList,
    FaceSearchResult,
    ImageItem,
    ImageList,
    OriginalsPage,
    Page,
    Ping,
    PresignResult,
    TimelineDay,
    TimelineDays,
)
from syncer.api.paging import page_size_for, walk
from syncer.api.presign import MAX_BATCH, batch_ids, reconcile
from syncer.api.requester import Call, FileField, Observer, Pacing, Requester
from syncer.api.retry import RetryPolicy
from syncer.api.trust import api_context
from syncer.errors import ApiUnavailableError, BadRequestError, ConfigError

log = logging.getLogger(__name__)

OriginalsMethod = Literal["bib", "selfie", "image_id", "image_ids"]

LIST_MAX = 100
"""Largest ``page_size`` of events, images, bibs, faces and (our choice) timeline images."""
ORIGINALS_MAX = MAX_BATCH
CLIP_POLL_FIRST = 2.0
CLIP_POLL_MAX = 30.0
DEFAULT_RETRY = RetryPolicy()


def _jitter_rng() -> random.Random:
    return random.Random()  # noqa: S311 - backoff jitter, not cryptography


class ApiClient:
    """Client of ``<base_url>/api/v1/ext/<org_id>/...`` authenticated with ``X-API-Key``.

    Every call holds a slot of the shared :class:`AdaptiveLimiter` while in flight and is
    retried per :class:`RetryPolicy`. Errors are :mod:`syncer.errors` classes; the key never
    appears in a message, a log line or ``repr``. Thread-safe when the injected
    ``httpx.Client`` is.

    Face search retries replay the same POST: with the ``request_id`` it was given, or without
    one when none was given (the server never told us an id before the failure).
    """

    def __init__(
        self,
        *,
        base_url: str,
        org_id: int,
        api_key: SecretStr,
        http: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        limiter: AdaptiveLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        observer: Observer | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self._base_url = _checked_base_url(base_url)
        self._org_id = _checked_org(org_id)
        _check_key(api_key)
        if not timeout > 0:
            raise ConfigError(f"the API timeout must be positive, got {timeout!r}")
        self._owns_http = http is None
        self._http = http if http is not None else _http_client()
        self._clock = clock
        self._sleep = sleep
        self._requester = Requester(
            prefix=f"{self._base_url}/api/v1/ext/{self._org_id}",
            api_key=api_key,
            http=self._http,
            retry=retry,
            limiter=limiter if limiter is not None else AdaptiveLimiter(),
            pacing=Pacing(sleep, clock, wall_clock, rng if rng is not None else _jitter_rng()),
            timeout=timeout,
            observer=observer,
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self._base_url!r}, org_id={self._org_id})"

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- single objects -------------------------------------------------------------------

    def ping(self, event_id: int) -> Ping:
        """Check key, host, organisation and event in one call (§4.1)."""
        call = Call("ping", "GET", f"{_event(event_id)}/ping")
        return decode(self._requester.send(call), call.label, Ping)

    def event_details(self, event_id: int) -> EventDetails:
        """Event metadata and feature flags (§4.3)."""
        call = Call("details", "GET", f"{_event(event_id)}/details")
        return decode(self._requester.send(call), call.label, EventDetails)

    def timeline_days(self, event_id: int) -> list[TimelineDay]:
        """Photo counts per UTC day and hour (§4.8)."""
        call = Call("timeline_days", "GET", f"{_event(event_id)}/timeline/days")
        return decode(self._requester.send(call), call.label, TimelineDays).days

    # -- listings -------------------------------------------------------------------------

    def events(self, *, page_size: int = 100) -> Iterator[EventItem]:
        """Every event of the organisation, each once (§4.2)."""
        size = page_size_for(page_size, LIST_MAX)
        pages = walk(lambda page: self._events_page(page, size), label="GET /events")
        return _unique_events(pages)

    def image_pages(
        self, event_id: int, *, start_page: int = 1, page_size: int = 100, ahead: int = 1
    ) -> Iterator[Page[ImageItem]]:
        """Pages of every photo of the event, from ``start_page`` on (§4.4).

        ``ahead`` > 1 requests that many announced pages at once; they still come in order.
        """
        path = f"{_event(event_id)}/images"
        return self._image_walk("images", path, page_size, start_page, ahead=ahead)

    def bib_pages(
        self, event_id: int, bib: str, *, page_size: int = 100
    ) -> Iterator[Page[ImageItem]]:
        """Pages of the photos tagged with ``bib`` (§4.5)."""
        path = f"{_event(event_id)}/bibs/{_segment(bib, 'bib')}"
        return self._image_walk("bibs", path, page_size, 1)

    def timeline_pages(
        self, event_id: int, start: int, end: int, *, page_size: int = 100
    ) -> Iterator[Page[ImageItem]]:
        """Pages of the photos captured in ``[start, end)`` (Unix seconds, §4.9)."""
        if end < start:
            raise ValueError(f"timeline window ends ({end}) before it starts ({start})")
        path = f"{_event(event_id)}/timeline/images"
        window = {"from": start, "to": end}
        return self._image_walk("timeline_images", path, page_size, 1, window)

    def face_search(
        self,
        event_id: int,
        selfie: bytes,
        *,
        filename: str = "selfie.jpg",
        content_type: str = "image/jpeg",
        request_id: str | None = None,
        page: int = 1,
        page_size: int = 32,
        field: str = "file",
    ) -> FaceSearchResult:
        """Run (or, with ``request_id``, reuse) a selfie search and return one page (§4.6)."""
        if not selfie:
            raise ValueError("the selfie image is empty")
        if page < 1:
            raise ValueError(f"page must be at least 1, got {page}")
        params: dict[str, str | int] = {
            "page": page,
            "page_size": page_size_for(page_size, LIST_MAX),
        }
        form: dict[str, str] = {}
        if request_id:
            params["request_id"] = form["request_id"] = request_id
        files: dict[str, FileField] = {field: (filename, selfie, content_type)}
        call = Call("faces", "POST", f"{_event(event_id)}/faces", params, data=form, files=files)
        return decode(self._requester.send(call), call.label, FaceSearchResult)

    def face_pages(
        self, event_id: int, request_id: str, *, page_size: int = 100, start_page: int = 1
    ) -> Iterator[FaceSearchResult]:
        """Pages of an earlier selfie search, without matching again (§4.7)."""
        size = page_size_for(page_size, LIST_MAX)
        path = f"{_event(event_id)}/faces/{_segment(request_id, 'request_id')}"

        def fetch(page: int) -> FaceSearchResult:
            call = Call("faces_cached", "GET", path, {"page": page, "page_size": size})
            return decode(self._requester.send(call), call.label, FaceSearchResult)

        return walk(fetch, start_page=start_page, label=f"GET {path}")

    # -- video clipping -------------------------------------------------------------------

    def start_clip(
        self, event_id: int, *, request_id: str | None = None, selfie: bytes | None = None
    ) -> ClipJob:
        """Start a clip search from a selfie and/or an earlier ``request_id`` (§4.10).

        ``request_id`` is sent both as a form field and in the query (the field name is
        undocumented); the selfie goes in the multipart part ``file``.
        """
        if not request_id and not selfie:
            raise ValueError("start_clip needs a request_id or a selfie")
        params: dict[str, str | int] = {}
        form: dict[str, str] = {}
        if request_id:
            params["request_id"] = form["request_id"] = request_id
        files = {"file": ("selfie.jpg", selfie, "image/jpeg")} if selfie else None
        path = f"{_event(event_id)}/video-clipping/search-by-selfie"
        call = Call("clip_start", "POST", path, params, data=form, files=files)
        return decode(self._requester.send(call), call.label, ClipJob)

    def clip(self, event_id: int, request_id: str) -> ClipJob:
        """The current state of a clip job (§4.11)."""
        path = f"{_event(event_id)}/video-clipping/{_segment(request_id, 'request_id')}"
        call = Call("clip", "GET", path)
        return decode(self._requester.send(call), call.label, ClipJob)

    def wait_clip(self, event_id: int, request_id: str, *, deadline: float = 600.0) -> ClipJob:
        """Poll a clip job (2 s doubling to 30 s) until its status is terminal.

        Raises :class:`ApiUnavailableError` when ``deadline`` seconds pass first.
        """
        started = self._clock()
        delay = CLIP_POLL_FIRST
        while True:
            job = self.clip(event_id, request_id)
            if job.terminal:
                return job
            if self._clock() - started + delay > deadline:
                raise ApiUnavailableError(
                    f"clip job {request_id} still {job.status or 'unknown'} after "
                    f"{self._clock() - started:.0f} s"
                )
            self._sleep(delay)
            delay = min(delay * 2, CLIP_POLL_MAX)

    # -- originals ------------------------------------------------------------------------

    def originals(
        self,
        event_id: int,
        method: OriginalsMethod,
        identifier: str | Sequence[str],
        *,
        page_size: int = 60,
    ) -> Iterator[OriginalsPage]:
        """Pages of presigned URLs for originals chosen by ``method`` (§4.12)."""
        body = {"method": method, "identifier": _identifier(method, identifier)}
        size = page_size_for(page_size, ORIGINALS_MAX)
        path = f"{_event(event_id)}/original-photos"

        def fetch(page: int) -> OriginalsPage:
            call = Call("originals", "POST", path, {"page": page, "page_size": size}, json=body)
            return decode(self._requester.send(call), call.label, OriginalsPage)

        return walk(fetch, label=f"POST {path}")

    def links_for(
        self,
        event_id: int,
        method: OriginalsMethod,
        identifier: str,
        expected: Sequence[str],
    ) -> PresignResult:
        """Every page of ``method``'s presigned URLs for ``identifier`` (a BIB, a request_id),
        each URL mapped by its file name to one of the ``expected`` ids (what the matching
        search found); URLs that map to none are left out, expected ids without one are
        ``missing``."""
        pages = self.originals(event_id, method, identifier, page_size=ORIGINALS_MAX)
        return reconcile(list(dict.fromkeys(expected)), pages)

    def presign(self, event_id: int, image_ids: Sequence[str]) -> PresignResult:
        """Presigned URLs for 1 to 60 image ids, each id sorted into exactly one outcome."""
        ids = batch_ids(image_ids)
        pages: list[OriginalsPage] = []
        try:
            pages.extend(self.originals(event_id, "image_ids", ids, page_size=MAX_BATCH))
        except BadRequestError as exc:
            if not pages:
                log.debug("every id of a presign batch was refused: %s", exc.message)
                return PresignResult(invalid=ids)
            log.warning("presign stopped at page %d: %s", len(pages) + 1, exc.message)
        return reconcile(ids, pages)

    # -- helpers --------------------------------------------------------------------------

    def _events_page(self, page: int, size: int) -> EventList:
        call = Call("events", "GET", "/events", {"page": page, "page_size": size})
        return decode(self._requester.send(call), call.label, EventList)

    def _image_walk(
        self,
        name: str,
        path: str,
        page_size: int,
        start_page: int,
        extra: Mapping[str, str | int] | None = None,
        *,
        ahead: int = 1,
    ) -> Iterator[Page[ImageItem]]:
        size = page_size_for(page_size, LIST_MAX)

        def fetch(page: int) -> Page[ImageItem]:
            params: dict[str, str | int] = {**(extra or {}), "page": page, "page_size": size}
            call = Call(name, "GET", path, params)
            listing = decode(self._requester.send(call), call.label, ImageList)
            return Page[ImageItem](items=listing.images, pagination=listing.pagination, page=page)

        return walk(fetch, start_page=start_page, label=f"GET {path}", ahead=ahead)


def _unique_events(pages: Iterator[EventList]) -> Iterator[EventItem]:
    seen: set[int] = set()
    for listing in pages:
        for event in listing.events:
            if event.event_id not in seen:
                seen.add(event.event_id)
                yield event


def _identifier(method: str, identifier: str | Sequence[str]) -> str | list[str]:
    if method not in get_args(OriginalsMethod):
        raise ValueError(f"unknown originals method {method!r}")
    if method == "image_ids":
        if isinstance(identifier, str) or not identifier:
            raise ValueError("method image_ids needs a non-empty list of image ids")
        return list(identifier)
    if not isinstance(identifier, str) or not identifier:
        raise ValueError(f"method {method} needs a single non-empty identifier")
    return identifier


def _event(event_id: int) -> str:
    if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 1:
        raise ValueError(f"event id must be a positive integer, got {event_id!r}")
    return f"/event/{event_id}"


def _segment(value: str, what: str) -> str:
    """``value`` as one path segment: every reserved character percent-encoded.

    ``.`` and ``..`` are encoded too (``%2E``): as they are, URL normalisation (httpx's
    included) would remove them as dot segments and send the request elsewhere.
    """
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


def _http_client() -> httpx.Client:
    """The CAs to trust come from ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set (:mod:`trust`)."""
    try:
        return httpx.Client(follow_redirects=False, verify=api_context())
    except (OSError, ssl.SSLError) as exc:
        names = ("SSL_CERT_FILE", "SSL_CERT_DIR")
        where = ", ".join(f"{n}={os.environ[n]}" for n in names if os.environ.get(n))
        raise ConfigError(
            f"cannot load the trusted CA certificates ({where or 'system store'}): "
            f"{getattr(exc, 'strerror', None) or exc}",
            hint="SSL_CERT_FILE must name a readable PEM file of CA certificates",
        ) from exc


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the API base URL must be an http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("the API base URL must not carry credentials, a query or a fragment")
    return base_url.strip().rstrip("/")


def _checked_org(org_id: int) -> int:
    if isinstance(org_id, bool) or not isinstance(org_id, int) or org_id < 1:
        raise ConfigError(f"the organisation id must be a positive integer, got {org_id!r}")
    return org_id


def _check_key(api_key: SecretStr) -> None:
    secret = api_key.get_secret_value()
    if not secret.strip():
        raise ConfigError("the 9Pic API key is empty")
    if not secret.isascii() or not secret.isprintable() or secret != secret.strip():
        raise ConfigError("the 9Pic API key holds characters that cannot be sent in a header")
