"""systemd service notifications (``sd_notify``) over the ``NOTIFY_SOCKET`` datagram socket.

Without ``NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call is a no-op.
A failed send is logged once at debug level and never raised: notifications must not stop
the service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("syncer.notify")


def _address(value: str) -> str | bytes | None:
    """The address in ``NOTIFY_SOCKET``: a path, or ``@name`` in the abstract namespace."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock: and other transports are not supported


def _watchdog_seconds(env: Mapping[str, str], pid: int) -> float | None:
    """``WATCHDOG_USEC`` in seconds, when it is meant for this process."""
    owner = env.get("WATCHDOG_PID", "").strip()
    if owner and owner != str(pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", "").strip())
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends ``READY=1``, ``STATUS=...``, ``WATCHDOG=1`` and friends to the service manager."""

    def __init__(
        self, address: str | bytes | None = None, *, watchdog: float | None = None
    ) -> None:
        self._address = address
        self._watchdog = watchdog
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, pid: int | None = None) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from ``env``."""
        raw = env.get("NOTIFY_SOCKET", "")
        address = _address(raw) if raw else None
        if address is None:
            return cls()
        watchdog = _watchdog_seconds(env, os.getpid() if pid is None else pid)
        return cls(address, watchdog=watchdog)

    def __repr__(self) -> str:
        return f"Notifier(enabled={self.enabled}, watchdog={self._watchdog})"

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the configured watchdog timeout, or None."""
        if self._address is None or self._watchdog is None:
            return None
        return self._watchdog / 2

    def ready(self) -> None:
        self.send("READY=1")

    def status(self, text: str) -> None:
        self.send("STATUS=" + " ".join(text.split()))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def send(self, message: str) -> None:
        """Send one notification datagram; errors are logged at debug level, never raised."""
        if self._address is None:
            return
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.sendto(message.encode(), self._address)
            except OSError as exc:
                if not self._warned:
                    log.debug("cannot notify the service manager: %s", exc)
                    self._warned = True

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


class Watchdog:
    """Sends ``WATCHDOG=1`` at half the service's watchdog timeout while ``alive()`` holds.

    Does nothing when the service manager asked for no watchdog.
    """

    def __init__(self, notifier: Notifier, alive: Callable[[], bool]) -> None:
        self._notifier = notifier
        self._alive = alive
        self._stop = threading.Event()

    def start(self) -> None:
        interval = self._notifier.watchdog_interval()
        if interval is None:
            return
        threading.Thread(
            target=self._ping, args=(interval,), name="syncer-watchdog", daemon=True
        ).start()

    def stop(self) -> None:
        self._stop.set()

    def _ping(self, interval: float) -> None:
        while True:
            if self._alive():
                self._notifier.watchdog()
            if self._stop.wait(interval):
                return
