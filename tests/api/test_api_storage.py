"""StorageClient: presigned GETs without the API key, errors without the signature.

Every test talks to a real server on 127.0.0.1 whose answers the test scripts, once over plain
HTTP and once over HTTPS with a throwaway CA (the path production takes).
"""

from __future__ import annotations

import ast
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tls_ca import ThrowawayCA, serve_tls

from syncer.api import StorageClient, redact_url
from syncer.api import storage as storage_module
from syncer.errors import LinkExpiredError, TransferError, UntrustedHostError

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 5000 + b"\xff\xd9"
SIGNATURE = "deadbeef"
Script = Callable[[BaseHTTPRequestHandler], None]


def answer(status: int, body: bytes, content_type: str = "image/jpeg") -> Script:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return send


class Storage:
    """A local storage host: records requests, answers with the current script.

    With ``ca`` it speaks HTTPS with a certificate that CA signed; :meth:`client` trusts it.
    """

    def __init__(self, ca: ThrowawayCA | None = None) -> None:
        self.trust: ssl.SSLContext | None = ca.client_context() if ca is not None else None
        self.seen: list[dict[str, str]] = []
        self.script: Script = answer(200, JPEG)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.seen.append(
                    {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
                )
                outer.script(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ca is not None:
            serve_tls(self.server, ca.server_context())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        scheme = "https" if ca is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def client(self, *, timeout: float) -> StorageClient:
        return StorageClient(timeout=timeout, ssl_context=self.trust)

    def url(self, name: str = "photo.jpg") -> str:
        return f"{self.base}/imgs/456/{name}?X-Amz-Signature={SIGNATURE}&X-Amz-Expires=3600"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["http", "https"])
def storage(request: pytest.FixtureRequest, test_ca: ThrowawayCA) -> Iterator[Storage]:
    host = Storage(test_ca if request.param == "https" else None)
    yield host
    host.close()


def read_all(client: StorageClient, url: str) -> bytes:
    buffer = bytearray(1000)
    with client.get(url) as response:
        return b"".join(bytes(chunk) for chunk in response.chunks(buffer))


def test_200_streams_the_body_without_the_key(storage: Storage) -> None:
    with storage.client(timeout=5.0) as client:
        assert read_all(client, storage.url()) == JPEG
    (request,) = storage.seen
    assert request["path"] == "/imgs/456/photo.jpg?X-Amz-Signature=deadbeef&X-Amz-Expires=3600"
    assert "x-api-key" not in request
    assert request["user-agent"].startswith("syncer/")
    assert request["accept-encoding"] == "identity"


def client_ports(storage: Storage, script: Script) -> list[int]:
    """Serve with ``script`` from now on; the list fills with each request's client port."""
    ports: list[int] = []

    def remember(handler: BaseHTTPRequestHandler) -> None:
        ports.append(handler.client_address[1])
        script(handler)

    storage.script = remember
    return ports


def test_keep_alive_connection_is_reused(storage: Storage) -> None:
    ports = client_ports(storage, storage.script)
    with storage.client(timeout=5.0) as client:
        for _ in range(3):
            assert read_all(client, storage.url()) == JPEG
    assert len(set(ports)) == 1


def test_a_closed_client_opens_no_connection_and_keeps_no_dropped_one(storage: Storage) -> None:
    client = storage.client(timeout=5.0)
    storage.script = answer(503, b"busy", "text/plain")
    with pytest.raises(TransferError):
        read_all(client, storage.url())  # not a 200: its connection is dropped
    assert client._all == set()
    storage.script = answer(200, JPEG)
    assert read_all(client, storage.url()) == JPEG
    assert len(client._all) == 1  # the kept-alive one
    client.close()
    with pytest.raises(TransferError, match="closed"):
        read_all(client, storage.url())  # from a thread still running after close()
    assert client._all == set()


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_refused_links_are_expired(storage: Storage, status: int) -> None:
    xml = b"<?xml version='1.0'?>\n<Error><Code>AccessDenied</Code>\r\n<Message>expired</Message>"
    storage.script = answer(status, xml, "application/xml")
    with storage.client(timeout=5.0) as client, pytest.raises(LinkExpiredError) as caught:
        read_all(client, storage.url())
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "AccessDenied" in message
    assert f"{storage.base}/imgs/456/photo.jpg" in message
    assert SIGNATURE not in message
    assert "\n" not in message


@pytest.mark.parametrize("status", [302, 429, 500, 503])
def test_other_statuses_are_transfer_errors_and_redirects_are_not_followed(
    storage: Storage, status: int
) -> None:
    storage.script = answer(status, b"<html>busy</html>", "text/html")
    with storage.client(timeout=5.0) as client, pytest.raises(TransferError) as caught:
        read_all(client, storage.url())
    assert not isinstance(caught.value, LinkExpiredError)
    assert f"HTTP {status}" in str(caught.value)
    assert SIGNATURE not in str(caught.value)
    assert len(storage.seen) == 1
    assert caught.value.pushback is (status in (429, 503))  # fewer downloads at once


@pytest.mark.parametrize(
    ("status", "body", "headers", "pushback"),
    [
        (500, b"<Error><Code>SlowDown</Code></Error>", {}, True),
        (500, b"<Error><Code>InternalError</Code></Error>", {}, False),
        (502, b"busy", {"Retry-After": "2"}, True),
    ],
)
def test_slowdown_and_retry_after_are_pushback(
    storage: Storage, status: int, body: bytes, headers: dict[str, str], pushback: bool
) -> None:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    storage.script = send
    with storage.client(timeout=5.0) as client, pytest.raises(TransferError) as caught:
        read_all(client, storage.url())
    assert caught.value.pushback is pushback


def test_a_reset_connection_is_pushback(storage: Storage) -> None:
    def reset(handler: BaseHTTPRequestHandler) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()  # RST instead of FIN
        handler.close_connection = True

    storage.script = reset
    with storage.client(timeout=5.0) as client, pytest.raises(TransferError) as caught:
        read_all(client, storage.url())
    assert caught.value.pushback


def test_body_cut_short_is_a_transfer_error(storage: Storage) -> None:
    def short(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(JPEG)))
        handler.end_headers()
        handler.wfile.write(JPEG[:100])
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)

    storage.script = short
    with storage.client(timeout=5.0) as client, pytest.raises(TransferError) as caught:
        read_all(client, storage.url())
    assert SIGNATURE not in str(caught.value)


def test_connection_refused_is_a_transfer_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.jpg?sig={SIGNATURE}"
    with StorageClient(timeout=2.0) as client, pytest.raises(TransferError) as caught:
        read_all(client, url)
    assert SIGNATURE not in str(caught.value)


def test_timeout_is_a_transfer_error(storage: Storage) -> None:
    gate = threading.Event()
    storage.script = lambda handler: gate.wait(5)
    with storage.client(timeout=0.3) as client, pytest.raises(TransferError):
        read_all(client, storage.url())
    gate.set()


def test_a_kept_connection_the_server_closed_is_retried_once(storage: Storage) -> None:
    send = answer(200, JPEG)

    def send_then_hang_up(handler: BaseHTTPRequestHandler) -> None:
        send(handler)  # no "Connection: close": the client keeps the connection
        handler.close_connection = True

    storage.script = send_then_hang_up
    with storage.client(timeout=5.0) as client:
        assert read_all(client, storage.url()) == JPEG
        assert read_all(client, storage.url()) == JPEG  # the stale connection is replaced
    assert len(storage.seen) == 2


def test_errors_raised_by_the_caller_pass_through(storage: Storage) -> None:
    def fail_inside() -> None:
        with client.get(storage.url()):
            raise KeyError("mine")

    with storage.client(timeout=5.0) as client, pytest.raises(KeyError):
        fail_inside()


def test_non_http_url_is_refused_without_a_request() -> None:
    with StorageClient() as client, pytest.raises(TransferError, match="not an http"):
        read_all(client, "ftp://storage.test/a.jpg?sig=1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.test/a/b.jpg?X-Amz-Signature=s", "https://h.test/a/b.jpg"),
        ("https://user:pw@h.test/a.jpg#frag", "https://h.test/a.jpg"),
        ("http://h.test:8080/a.jpg", "http://h.test:8080/a.jpg"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_repr_shows_nothing_secret() -> None:
    assert repr(StorageClient()) == "StorageClient()"


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        StorageClient(timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        StorageClient(max_connections=0)


BIG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 12_000 + b"\xff\xd9"  # ~3 MB: the socket path


def read_big(client: StorageClient, url: str) -> bytes:
    buffer = bytearray(1024 * 1024)
    with client.get(url) as response:
        return b"".join(bytes(chunk) for chunk in response.chunks(buffer))


def in_pieces(body: bytes, pieces: int, pause: float, *, stop_after: int | None = None) -> Script:
    """Send ``body`` in ``pieces`` writes ``pause`` seconds apart (hang up after ``stop_after``)."""

    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        step = -(-len(body) // pieces)
        for number, start in enumerate(range(0, len(body), step)):
            if stop_after is not None and number == stop_after:
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            handler.wfile.write(body[start : start + step])
            handler.wfile.flush()
            time.sleep(pause)

    return send


def test_large_bodies_are_read_whole_over_one_kept_connection(storage: Storage) -> None:
    ports = client_ports(storage, answer(200, BIG))
    with storage.client(timeout=5.0) as client:
        for _ in range(3):
            assert read_big(client, storage.url()) == BIG
            assert read_all(client, storage.url()) == BIG  # small buffer: many short reads
    assert len(ports) == 6
    assert len(set(ports)) == 1


def test_a_slow_but_steady_body_is_not_a_timeout(storage: Storage) -> None:
    storage.script = in_pieces(BIG, pieces=8, pause=0.2)
    started = time.monotonic()
    with storage.client(timeout=0.5) as client:
        assert read_big(client, storage.url()) == BIG
    assert time.monotonic() - started > 1.0  # longer than the timeout in all


def test_a_body_that_stalls_midway_times_out(storage: Storage) -> None:
    storage.script = in_pieces(BIG, pieces=4, pause=3.0)
    started = time.monotonic()
    with storage.client(timeout=0.5) as client, pytest.raises(TransferError) as caught:
        read_big(client, storage.url())
    assert time.monotonic() - started < 2.5
    assert "no data for 0.5 s" in str(caught.value)
    assert SIGNATURE not in str(caught.value)


def test_a_large_body_cut_short_is_a_transfer_error(storage: Storage) -> None:
    storage.script = in_pieces(BIG, pieces=6, pause=0.05, stop_after=2)
    with storage.client(timeout=5.0) as client, pytest.raises(TransferError) as caught:
        read_big(client, storage.url())
    assert "bytes early" in str(caught.value)
    assert SIGNATURE not in str(caught.value)


def test_a_chunked_body_is_read_through_http_client(storage: Storage) -> None:
    def chunked(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for start in range(0, len(BIG), 700_000):
            piece = BIG[start : start + 700_000]
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    storage.script = chunked
    with storage.client(timeout=5.0) as client:
        assert read_big(client, storage.url()) == BIG
        assert read_big(client, storage.url()) == BIG
    assert len(storage.seen) == 2


# HTTPS only: trust


@pytest.fixture
def tls_storage(test_ca: ThrowawayCA) -> Iterator[Storage]:
    host = Storage(test_ca)
    yield host
    host.close()


def test_an_untrusted_certificate_names_the_host_and_is_not_retried(tls_storage: Storage) -> None:
    handshakes = 0
    accept = tls_storage.server.get_request

    def counted() -> tuple[socket.socket, object]:
        nonlocal handshakes
        handshakes += 1
        return accept()

    tls_storage.server.get_request = counted  # type: ignore[method-assign]
    with StorageClient(timeout=5.0) as client:  # the system's CAs: the test CA is not among them
        for _ in range(2):  # also on a second try: no kept connection to fall back on
            with pytest.raises(UntrustedHostError) as caught:
                read_all(client, tls_storage.url())
            message = str(caught.value)
            assert message.startswith("untrusted certificate from storage host 127.0.0.1 (")
            assert "SSL_CERT_FILE" in message
            assert "certificate" in message.split(": ", 1)[1]  # OpenSSL's reason follows
            assert SIGNATURE not in message
    assert tls_storage.seen == []
    assert handshakes == 2  # one connection per call: never retried within a call


def test_ssl_cert_file_trusts_a_private_ca(
    tls_storage: Storage, test_ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default context reads SSL_CERT_FILE (OpenSSL's default paths): how users add a CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca))
    with StorageClient(timeout=5.0) as client:
        assert read_all(client, tls_storage.url()) == JPEG


def test_max_connections_bounds_the_bodies_streamed_at_once(storage: Storage) -> None:
    client = StorageClient(timeout=5.0, max_connections=1, ssl_context=storage.trust)
    second_done = threading.Event()

    def second() -> None:
        assert read_all(client, storage.url()) == JPEG
        second_done.set()

    with client:  # closed once both bodies are read: a close under a reader leaks its socket
        with client.get(storage.url()) as first:
            worker = threading.Thread(target=second)
            worker.start()
            assert not second_done.wait(0.3)  # waits for the first body to end
            assert b"".join(bytes(c) for c in first.chunks(bytearray(1000))) == JPEG
        assert second_done.wait(5.0)
        worker.join()
    assert len(storage.seen) == 2


def test_the_storage_client_does_not_import_the_api_client() -> None:
    """The two clients share only what names syncer (agent.py) and the text cleaner."""
    source = Path(storage_module.__file__ or "").read_text(encoding="utf-8")
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "syncer.api.client" not in imported
    assert "syncer.api.requester" not in imported
    assert "httpx" not in imported
