"""How a storage body goes out: in slices paced to a per-body and a shared link rate, and
marked complete just before its last byte.

Pacing sends a slice, then sleeps until its bytes are due (one sleep per slice, no lock held
while sleeping, no busy wait). Slices last about 20 ms at the slowest rate in force, and a body
of 8 KiB or more goes out in at least 8 of them, so even a small body is spread over its time.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Protocol

MIN_SLICE = 1024
MAX_SLICE = 256 * 1024
SLICES_PER_SECOND = 50
MIN_SLICES_PER_BODY = 8


class Body(Protocol):
    """Bytes that can be written to a socket from an offset."""

    size: int

    def send(self, sock: socket.socket, offset: int, count: int) -> int: ...


class BodyWriter:
    """The planned bytes of one body going out; counts what went out and calls ``whole(+1)``
    just before the very last byte (so no client holds a complete body that is not counted
    yet), ``whole(-1)`` if that byte then fails."""

    def __init__(
        self,
        sock: socket.socket,
        body: Body,
        start: int,
        length: int,
        whole: Callable[[int], None] | None,
    ) -> None:
        self.sock = sock
        self.body = body
        self.start = start
        self.length = length
        self.whole = whole
        self.sent = 0

    def send(self, count: int) -> None:
        """Send the next ``count`` bytes (fewer at the end); OSError when the peer is gone."""
        count = min(count, self.length - self.sent)
        if self.whole is None or self.sent + count < self.length or count == 0:
            self._raw(count)
            return
        self._raw(count - 1)
        self.whole(1)
        try:
            self._raw(1)
        except OSError:
            self.whole(-1)
            raise

    def _raw(self, count: int) -> None:
        done = self.body.send(self.sock, self.start + self.sent, count)
        self.sent += done
        if done < count:
            raise OSError(f"sent {done} of {count} bytes")


class Pacer:
    """Sends bodies at most at a per-body rate and, together, at most at a link rate."""

    def __init__(self, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._link_free_at = 0.0

    def send(self, out: BodyWriter, rate: int | None, link: int | None) -> None:
        """All of ``out``: at once when neither rate is set, else in paced slices."""
        if rate is None and link is None:
            out.send(out.length)
            return
        slowest = min(r for r in (rate, link) if r is not None)
        step = max(
            MIN_SLICE,
            min(MAX_SLICE, slowest // SLICES_PER_SECOND, out.length // MIN_SLICES_PER_BODY),
        )
        began = self._monotonic()
        while out.sent < out.length:
            count = min(step, out.length - out.sent)
            slot = self._reserve(count, link) if link is not None else 0.0
            out.send(count)
            own = began + out.sent / rate if rate is not None else 0.0
            due = max(own, slot) - self._monotonic()
            if due > 0:
                self._sleep(due)

    def _reserve(self, count: int, rate: int) -> float:
        """The end of the link's next free slot for ``count`` bytes at ``rate``."""
        with self._lock:
            start = max(self._monotonic(), self._link_free_at)
            self._link_free_at = start + count / rate
            return self._link_free_at
