"""The :class:`Simulator`: one HTTP/1.1 keep-alive server (API + storage) on a thread."""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from syncer.errors import ConfigError
from syncer.sim.api import PREFIX, ApiApp
from syncer.sim.config import SimConfig
from syncer.sim.context import SimContext
from syncer.sim.datadir import DataDir
from syncer.sim.envelope import ApiRequest, ApiResponse
from syncer.sim.faults import Faults
from syncer.sim.selfie import ClipFiles, SelfieStore
from syncer.sim.stats import SimStats
from syncer.sim.storage import Presigner, StorageRoute
from syncer.sim.world import FOREIGN_EVENT_ID, UNCONFIGURED_EVENT_ID, SimEvent, SimPhoto, World

MAX_BODY = 64 * 1024 * 1024
STATS_PATH = "/_sim/stats"  # the counters as JSON, for a simulator run as `syncer simulate`
_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    app: ApiApp
    storage: StorageRoute
    stats: SimStats

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-answer are normal here; anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            _log.debug("connection from %s ended: %s", client_address, error)
        else:
            _log.exception("simulator failed to answer %s", client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _tls_context(config: SimConfig) -> ssl.SSLContext | None:
    """The server side of HTTPS when a certificate and key are configured."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"simulator: cannot load the TLS certificate {config.tls_cert} "
            f"and key {config.tls_key}: {exc}"
        ) from exc
    return context


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "9pic-sim/1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        if parts.path.startswith(PREFIX):
            self._api(parts.path, parts.query, body)
        elif StorageRoute.handles(parts.path):
            self.server.storage.serve(self, parts.path, parts.query)
        elif parts.path == STATS_PATH and self.command == "GET":
            self._write(ApiResponse(200, self.server.stats.as_json()))
        else:
            self._plain(404, b"Not Found\n")

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _api(self, path: str, query: str, body: bytes) -> None:
        request = ApiRequest(
            method=self.command,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            api_key=self.headers.get("X-API-Key"),
            host=self.headers.get("Host"),
            content_type=self.headers.get("Content-Type", ""),
            body=body,
        )
        self._write(self.server.app.handle(request))

    def _write(self, response: ApiResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _plain(self, status: int, body: bytes) -> None:
        self._write(ApiResponse(status, body, "text/plain; charset=utf-8"))

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None after answering 400/413."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._plain(413 if length > MAX_BODY else 400, b"Bad Content-Length\n")
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                size = -1
            total += size
            if size < 0 or total > MAX_BODY:
                self.close_connection = True
                self._plain(400, b"Bad chunked body\n")
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)


class Simulator:
    """A local 9Pic API plus presigned storage host. Use as a context manager.

    ``clock``, ``sleep`` and ``monotonic`` (the pacing clock of ``storage_bytes_per_second``)
    are injectable so tests can expire links and observe slow-downs without waiting.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config if config is not None else SimConfig()
        self.config.validate()
        self.faults = faults if faults is not None else Faults()
        self.stats = SimStats()
        self.org_id = self.config.org_id
        self.api_key = self.config.api_key
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        eager = self.config.storage_base_url is not None  # another server reads data_dir
        self._files = DataDir(self.config.data_dir, self.config.photo_bytes, eager=eager)
        try:
            self._world = World(self.config, self._files)
        except BaseException:
            self._files.cleanup()
            raise
        self.data_dir: Path = self._files.root
        self._selfies = SelfieStore(self._world, self.config.seed)
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._base_url: str | None = None
        self._presigner: Presigner | None = None

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"Simulator({where}, org_id={self.org_id}, events={self.config.events})"

    # lifecycle

    def start(self) -> Simulator:
        """Bind, start serving on a background thread, return self (idempotent)."""
        if self._stopped:
            raise ConfigError("simulator: a stopped simulator cannot be started again")
        if self._server is not None:
            return self
        host, port = self.config.host, self.config.port
        tls = _tls_context(self.config)
        try:
            server = _Server((host, port))
        except OSError as exc:
            raise ConfigError(f"simulator: cannot listen on {host}:{port}: {exc.strerror}") from exc
        if tls is not None:  # each connection's handshake runs in its own thread, on first read
            server.socket = tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        scheme = "https" if tls is not None else "http"
        self._base_url = f"{scheme}://{host}:{server.server_address[1]}"
        self._presigner = Presigner(
            secrets.token_bytes(32),
            self.config.storage_base_url or f"{self._base_url}/storage",
            self.config.presign_ttl,
            self._clock,
        )
        ctx = SimContext(
            self.config,
            self._world,
            self.faults,
            self.stats,
            self._selfies,
            self._presigner,
            self._base_url,
            self._clock,
            self._sleep,
        )
        server.app = ApiApp(ctx)
        server.stats = self.stats
        server.storage = StorageRoute(
            self._files,
            self._world,
            self._presigner,
            self.faults,
            self.stats,
            self._sleep,
            clips=ClipFiles(self._selfies, self.faults, self.config.clip_bytes),
            monotonic=self._monotonic,
        )
        self._server = server
        self._spawn("syncer-sim-http", lambda: server.serve_forever(poll_interval=0.01))
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, delete a temporary data dir (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.drop_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._files.cleanup()
        self._stopped = True

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _all_keys(self) -> list[tuple[int, str]]:
        return [
            (e.event_id, p.image_id)
            for e in self._world.events()
            for p in self._world.photos(e.event_id)
        ]

    def wait_files(self) -> None:
        """Write every photo file to ``data_dir`` now (otherwise only ``photo_path`` writes).

        Not needed for the built-in storage route, which serves unwritten photos from memory.
        """
        self._files.fill(self._all_keys())

    # addresses and identities

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise ConfigError("simulator: base_url is known only after start()")
        return self._base_url

    unconfigured_event_id = UNCONFIGURED_EVENT_ID
    foreign_event_id = FOREIGN_EVENT_ID

    @property
    def foreign_org_id(self) -> int:
        return self._world.foreign_org_id

    @property
    def foreign_api_key(self) -> str:
        """An active key of another organisation (for 403 checks)."""
        return self._world.foreign_api_key

    # truth, for tests

    def events(self) -> list[SimEvent]:
        return self._world.events()

    def photos(self, event_id: int) -> list[SimPhoto]:
        """The event's photos in API order."""
        self._own_event(event_id)
        return list(self._world.photos(event_id))

    def photo_path(self, event_id: int, image_id: str) -> Path:
        """The file holding the photo's true bytes."""
        if self._world.photo(event_id, image_id) is None:
            raise ConfigError(f"simulator: event {event_id} has no photo {image_id}")
        return self._files.path(event_id, image_id)

    def add_photos(
        self, event_id: int, n: int, *, earlier: bool = False, bibs: Sequence[str] = ()
    ) -> list[SimPhoto]:
        return self._world.add_photos(event_id, n, earlier=earlier, bibs=bibs)

    def remove_photo(self, event_id: int, image_id: str) -> None:
        self._world.remove_photo(event_id, image_id)

    def set_flag(self, event_id: int, flag: str, value: bool) -> None:
        """Turn an Event Details flag (e.g. ``bib_search``) on or off while running."""
        self._world.set_flag(event_id, flag, value)

    def revoke_key(self, key: str) -> None:
        self._world.revoke_key(key)

    def api_keys(self) -> list[tuple[str, bool]]:
        """(key, active) for every key of the organisation."""
        return self._world.api_keys()

    def add_key(self) -> str:
        return self._world.add_key()

    def forget_face_searches(self) -> None:
        """9Pic no longer knows any face search (how long it keeps them is undocumented)."""
        self._selfies.forget_searches()

    def forget_clip_jobs(self) -> None:
        """9Pic no longer knows any clipping job (how long it keeps them is undocumented)."""
        self._selfies.forget_clips()

    def storage_relpath(self, event_id: int, image_id: str) -> str:
        """Object key under ``data_dir`` (and below ``storage_base_url``)."""
        return DataDir.relpath(event_id, image_id)

    def presign(self, event_id: int, image_id: str, *, expired: bool = False) -> str:
        """A presigned URL, exactly as ``original-photos`` would issue it."""
        if self._presigner is None:
            raise ConfigError("simulator: presigned URLs can be made only after start()")
        return self._presigner.url(self.storage_relpath(event_id, image_id), expired=expired)

    def _own_event(self, event_id: int) -> None:
        if self._world.owner(event_id) != self.org_id:
            raise ConfigError(f"simulator: {event_id} is not an event of org {self.org_id}")
