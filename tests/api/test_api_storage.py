"""StorageClient: presigned GETs without the API key, errors without the signature."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from api_fixtures import KEY

from syncer.api import StorageClient, redact_url
from syncer.errors import LinkExpiredError, TransferError

SIGNED = "https://storage.test/imgs/456/large/a.jpg?X-Amz-Signature=deadbeef&X-Amz-Expires=3600"
SIGNATURE = "deadbeef"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 5000 + b"\xff\xd9"


def storage(handler: Any) -> tuple[StorageClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result = handler(request)
        if isinstance(result, Exception):
            raise result
        assert isinstance(result, httpx.Response)
        return result

    http = httpx.Client(transport=httpx.MockTransport(recording))
    return StorageClient(http=http), seen


def test_200_streams_the_body_without_the_key() -> None:
    client, seen = storage(lambda r: httpx.Response(200, content=JPEG))
    with client.get(SIGNED) as response:
        body = b"".join(response.iter_bytes())
    assert body == JPEG
    (request,) = seen
    assert str(request.url) == SIGNED
    assert "x-api-key" not in request.headers
    assert KEY not in str(request.headers)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_refused_links_are_expired(status: int) -> None:
    xml = "<?xml version='1.0'?>\n<Error><Code>AccessDenied</Code>\r\n<Message>Request has expired"
    client, _ = storage(lambda r: httpx.Response(status, text=xml + "</Message></Error>"))
    with pytest.raises(LinkExpiredError) as caught, client.get(SIGNED):
        pytest.fail("the block must not run for an error status")
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "AccessDenied" in message
    assert "https://storage.test/imgs/456/large/a.jpg" in message
    assert SIGNATURE not in message
    assert "?" not in message.split("(HTTP")[0]
    assert "\n" not in message
    assert "\r" not in message


def test_error_snippet_is_short_and_printable() -> None:
    body = "\x1b[31m" + "e" * 1000
    client, _ = storage(lambda r: httpx.Response(403, text=body))
    with pytest.raises(LinkExpiredError) as caught, client.get(SIGNED):
        pass
    detail = str(caught.value).split(": ", 1)[1]
    assert len(detail) <= 200
    assert "\x1b" not in detail


@pytest.mark.parametrize("status", [429, 500, 502, 503, 302, 206, 204])
def test_other_statuses_are_transfer_errors(status: int) -> None:
    headers = {"Location": "https://elsewhere.test/"} if status == 302 else {}
    client, seen = storage(lambda r: httpx.Response(status, text="busy", headers=headers))
    with pytest.raises(TransferError) as caught, client.get(SIGNED):
        pass
    assert not isinstance(caught.value, LinkExpiredError)
    assert f"HTTP {status}" in str(caught.value)
    assert SIGNATURE not in str(caught.value)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed"),
        httpx.ConnectError(f"cannot reach {SIGNED}"),
    ],
)
def test_network_errors_are_transfer_errors(exc: Exception) -> None:
    client, _ = storage(lambda r: exc)
    with pytest.raises(TransferError) as caught, client.get(SIGNED):
        pass
    assert caught.value.__cause__ is exc
    assert SIGNATURE not in str(caught.value)
    assert type(exc).__name__ in str(caught.value)


class _BrokenStream(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield JPEG[:100]
        raise httpx.ReadError("connection reset mid-body")


def test_error_while_reading_the_body_is_a_transfer_error() -> None:
    client, _ = storage(lambda r: httpx.Response(200, stream=_BrokenStream()))
    received = bytearray()

    def drain() -> None:
        with client.get(SIGNED) as response:
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(TransferError, match="ReadError"):
        drain()
    assert bytes(received) == JPEG[:100]


def test_errors_raised_by_the_caller_pass_through() -> None:
    client, _ = storage(lambda r: httpx.Response(200, content=JPEG))
    with pytest.raises(KeyError), client.get(SIGNED):
        raise KeyError("not ours")


def test_non_http_url_is_refused_without_a_request() -> None:
    client, seen = storage(lambda r: httpx.Response(200))
    with pytest.raises(TransferError, match="not an http"), client.get("file:///etc/passwd?x=1"):
        pass
    assert seen == []


def test_injected_client_with_the_key_is_refused() -> None:
    leaky = httpx.Client(headers={"X-Api-Key": KEY})
    try:
        with pytest.raises(ValueError, match="X-API-Key") as caught:
            StorageClient(http=leaky)
        assert KEY not in str(caught.value)
    finally:
        leaky.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SIGNED, "https://storage.test/imgs/456/large/a.jpg"),
        ("https://u:p@h.test:8443/x.jpg?sig=1#frag", "https://h.test:8443/x.jpg"),
        ("http://[::1]:9000/a?b", "http://[::1]:9000/a"),
        ("http://h.test/plain", "http://h.test/plain"),
        ("http://[::1/oops?sig=2", "<unparseable url>"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# -- through a real socket, with the client StorageClient builds itself ---------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/photo.jpg?sig=again")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(JPEG)))
        self.end_headers()
        self.wfile.write(JPEG)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def local_storage() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_own_client_sends_no_key_and_follows_no_redirect(
    local_storage: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = local_storage
    with StorageClient(timeout=5.0, max_connections=2) as client:
        with client.get(f"{base}/photo.jpg?sig=s3cr3t") as response:
            assert response.headers["Content-Length"] == str(len(JPEG))
            assert response.read() == JPEG
        with pytest.raises(TransferError, match="HTTP 302"), client.get(f"{base}/moved?sig=1"):
            pass
    assert [one["path"] for one in seen] == ["/photo.jpg?sig=s3cr3t", "/moved?sig=1"]
    for headers in seen:
        assert "x-api-key" not in headers
        assert headers["user-agent"].startswith("syncer/")
        assert headers["accept-encoding"] == "identity"


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        StorageClient(timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        StorageClient(max_connections=0)
