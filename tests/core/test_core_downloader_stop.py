"""A stop during a slow download is honoured within about a second, and leaves nothing behind.

A real server on 127.0.0.1 trickles a 3 MB photo, over plain HTTP and over HTTPS; the downloader
reads whole 1 MiB buffers, so the stop must be seen between the partial reads that fill one.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tls_ca import ThrowawayCA, serve_tls

from syncer.api import StorageClient
from syncer.downloader import Abandoned, Downloader, Job

BODY = b"\xff\xd8\xff\xe0" + bytes(3_000_000) + b"\xff\xd9"


class Trickle(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        try:
            for start in range(0, len(BODY), 20_000):
                self.wfile.write(BODY[start : start + 20_000])
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass  # the client hung up: expected

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], scheme: str, ca: ThrowawayCA
) -> Iterator[tuple[str, ssl.SSLContext | None]]:
    """``handler`` on 127.0.0.1 over ``scheme``: its base URL, and the context that trusts it
    (None: plain HTTP)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    trust = None
    if scheme == "https":
        serve_tls(server, ca.server_context())
        trust = ca.client_context()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", trust
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["http", "https"])
def served(
    request: pytest.FixtureRequest, test_ca: ThrowawayCA
) -> Iterator[tuple[str, ssl.SSLContext | None]]:
    """The photo's URL, and the context that trusts its server (None: plain HTTP)."""
    with serving(Trickle, request.param, test_ca) as (base, trust):
        yield f"{base}/photo.jpg?sig=x", trust


def test_a_stop_during_a_slow_body_is_prompt_and_leaves_no_file(
    served: tuple[str, ssl.SSLContext | None], tmp_path: Path
) -> None:
    url, trust = served
    temp_dir = tmp_path / ".syncer-tmp"
    temp_dir.mkdir()
    target = tmp_path / "event" / "photo.jpg"
    stop = threading.Event()
    outcome: list[BaseException] = []

    def fetch() -> None:
        with StorageClient(timeout=30.0, ssl_context=trust) as storage:
            downloader = Downloader(storage, temp_dir, stop=stop)
            try:
                downloader.fetch(Job(1, "photo", url, (target,)))
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    time.sleep(0.5)  # well inside the first 1 MiB buffer (about 200 KB/s arrive)
    stop.set()
    stopped = time.monotonic()
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - stopped < 2.0
    assert len(outcome) == 1
    assert isinstance(outcome[0], Abandoned)
    assert not target.exists()
    assert list(temp_dir.iterdir()) == []


class Silent(BaseHTTPRequestHandler):
    """Answers nothing for half a minute: a read waits for the storage timeout."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/headers"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
        time.sleep(30)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ["/before-headers.jpg", "/headers-then-nothing.jpg"])
def test_abandon_cuts_a_silent_download_at_once(
    tmp_path: Path, path: str, scheme: str, test_ca: ThrowawayCA
) -> None:
    """A second Ctrl-C: reads that would wait for ``download.timeout`` end now, no temp left."""
    temp_dir = tmp_path / ".syncer-tmp"
    temp_dir.mkdir()
    target = tmp_path / "photo.jpg"
    outcome: list[BaseException] = []
    with (
        serving(Silent, scheme, test_ca) as (base, trust),
        StorageClient(timeout=25.0, ssl_context=trust) as storage,
    ):
        downloader = Downloader(storage, temp_dir)

        def fetch() -> None:
            try:
                downloader.fetch(Job(1, "photo", f"{base}{path}", (target,)))
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        worker = threading.Thread(target=fetch)
        worker.start()
        time.sleep(0.5)
        abandoned = time.monotonic()
        downloader.abandon()
        worker.join(10)
        assert not worker.is_alive()
        assert time.monotonic() - abandoned < 2.0
    assert len(outcome) == 1
    assert not isinstance(outcome[0], AssertionError)
    assert not target.exists()
    assert list(temp_dir.iterdir()) == []
