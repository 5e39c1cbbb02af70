"""A private nginx serving a folder on 127.0.0.1, with its whole configuration in a temp dir.

nginx answers ``GET /<path>?<anything>`` with ``<root>/<path>``: the query string of a
presigned URL is ignored, so the simulator can hand out URLs that point here. Given a
certificate and key it speaks HTTPS only (TLS 1.2/1.3 as nginx defaults, one session per
connection, kept alive like plain HTTP).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from bench_procs import BenchError, free_port, last_line

INSTALL_HINT = "install it with: sudo apt-get install -y nginx"
_START_ATTEMPTS = 5
_READY_SECONDS = 10.0

_CONFIG = """\
{user}worker_processes {workers};
daemon off;
master_process on;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
    types {{
        image/jpeg jpg jpeg;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port}{tls};
        root {root};
    }}
}}
"""


def find_nginx() -> str | None:
    """The nginx binary (also looked for in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class Nginx:
    """Start with ``with Nginx(binary, root, home) as server:``; ``server.base_url`` is set."""

    def __init__(
        self,
        binary: str,
        root: Path,
        home: Path,
        *,
        workers: int = 2,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.binary = binary
        self.tls = tls  # (certificate chain, key): serve HTTPS
        self.root = root
        self.home = home
        self.workers = workers
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Nginx:
        self.home.mkdir(parents=True, exist_ok=True)
        for _ in range(_START_ATTEMPTS):
            if self._try_start(free_port()):
                return self
        raise BenchError(f"nginx did not start: {last_line(self.home / 'error.log')}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _try_start(self, port: int) -> bool:
        """Start on ``port``; False when the port was taken meanwhile (try another)."""
        self.port = port
        conf = self.home / "nginx.conf"
        conf.write_text(
            _CONFIG.format(
                user=_user_line(),
                workers=self.workers,
                home=self.home,
                port=port,
                root=self.root,
                tls=_tls_lines(self.tls),
            ),
            encoding="utf-8",
        )
        log = (self.home / "nginx.out").open("wb")
        with log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "-p",
                    f"{self.home}/",
                    "-c",
                    str(conf),
                    "-e",
                    str(self.home / "error.log"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if self._wait_ready(port):
            return True
        self.stop()
        return False

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return True
            time.sleep(0.02)
        return False


def _tls_lines(tls: tuple[Path, Path] | None) -> str:
    if tls is None:
        return ""
    cert, key = tls
    return f" ssl;\n        ssl_certificate {cert};\n        ssl_certificate_key {key}"


def _user_line() -> str:
    """Started by root, nginx workers would switch to ``nobody``: keep our own identity."""
    if os.geteuid() != 0:
        return ""  # nginx ignores ``user`` when it is not root
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return f"user {user} {group};\n"
