"""The presigned "storage" host: URL signing (HMAC + expiry in the query) and byte serving.

Errors here look like an S3-style object store: XML bodies, never the API envelope. Bodies go
out with ``socket.sendfile`` (files on disk) or one ``sendall`` per in-memory part, so loopback
throughput is limited by the client, not by us, unless the bandwidth knobs pace them
(:mod:`syncer.sim.pacing`).
Every byte range is served for clips as for originals.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import Protocol
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from syncer.sim.datadir import DataDir, PhotoBody
from syncer.sim.faults import Faults
from syncer.sim.pacing import BodyWriter, Pacer
from syncer.sim.stats import SimStats
from syncer.sim.world import World

_OBJECT = re.compile(r"^/storage/(\d{1,12})/([A-Za-z0-9-]{1,80})\.jpg$")
_PREVIEW = re.compile(r"^/imgs/(\d{1,12})/(?:large|small)/([A-Za-z0-9-]{1,80})\.jpg$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Please try again later</h1><p>The gateway could not reach the origin.</p>"
    b"</body></html>\n"
)


class Clips(Protocol):
    """Where the storage route learns whether a clip exists and what its bytes are."""

    def clip_bytes(self, clip: str) -> bytes | None: ...


class _BytesBody:
    """An in-memory body (a clip)."""

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self.size = len(blob)

    def send(self, sock: socket.socket, offset: int, count: int) -> int:
        if count <= 0:
            return 0
        sock.sendall(memoryview(self._blob)[offset : offset + count])
        return min(count, self.size - offset)

    def close(self) -> None:
        pass


class Presigner:
    """Issues and checks presigned object URLs."""

    def __init__(
        self, secret: bytes, base_url: str, ttl: float, clock: Callable[[], float]
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._ttl = ttl
        self._clock = clock

    def url(self, relpath: str, *, expired: bool = False) -> str:
        """A URL for ``relpath``; ``expired`` makes one that is already out of date."""
        expires = f"{self._clock() + (-1.0 if expired else self._ttl):.3f}"
        return f"{self.base_url}/{relpath}?expires={expires}&sig={self._sign(relpath, expires)}"

    def refusal(self, relpath: str, query: str) -> tuple[str, str] | None:
        """None when the query authorises ``relpath``, else an S3-style (code, message)."""
        params = parse_qs(query)
        expires, sig = params.get("expires", [""])[0], params.get("sig", [""])[0]
        if not expires or not sig:
            return "AccessDenied", "Query-string authentication requires expires and sig"
        if not hmac.compare_digest(sig, self._sign(relpath, expires)):
            return "SignatureDoesNotMatch", "The request signature we calculated does not match"
        try:
            deadline = float(expires)
        except ValueError:
            return "AccessDenied", "Invalid expires value"
        if self._clock() >= deadline:
            return "AccessDenied", "Request has expired"
        return None

    def _sign(self, relpath: str, expires: str) -> str:
        message = f"{relpath}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Plan:
    """What one response will look like on the wire."""

    status: int
    start: int
    length: int  # bytes of the file to send
    declared: int  # Content-Length header
    content_type: str = "image/jpeg"
    fault: str | None = None


@dataclass(frozen=True)
class _Object:
    """One object about to be served, and what to do once its whole body went out."""

    body: PhotoBody
    content_type: str
    etag: str | None
    storage: bool  # a storage body: latency and bandwidth knobs apply
    faults: bool  # the drop/corrupt knobs apply
    whole: Callable[[int], None] | None = None  # counts a complete 200 body (+1/-1)


class StorageRoute:
    """Serves ``/storage/...`` (presigned originals), ``/clips/...`` (public video clips) and
    ``/imgs/...`` (unsigned previews).

    The knobs ``slow_storage_seconds`` (before the status line), ``storage_bytes_per_second``
    (per body) and ``storage_link_bytes_per_second`` (all bodies together) apply to originals
    and clips; bodies are paced in slices of about 20 ms, one sleep per slice, no lock held.
    """

    def __init__(
        self,
        files: DataDir,
        world: World,
        presigner: Presigner,
        faults: Faults,
        stats: SimStats,
        sleep: Callable[[float], None],
        *,
        clips: Clips,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._files = files
        self._world = world
        self._presigner = presigner
        self._faults = faults
        self._stats = stats
        self._sleep = sleep
        self._clips = clips
        self._pacer = Pacer(monotonic, sleep)

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(("/storage/", "/imgs/", "/clips/"))

    def serve(self, handler: BaseHTTPRequestHandler, path: str, query: str) -> None:
        head = handler.command == "HEAD"
        self._stats.storage_request(with_api_key=handler.headers.get("X-API-Key") is not None)
        if handler.command not in ("GET", "HEAD"):
            self._xml(handler, 405, "MethodNotAllowed", "Only GET and HEAD are allowed", head)
            return
        if path.startswith("/clips/"):
            self._serve_clip(handler, path.removeprefix("/"), head)
            return
        if path.startswith("/imgs/"):
            found = _PREVIEW.match(path)
            if found is None or self._world.photo(int(found[1]), found[2]) is None:
                self._no_such_key(handler, head)
                return
            self._send_photo(handler, int(found[1]), found[2], head, presigned=False)
            return
        found = _OBJECT.match(path)
        if found is None:
            self._no_such_key(handler, head)
            return
        refusal = self._presigner.refusal(path.removeprefix("/storage/"), query)
        if refusal is not None:
            self._xml(handler, 403, *refusal, head)
            return
        if not head:
            self._stats.object_served(found[2])
        self._send_photo(handler, int(found[1]), found[2], head, presigned=True)

    def _serve_clip(self, handler: BaseHTTPRequestHandler, clip: str, head: bool) -> None:
        blob = self._clips.clip_bytes(clip)
        if blob is None or self._faults.clip_missing_now(clip):
            self._no_such_key(handler, head)
            return
        etag = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        body = _BytesBody(blob)
        whole = partial(self._stats.clip_download, clip)
        self._send(handler, _Object(body, "video/mp4", etag, True, False, whole), head)

    def _send_photo(
        self,
        handler: BaseHTTPRequestHandler,
        event_id: int,
        image_id: str,
        head: bool,
        *,
        presigned: bool,
    ) -> None:
        try:
            body = self._files.open(event_id, image_id)
        except FileNotFoundError:
            self._no_such_key(handler, head)
            return
        photo = self._world.photo(event_id, image_id)
        etag = photo.md5 if photo is not None and photo.md5 else None
        whole = partial(self._stats.full_download, image_id) if presigned else None
        obj = _Object(body, "image/jpeg", etag, presigned, presigned, whole)
        try:
            self._send(handler, obj, head)
        finally:
            body.close()

    def _send(self, handler: BaseHTTPRequestHandler, obj: _Object, head: bool) -> None:
        size = obj.body.size
        span = _byte_range(handler.headers.get("Range"), size)
        if obj.storage and self._faults.slow_storage_seconds:
            self._sleep(self._faults.slow_storage_seconds)  # before the first byte
        if span is None:
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{size}")
            self._finish_xml(handler, 416, "InvalidRange", "The range is not satisfiable", head)
            return
        fault = self._faults.storage_fault() if obj.faults and not head else None
        if fault == "503":
            self._busy(handler)
            return
        plan = _plan(span, size, fault, obj.content_type)
        self._headers(handler, plan, size, obj.etag)
        if head:
            return
        whole = plan.status == 200 and fault is None and plan.length == size
        self._body(handler, obj, plan, obj.whole if whole else None)

    def _headers(
        self, handler: BaseHTTPRequestHandler, plan: _Plan, size: int, etag: str | None
    ) -> None:
        self._stats.status(plan.status)
        handler.send_response(plan.status)
        handler.send_header("Content-Type", plan.content_type)
        handler.send_header("Content-Length", str(plan.declared))
        handler.send_header("Accept-Ranges", "bytes")
        if etag and plan.fault != "html200":
            handler.send_header("ETag", f'"{etag}"')
        if plan.status == 206:
            end = plan.start + plan.length - 1
            handler.send_header("Content-Range", f"bytes {plan.start}-{end}/{size}")
        handler.end_headers()

    def _body(
        self,
        handler: BaseHTTPRequestHandler,
        obj: _Object,
        plan: _Plan,
        whole: Callable[[int], None] | None,
    ) -> None:
        """Write the planned body; ``whole(+1)`` just before its last byte goes out (so a
        client never holds a complete body that is not counted yet), ``whole(-1)`` if that
        last byte then fails."""
        sent = 0
        rate = self._faults.storage_bytes_per_second if obj.storage else None
        link = self._faults.storage_link_bytes_per_second if obj.storage else None
        out = BodyWriter(handler.connection, obj.body, plan.start, plan.length, whole)
        try:
            if plan.fault == "html200":
                handler.wfile.write(_HTML_PAGE)
                sent = len(_HTML_PAGE)
            else:
                self._pacer.send(out, rate, link)
                if plan.fault == "stall":  # the rest never comes: the client must time out
                    self._sleep(self._faults.stall_seconds)
        except OSError:
            handler.close_connection = True
        finally:
            self._stats.sent(sent or out.sent)
        if plan.fault in ("drop", "stall", "short", "long"):
            handler.close_connection = True  # the body on the wire disagrees with its length

    def _busy(self, handler: BaseHTTPRequestHandler) -> None:
        """A storage host under load: 503 SlowDown, with ``Retry-After`` when the knob is set."""
        handler.send_response(503)
        retry_after = self._faults.storage_retry_after
        if retry_after is not None:
            handler.send_header("Retry-After", f"{retry_after:g}")
        self._finish_xml(handler, 503, "SlowDown", "Please reduce your request rate.", False)

    def _no_such_key(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        self._xml(handler, 404, "NoSuchKey", "The specified key does not exist.", head)

    def _xml(
        self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str, head: bool
    ) -> None:
        handler.send_response(status)
        self._finish_xml(handler, status, code, message, head)

    def _finish_xml(
        self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str, head: bool
    ) -> None:
        self._stats.status(status)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>\n"
        ).encode()
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)


def _byte_range(header: str | None, size: int) -> tuple[int, int, bool] | None:
    """(start, length, partial) for a single ``bytes=`` range; None when unsatisfiable.

    A missing, malformed or multi-range header means the whole file (RFC 9110 allows that).
    """
    found = _RANGE.match(header.strip()) if header else None
    if found is None or (not found[1] and not found[2]):
        return 0, size, False
    if not found[1]:  # suffix: the last N bytes
        suffix = int(found[2])
        if suffix == 0 or size == 0:
            return None
        return max(0, size - suffix), min(suffix, size), True
    start = int(found[1])
    end = int(found[2]) if found[2] else size - 1
    if found[2] and end < start:
        return 0, size, False
    if start >= size:
        return None
    return start, min(end, size - 1) - start + 1, True


def _plan(span: tuple[int, int, bool], size: int, fault: str | None, content_type: str) -> _Plan:
    start, length, ranged = span
    status = 206 if ranged else 200
    cut = max(1, length // 10)
    if fault == "html200":
        return _Plan(200, 0, 0, len(_HTML_PAGE), "text/html; charset=utf-8", fault)
    if fault == "ctype":
        return _Plan(status, start, length, length, "text/html; charset=utf-8", fault)
    if fault in ("drop", "stall"):
        return _Plan(status, start, length // 2, length, content_type, fault)
    if fault == "short":
        return _Plan(status, start, max(0, length - cut), length, content_type, fault)
    if fault == "long":
        return _Plan(status, start, length, max(0, length - cut), content_type, fault)
    return _Plan(status, start, length, length, content_type)
