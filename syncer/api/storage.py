"""Fetching originals from presigned storage URLs (§7): never with the API key.

The query string of a presigned URL is its signature, a secret like the key: messages and log
lines only ever show ``scheme://host/path`` (see :func:`redact_url`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import httpx

from syncer.api.client import DEFAULT_USER_AGENT
from syncer.api.envelope import clean_text
from syncer.errors import LinkExpiredError, TransferError

EXPIRED_STATUSES = frozenset({400, 401, 403, 404})
_BODY_PEEK = 2048


def redact_url(url: str) -> str:
    """``url`` without its query string, fragment and any user info: safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class StorageClient:
    """Streams presigned URLs from the storage host; sends no API key and follows no redirect.

    It owns its ``httpx.Client`` unless one is injected; an injected client whose default
    headers carry ``X-API-Key`` is refused.
    """

    def __init__(
        self, *, http: httpx.Client | None = None, timeout: float = 60.0, max_connections: int = 16
    ) -> None:
        if http is not None and "x-api-key" in http.headers:
            raise ValueError("the storage client must not send X-API-Key to the storage host")
        if not timeout > 0:
            raise ValueError(f"storage timeout must be positive, got {timeout!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._owns_http = http is None
        self._http = http if http is not None else _build_http(timeout, max_connections)
        self._timeout = httpx.Timeout(timeout)

    def __repr__(self) -> str:
        return "StorageClient()"

    @contextmanager
    def get(self, url: str) -> Iterator[httpx.Response]:
        """Stream ``url``; yields the response only on HTTP 200.

        400/401/403/404 raise :class:`LinkExpiredError` (ask for a new URL); any other status,
        a network error or a timeout, also while the body is read inside the block, raises
        :class:`TransferError`.
        """
        safe = redact_url(url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise TransferError(f"presigned URL {safe} is not an http(s) URL")
        try:
            with self._http.stream(
                "GET", url, timeout=self._timeout, follow_redirects=False
            ) as response:
                _check_status(response, safe)
                yield response
        except httpx.HTTPError as exc:
            raise TransferError(f"fetching {safe} failed: {_describe(exc, url)}") from exc

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


def _build_http(timeout: float, max_connections: int) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": DEFAULT_USER_AGENT, "Accept-Encoding": "identity"},
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )


def _check_status(response: httpx.Response, safe_url: str) -> None:
    status = response.status_code
    if status == 200:
        return
    detail = _peek(response)
    suffix = f": {detail}" if detail else ""
    if status in EXPIRED_STATUSES:
        raise LinkExpiredError(f"storage refused {safe_url} (HTTP {status}){suffix}")
    raise TransferError(f"storage answered {safe_url} with HTTP {status}{suffix}")


def _peek(response: httpx.Response) -> str:
    """The first 200 printable characters of an error body (best effort)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _BODY_PEEK:
                break
    except httpx.HTTPError:
        pass
    text = b"".join(chunks)[:_BODY_PEEK].decode("utf-8", errors="replace")
    return clean_text(text)


def _describe(exc: httpx.HTTPError, url: str) -> str:
    """``exc`` as text, with the URL's query string (its signature) removed."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    query = urlsplit(url).query
    if query:
        text = text.replace(url, redact_url(url)).replace(query, "[redacted]")
    return clean_text(text)
