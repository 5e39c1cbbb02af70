"""The certificate authorities HTTPS connections trust, loaded once per process.

Loading a CA bundle costs tens of milliseconds: a daemon would pay it for every client of
every cycle. The contexts are kept per value of ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (what
they are read from), so a changed variable is honoured by the next client made.

- The API's context is httpx's own choice: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set,
  else the ``certifi`` bundle.
- The storage host's is the system's (``ssl.create_default_context()``, which also reads
  those two variables).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable

import httpx

_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")
_lock = threading.Lock()
_contexts: dict[tuple[str, tuple[str | None, ...]], ssl.SSLContext] = {}


def api_context() -> ssl.SSLContext:
    """The context of API calls (``ssl.SSLError``/``OSError`` when the CAs cannot be read)."""
    return _cached("api", httpx.create_ssl_context)


def storage_context() -> ssl.SSLContext:
    """The context of presigned downloads (``ssl.SSLError``/``OSError`` as above)."""
    return _cached("storage", ssl.create_default_context)


def _cached(kind: str, make: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    key = (kind, tuple(os.environ.get(name) for name in _VARIABLES))
    with _lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = make()  # a failure is raised, and not kept
        return context
