"""The directory holding the true photo bytes: ``<root>/<event_id>/<image_id>.jpg``.

A photo's bytes are a pure function of its ids (see :mod:`syncer.sim.jpeg`), so files are
written only when somebody needs them on disk: :meth:`DataDir.path` (tests, ``photo_path``) or
:meth:`DataDir.fill` (when another server such as nginx reads the directory). Until then the
storage route serves the identical bytes from memory; afterwards it uses ``sendfile``.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from syncer.errors import ConfigError
from syncer.sim.jpeg import JpegFactory, JpegInfo

_STRIPES = 64


class PhotoBody(Protocol):
    """The bytes of one photo, ready to be written to a socket."""

    size: int

    def send(self, sock: socket.socket, offset: int, count: int) -> int: ...

    def close(self) -> None: ...


class _FileBody:
    def __init__(self, path: Path) -> None:
        self._handle: BinaryIO = path.open("rb")
        self.size = os.fstat(self._handle.fileno()).st_size

    def send(self, sock: socket.socket, offset: int, count: int) -> int:
        return sock.sendfile(self._handle, offset, count) if count > 0 else 0

    def close(self) -> None:
        self._handle.close()


class _MemoryBody:
    def __init__(self, parts: tuple[bytes, ...]) -> None:
        self._parts = parts
        self.size = sum(len(part) for part in parts)

    def send(self, sock: socket.socket, offset: int, count: int) -> int:
        sent, start = 0, 0
        for part in self._parts:
            low, high = max(offset, start), min(offset + count, start + len(part))
            if low < high:
                sock.sendall(memoryview(part)[low - start : high - start])
                sent += high - low
            start += len(part)
        return sent

    def close(self) -> None:
        pass


class DataDir:
    """Owns the photo files; safe to use from many threads."""

    def __init__(self, root: Path | None, photo_bytes: int, *, eager: bool = False) -> None:
        self.owned = root is None
        self.eager = eager  # write each photo as soon as it exists (another server reads root)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="syncer-sim-"))
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"simulator: cannot create data dir {root}: {exc.strerror}") from exc
        self.root = root
        self._factory = JpegFactory(photo_bytes)
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._written: set[str] = set()
        self._removed: set[str] = set()
        self._finalizer = weakref.finalize(self, _remove_tree, root if self.owned else None)

    @staticmethod
    def relpath(event_id: int, image_id: str) -> str:
        """Object key of a photo under the root (also its path below a storage base URL)."""
        return f"{event_id}/{image_id}.jpg"

    def describe(self, event_id: int, image_id: str) -> JpegInfo:
        """Size, checksums and dimensions of a new photo (written now only when ``eager``)."""
        if self.eager:
            self.path(event_id, image_id)
        return self._factory.info(event_id, image_id)

    def path(self, event_id: int, image_id: str) -> Path:
        """The photo's file, written now if needed. FileNotFoundError once it was deleted."""
        rel = self.relpath(event_id, image_id)
        target = self.root / rel
        with self._stripes[hash(rel) % _STRIPES]:
            with self._lock:
                if rel in self._removed:
                    raise FileNotFoundError(rel)
                if rel in self._written:
                    return target
            target.parent.mkdir(exist_ok=True)
            temp = target.with_name(f".{target.name}.part")
            self._factory.write(temp, event_id, image_id)
            os.replace(temp, target)
            with self._lock:
                self._written.add(rel)
        return target

    def open(self, event_id: int, image_id: str) -> PhotoBody:
        """The photo's bytes: its file when written, else memory. FileNotFoundError if deleted."""
        rel = self.relpath(event_id, image_id)
        with self._lock:
            if rel in self._removed:
                raise FileNotFoundError(rel)
            on_disk = rel in self._written
        if on_disk:
            return _FileBody(self.root / rel)
        return _MemoryBody(self._factory.parts(event_id, image_id))

    def delete(self, event_id: int, image_id: str) -> None:
        """Remove a photo's file for good."""
        rel = self.relpath(event_id, image_id)
        with self._stripes[hash(rel) % _STRIPES]:
            with self._lock:
                self._written.discard(rel)
                self._removed.add(rel)
            (self.root / rel).unlink(missing_ok=True)

    def fill(self, keys: Iterable[tuple[int, str]], stop: threading.Event | None = None) -> None:
        """Write every listed photo that is not on disk yet (stops early when ``stop`` is set)."""
        for event_id, image_id in keys:
            if stop is not None and stop.is_set():
                return
            try:
                self.path(event_id, image_id)
            except FileNotFoundError:
                continue

    def cleanup(self) -> None:
        """Delete the directory if this object created it."""
        self._finalizer()


def _remove_tree(root: Path | None) -> None:
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
