"""A tiny HTTP endpoint for liveness probes (``/healthz``) and Prometheus (``/metrics``).

``/healthz`` answers 200 while the last completed cycle is younger than ``max_age`` (or while
the first cycle is still running and the daemon started less than ``max_age`` ago), and 503
when the API key was refused (``paused``), the storage is unusable (``failing``) or no cycle
completed for too long (``stale``). It binds loopback addresses only unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from syncer.errors import ConfigError, SyncerError
from syncer.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("syncer.health")


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9187"`` / ``"[::1]:9187"`` / ``"localhost:0"`` -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"health.listen: expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class HealthState:
    """What ``/healthz`` reports; updated by the daemon from its cycle thread. Thread-safe."""

    def __init__(self, *, max_age: float, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.max_age = max_age
        self.started_at = clock()
        self.last_success: float | None = None
        self._problem: tuple[str, str] | None = None  # (status, reason)

    def record_success(self, at: float | None = None) -> None:
        with self._lock:
            self.last_success = self._clock() if at is None else at
            self._problem = None

    def set_paused(self, reason: str) -> None:
        with self._lock:
            self._problem = ("paused", reason)

    def set_failing(self, reason: str) -> None:
        with self._lock:
            self._problem = ("failing", reason)

    def clear_problem(self) -> None:
        with self._lock:
            self._problem = None

    def verdict(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for ``/healthz`` right now."""
        with self._lock:
            now, last, problem = self._clock(), self.last_success, self._problem
        body: dict[str, Any] = {
            "last_success": _iso(last) if last is not None else None,
            "age_seconds": round(now - last, 1) if last is not None else None,
        }
        if problem is not None:
            return 503, {"status": problem[0], "reason": problem[1], **body}
        if last is None:
            uptime = now - self.started_at
            if uptime <= self.max_age:
                return 200, {"status": "starting", "uptime_seconds": round(uptime, 1), **body}
            reason = f"no completed cycle since the start {uptime:.0f} s ago"
            return 503, {"status": "stale", "reason": reason, **body}
        if now - last > self.max_age:
            reason = f"last completed cycle {now - last:.0f} s ago (max_age {self.max_age:.0f} s)"
            return 503, {"status": "stale", "reason": reason, **body}
        return 200, {"status": "ok", **body}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: HealthState, metrics: Metrics) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self.metrics = metrics
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "syncer-health"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            status, body = self.server.state.verdict()
            self._send(status, "application/json", json.dumps(body).encode() + b"\n")
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE, self.server.metrics.render())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(HTTPStatus(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class HealthServer:
    """Serves ``/healthz`` and ``/metrics`` on a background daemon thread."""

    def __init__(
        self, listen: str, *, state: HealthState, metrics: Metrics, allow_remote: bool = False
    ) -> None:
        host, port = parse_listen(listen)
        if not allow_remote and not is_loopback(host):
            raise ConfigError(
                f"health.listen {listen}: not a loopback address; the health endpoint is "
                "unauthenticated, so it binds 127.0.0.1 or ::1 unless remote access is allowed"
            )
        self._listen = listen
        self._host, self._port = host, port
        self._state = state
        self._metrics = metrics
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when 0 was asked for."""
        if self._server is None:
            return self._host, self._port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def bound(self) -> str:
        """:attr:`address` as ``health.listen`` spells it: ``127.0.0.1:9187``, ``[::1]:9187``."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> None:
        try:
            self._server = _Server((self._host, self._port), self._state, self._metrics)
        except OSError as exc:
            raise ConfigError(f"health.listen {self._listen}: cannot listen: {exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="syncer-health",
            daemon=True,
        )
        self._thread.start()
        log.info("health endpoint on http://%s/healthz", self.bound)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HealthEndpoint:
    """Where a daemon serves health: started at start, moved by a reload, stopped at the end.

    An empty ``listen`` serves nowhere. A move that cannot bind keeps serving where it was.
    """

    def __init__(self, state: HealthState, metrics: Metrics) -> None:
        self._state = state
        self._metrics = metrics
        self._server: HealthServer | None = None
        self._place: tuple[str, bool] = ("", False)

    @property
    def address(self) -> tuple[str, int] | None:
        return self._server.address if self._server is not None else None

    def start(self, listen: str, allow_remote: bool) -> None:
        """Serve at ``listen``; raises :class:`ConfigError` when that is not possible."""
        self._server = self._serve(listen, allow_remote)
        self._place = (listen, allow_remote)

    def move(self, listen: str, allow_remote: bool) -> None:
        """Serve at ``listen`` from now on; if that fails, go on serving as before (logged).

        Only a new address on the port already in use (another address of this host) needs the
        old listener gone first; should the new one still fail, the old one comes back.
        """
        if (listen, allow_remote) == self._place:
            return
        previous, old_place = self._server, self._place
        problem = self._try(listen, allow_remote)
        if problem is None:
            if previous is not None:
                previous.stop()
            return
        if previous is None:
            log.error("health endpoint not started: %s", problem)
            return
        self._server, self._place = previous, old_place
        if _port_of(listen) == previous.address[1]:
            bound = previous.bound
            previous.stop()
            if self._try(listen, allow_remote) is None:
                return
            if (restored := self._try(bound, old_place[1])) is not None:
                self._server = None
                log.error("health endpoint stopped: %s", restored)
                return
            self._place = old_place
        log.error("health endpoint not moved, still as before: %s", problem)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _try(self, listen: str, allow_remote: bool) -> str | None:
        """Serve at ``listen``; the reason when that is not possible."""
        try:
            self.start(listen, allow_remote)
        except SyncerError as exc:
            return exc.message
        return None

    def _serve(self, listen: str, allow_remote: bool) -> HealthServer | None:
        if not listen:
            return None
        server = HealthServer(
            listen, state=self._state, metrics=self._metrics, allow_remote=allow_remote
        )
        server.start()
        return server


def _port_of(listen: str) -> int | None:
    try:
        return parse_listen(listen)[1]
    except SyncerError:
        return None
