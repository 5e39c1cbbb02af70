"""The presigned "storage" host: URL signing (HMAC + expiry in the query) and byte serving.

Errors here look like an S3-style object store: XML bodies, never the API envelope. Bodies go
out with ``socket.sendfile`` (files on disk) or one ``sendall`` per in-memory part, so loopback
throughput is limited by the client, not by us.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from syncer.sim.datadir import DataDir, PhotoBody
from syncer.sim.faults import Faults
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


class StorageRoute:
    """Serves ``/storage/...`` (presigned originals) and ``/imgs/...`` (unsigned previews)."""

    def __init__(
        self,
        files: DataDir,
        world: World,
        presigner: Presigner,
        faults: Faults,
        stats: SimStats,
        sleep: Callable[[float], None],
    ) -> None:
        self._files = files
        self._world = world
        self._presigner = presigner
        self._faults = faults
        self._stats = stats
        self._sleep = sleep

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(("/storage/", "/imgs/"))

    def serve(self, handler: BaseHTTPRequestHandler, path: str, query: str) -> None:
        head = handler.command == "HEAD"
        self._stats.storage_request(with_api_key=handler.headers.get("X-API-Key") is not None)
        if handler.command not in ("GET", "HEAD"):
            self._xml(handler, 405, "MethodNotAllowed", "Only GET and HEAD are allowed", head)
            return
        if path.startswith("/imgs/"):
            found = _PREVIEW.match(path)
            if found is None or self._world.photo(int(found[1]), found[2]) is None:
                self._xml(handler, 404, "NoSuchKey", "The specified key does not exist.", head)
                return
            self._send(handler, int(found[1]), found[2], head, faults=False)
            return
        found = _OBJECT.match(path)
        if found is None:
            self._xml(handler, 404, "NoSuchKey", "The specified key does not exist.", head)
            return
        refusal = self._presigner.refusal(path.removeprefix("/storage/"), query)
        if refusal is not None:
            self._xml(handler, 403, *refusal, head)
            return
        if not head:
            self._stats.object_served(found[2])
        self._send(handler, int(found[1]), found[2], head, faults=True)

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        event_id: int,
        image_id: str,
        head: bool,
        *,
        faults: bool,
    ) -> None:
        try:
            body = self._files.open(event_id, image_id)
        except FileNotFoundError:
            self._xml(handler, 404, "NoSuchKey", "The specified key does not exist.", head)
            return
        try:
            span = _byte_range(handler.headers.get("Range"), body.size)
            if span is None:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{body.size}")
                self._finish_xml(handler, 416, "InvalidRange", "The range is not satisfiable", head)
                return
            fault = self._faults.storage_fault() if faults and not head else None
            plan = _plan(span, body.size, fault)
            self._headers(handler, plan, body.size, event_id, image_id)
            if faults and self._faults.slow_storage_seconds:
                self._sleep(self._faults.slow_storage_seconds)
            if not head:
                self._body(handler, body, plan)
        finally:
            body.close()

    def _headers(
        self, handler: BaseHTTPRequestHandler, plan: _Plan, size: int, event_id: int, image_id: str
    ) -> None:
        self._stats.status(plan.status)
        handler.send_response(plan.status)
        handler.send_header("Content-Type", plan.content_type)
        handler.send_header("Content-Length", str(plan.declared))
        handler.send_header("Accept-Ranges", "bytes")
        photo = self._world.photo(event_id, image_id)
        if photo is not None and photo.md5 and plan.fault != "html200":
            handler.send_header("ETag", f'"{photo.md5}"')
        if plan.status == 206:
            end = plan.start + plan.length - 1
            handler.send_header("Content-Range", f"bytes {plan.start}-{end}/{size}")
        handler.end_headers()

    def _body(self, handler: BaseHTTPRequestHandler, body: PhotoBody, plan: _Plan) -> None:
        sent = 0
        try:
            if plan.fault == "html200":
                handler.wfile.write(_HTML_PAGE)
                sent = len(_HTML_PAGE)
            else:
                sent = body.send(handler.connection, plan.start, plan.length)
        except OSError:
            handler.close_connection = True
        finally:
            self._stats.sent(sent)
        if plan.fault in ("drop", "short", "long"):
            handler.close_connection = True  # the body on the wire disagrees with its length

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


def _plan(span: tuple[int, int, bool], size: int, fault: str | None) -> _Plan:
    start, length, partial = span
    status = 206 if partial else 200
    cut = max(1, length // 10)
    if fault == "html200":
        return _Plan(200, 0, 0, len(_HTML_PAGE), "text/html; charset=utf-8", fault)
    if fault == "ctype":
        return _Plan(status, start, length, length, "text/html; charset=utf-8", fault)
    if fault == "drop":
        return _Plan(status, start, length // 2, length, fault=fault)
    if fault == "short":
        return _Plan(status, start, max(0, length - cut), length, fault=fault)
    if fault == "long":
        return _Plan(status, start, length, max(0, length - cut), fault=fault)
    return _Plan(status, start, length, length)
