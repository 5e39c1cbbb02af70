"""Fetching originals from presigned storage URLs (§7): never with the API key.

The query string of a presigned URL is its signature, a secret like the key: messages and log
lines only ever show ``scheme://host/path`` (see :func:`redact_url`).

This client is built on the standard library's ``http.client`` rather than httpx: the body is
read with ``readinto`` straight into one reusable buffer per thread, with no per-chunk parsing
or copying in Python. On the benchmark (1 GB in 2 MB files, 8 threads, sha256 + write + fsync)
that took 0.93 s and 1.15 CPU-seconds, against 2.3 s and 2.5-3.3 CPU-seconds through httpx's
streaming API; see docs/performance.md. Each thread keeps its own keep-alive
connection per storage host.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from syncer.api.agent import DEFAULT_USER_AGENT
from syncer.api.envelope import clean_text
from syncer.api.retry import parse_retry_after
from syncer.api.trust import storage_context
from syncer.errors import LinkExpiredError, TransferError, UntrustedHostError

EXPIRED_STATUSES = frozenset({400, 401, 403, 404})
_BODY_PEEK = 2048
_NETWORK_ERRORS = (OSError, http.client.HTTPException)
PUSHBACK_STATUSES = frozenset({429, 503})  # the host asks for fewer requests (S3: 503 SlowDown)
_Key = tuple[str, str, int]


def redact_url(url: str) -> str:
    """``url`` without its query string, fragment and any user info: safe to log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class StorageResponse:
    """A 200 answer whose body is read with :meth:`readinto`; network errors -> TransferError.

    A body of known length (what storage hosts send) is read by :class:`_SizedBody`, which
    hands bytes over as they arrive; anything else (chunked or unsized) goes through
    ``http.client``.
    """

    def __init__(
        self,
        response: http.client.HTTPResponse,
        safe_url: str,
        timeout: float,
        body: _SizedBody | None = None,
    ) -> None:
        self._response = response
        self._safe_url = safe_url
        self._timeout = timeout
        self.status = response.status
        self.headers = response.headers
        self._body = body

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` with the next bytes of the body; 0 at its end."""
        try:
            if self._body is not None:
                count = self._body.readinto(buffer)
                missing = self._body.left
            else:
                count = self._response.readinto(buffer)
                missing = self._response.length or 0
        except TimeoutError as exc:
            stalled = f"no data for {self._timeout:g} s"
            raise TransferError(f"reading {self._safe_url} failed: {stalled}") from exc
        except _NETWORK_ERRORS as exc:
            raise TransferError(
                f"reading {self._safe_url} failed: {_describe(exc)}", pushback=_is_reset(exc)
            ) from exc
        if count == 0 and len(buffer) and missing:  # http.client does not raise IncompleteRead
            raise TransferError(f"reading {self._safe_url} failed: closed {missing} bytes early")
        return count

    def chunks(self, buffer: bytearray) -> Iterator[memoryview]:
        """The body as views into ``buffer`` (each valid until the next one is read)."""
        view = memoryview(buffer)
        while count := self.readinto(view):
            yield view[:count]


class _SizedBody:
    """The rest of a sized body, handed over as it arrives: never waits to fill a whole buffer.

    Each call returns what ``http.client`` has buffered or, once that is drained, one read of
    the socket: over TLS (what presigned URLs use) one record, at most 16 KiB, since
    ``SSL_read`` never returns more; a larger ``recv_into`` cannot help, and these per-record
    calls measured no dearer than ``http.client``'s own loop. A stop or a slow server is thus
    seen between records, and the socket timeout bounds a stall.
    """

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response
        self.left: int = response.length or 0

    def readinto(self, buffer: memoryview) -> int:
        want = min(len(buffer), self.left)
        fp = self._response.fp
        count = fp.readinto1(buffer[:want]) if want and fp is not None else 0
        self.left -= count
        if self.left == 0 and fp is not None:
            self._response.close()  # the whole body is in: the connection serves the next GET
        return count


class StorageClient:
    """Streams presigned URLs from the storage host; sends no API key and follows no redirect.

    HTTPS hosts are verified against ``ssl_context`` or, by default, the system's CAs
    (``ssl.create_default_context()``, which also reads ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``).
    At most ``max_connections`` bodies are streamed at once; a further :meth:`get` waits for
    one of them to end.
    """

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        max_connections: int = 16,
        user_agent: str = DEFAULT_USER_AGENT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"storage timeout must be positive, got {timeout!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._timeout = timeout
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._local = threading.local()
        self._all: set[http.client.HTTPConnection] = set()  # open ones, of every thread
        self._closed = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._ssl = ssl_context  # the default is read on the first HTTPS URL: loading the CAs
        # takes tens of milliseconds that a cycle with nothing to download should not pay

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                self._ssl = storage_context()
            return self._ssl

    def __repr__(self) -> str:
        return "StorageClient()"

    @contextmanager
    def get(self, url: str) -> Iterator[StorageResponse]:
        """GET ``url``; yields the response only on HTTP 200.

        400/401/403/404 raise :class:`LinkExpiredError` (ask for a new URL); any other status,
        a network error or a timeout, also while the body is read inside the block, raises
        :class:`TransferError`.
        """
        safe = redact_url(url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransferError(f"presigned URL {safe} is not an http(s) URL")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        with self._slots:
            response = self._request(key, target, safe)
            complete = False
            try:
                _check_status(response, safe)
                yield StorageResponse(response, safe, self._timeout, _sized_body(response))
                complete = response.isclosed() and not response.will_close
            finally:
                if not complete:
                    self._drop(key)

    def _request(self, key: _Key, target: str, safe: str) -> http.client.HTTPResponse:
        """Send the GET; a kept-alive connection the server closed meanwhile is retried once."""
        reused = key in self._connections()
        try:
            return self._send(key, target)
        except _NETWORK_ERRORS as exc:
            self._drop(key)
            if not reused or isinstance(exc, ssl.SSLCertVerificationError):
                raise _failed(key, safe, exc) from exc
        try:
            return self._send(key, target)
        except _NETWORK_ERRORS as exc:
            self._drop(key)
            raise _failed(key, safe, exc) from exc

    def _send(self, key: _Key, target: str) -> http.client.HTTPResponse:
        connection = self._connection(key)
        connection.request("GET", target, headers=self._headers)
        return connection.getresponse()

    def _connections(self) -> dict[_Key, http.client.HTTPConnection]:
        found: dict[_Key, http.client.HTTPConnection] | None = getattr(self._local, "map", None)
        if found is None:
            found = self._local.map = {}
        return found

    def _connection(self, key: _Key) -> http.client.HTTPConnection:
        if self._closed:  # http.client would reconnect a closed connection, out of our sight
            raise TransferError("the storage client is closed")
        connections = self._connections()
        connection = connections.get(key)
        if connection is None:
            scheme, host, port = key
            if scheme == "https":
                connection = http.client.HTTPSConnection(
                    host, port, timeout=self._timeout, context=self._tls()
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
            with self._lock:  # a connection made after close() would never be closed
                if self._closed:
                    raise TransferError("the storage client is closed")
                self._all.add(connection)
            connections[key] = connection
        return connection

    def _drop(self, key: _Key) -> None:
        connection = self._connections().pop(key, None)
        if connection is not None:
            with self._lock:
                self._all.discard(connection)
            connection.close()

    def abort(self) -> None:
        """Cut every open connection now: reads blocked in other threads fail at once."""
        with self._lock:
            connections = list(self._all)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close every connection this client opened, in every thread; it makes no more."""
        with self._lock:
            connections, self._all, self._closed = self._all, set(), True
        for connection in connections:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _sized_body(response: http.client.HTTPResponse) -> _SizedBody | None:
    """A body of known length (what storage hosts send); None for chunked or unsized ones."""
    if response.chunked or response.length is None:
        return None
    return _SizedBody(response)


def _failed(key: _Key, safe_url: str, exc: BaseException) -> TransferError:
    """A request that got no answer; a certificate that does not verify names the host first.

    Run summaries group failures by the text before the first colon: one line per host.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = clean_text(str(exc.verify_message or exc.reason or exc))
        return UntrustedHostError(
            f"untrusted certificate from storage host {key[1]} (trust its CA with SSL_CERT_FILE)"
            f": {reason}"
        )
    return TransferError(f"fetching {safe_url} failed: {_describe(exc)}", pushback=_is_reset(exc))


def _is_reset(exc: BaseException) -> bool:
    """A connection the host reset or refused: a sign of too many at once."""
    return isinstance(exc, ConnectionResetError | ConnectionRefusedError | ConnectionAbortedError)


def _check_status(response: http.client.HTTPResponse, safe_url: str) -> None:
    status = response.status
    if status == 200:
        return
    detail = _peek(response)
    suffix = f": {detail}" if detail else ""
    if status in EXPIRED_STATUSES:
        raise LinkExpiredError(f"storage refused {safe_url} (HTTP {status}){suffix}")
    header = response.getheader("Retry-After")
    wait = parse_retry_after(header, time.time()) if header else None
    raise TransferError(
        f"storage answered HTTP {status} for {safe_url}{suffix}",
        retry_after=wait,
        pushback=status in PUSHBACK_STATUSES or "SlowDown" in detail,
    )


def _peek(response: http.client.HTTPResponse) -> str:
    """The first 200 printable characters of an error body (best effort)."""
    try:
        data = response.read(_BODY_PEEK)
    except (TimeoutError, *_NETWORK_ERRORS):
        return ""
    return clean_text(data.decode("utf-8", errors="replace"))


def _describe(exc: BaseException) -> str:
    """``exc`` as text; http.client never puts the request URL in its messages."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return clean_text(text)
