"""A throwaway certificate authority for HTTPS on 127.0.0.1, made with the ``openssl`` CLI.

:func:`make_ca` writes a CA and a server certificate for ``127.0.0.1`` / ``localhost`` signed
by it; servers load ``cert``/``key``, clients trust ``ca``. :func:`serve_tls` turns a running
``socketserver`` server into an HTTPS one: the handshake happens in each connection's own
thread, on its first read, so a client that refuses the certificate never blocks the server.
Used by the tests and by ``tests/bench/bench_sync.py --tls``.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from socketserver import TCPServer

_EXTENSIONS = (
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth\n"
)


@dataclass(frozen=True)
class ThrowawayCA:
    """Where the files are: the CA certificate to trust, the server's certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_ca(folder: Path, *, name: str = "syncer test CA") -> ThrowawayCA:
    """A new CA in ``folder`` and a certificate for 127.0.0.1 signed by it (EC P-256, 2 days)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text(_EXTENSIONS, encoding="ascii")
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *new_key, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", ca_key, "-out", ca,
    )  # fmt: skip
    _openssl("req", *new_key, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", request)
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-set_serial", "2",
        "-days", "2", "-extfile", extensions, "-out", cert,
    )  # fmt: skip
    return ThrowawayCA(ca=ca, cert=cert, key=key)


def serve_tls(server: TCPServer, context: ssl.SSLContext) -> None:
    """Make ``server`` speak TLS on every connection it accepts from now on."""
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)
