"""Turn one presigned URL into a verified file on disk, atomically. No database access here.

A worker streams the body into a temp file in the root's private temp folder while hashing it,
checks the length against ``Content-Length`` and the first bytes against known image
signatures, fsyncs, and ``os.replace``s it into place. Extra placements (a photo with several
BIBs) are hard links to the first one, or copies where the filesystem refuses links.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import mmap
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from syncer.api.storage import StorageClient, StorageResponse
from syncer.errors import DiskFullError, IntegrityError, StorageError, TransferError
from syncer.root import TEMP_SUFFIX
from syncer.sink import Sink, aligned_buffer

log = logging.getLogger("syncer.downloader")

_NOT_IMAGE_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
JPEG_TAIL = 64 * 1024
READ_SIZE = 1024 * 1024  # one reusable read buffer per download thread


@dataclass(frozen=True)
class Job:
    """One photo to fetch: ``targets[0]`` receives the bytes, the others are linked to it."""

    photo_id: int
    image_id: str
    url: str
    targets: tuple[Path, ...]


@dataclass(frozen=True)
class Stored:
    """A photo now safely on disk at every target."""

    job: Job
    bytes: int
    sha256: str
    content_type: str | None
    adopted: bool = False  # already on disk from an earlier, interrupted run: not fetched again


class Abandoned(TransferError):
    """The run is stopping: the file was dropped before it was complete."""


def looks_like_image(head: bytes | bytearray) -> bool:
    """True when ``head`` starts like a known photo format (JPEG, PNG, GIF, WebP, TIFF, HEIF)."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return True
    if head.startswith((b"II*\x00", b"MM\x00*", b"IIRO", b"IIU\x00")):  # TIFF and TIFF-based RAW
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp"  # HEIC, AVIF, CR3


class Downloader:
    """Fetches jobs into files. Thread-safe: one instance serves the whole worker pool."""

    def __init__(
        self,
        storage: StorageClient,
        temp_dir: Path,
        *,
        fsync: bool = True,
        direct: bool = True,
        links: str = "auto",
        stop: threading.Event | None = None,
    ) -> None:
        self._storage = storage
        self._temp_dir = temp_dir
        self._fsync = fsync
        self.direct = direct  # O_DIRECT writes where the filesystem takes them (see sink.py)
        self.links = links
        self._stop = stop or threading.Event()
        self._warned_copy = False
        self._local = threading.local()

    def abandon(self) -> None:
        """Stop at once: downloads in flight fail now and remove their temp files."""
        self._stop.set()
        self._storage.abort()

    def fetch(self, job: Job) -> Stored:
        """Download ``job`` to all its targets; raises TransferError or StorageError."""
        if self._stop.is_set():
            raise Abandoned("stopped before the download started")
        temp = self._temp_dir / f"{uuid.uuid4().hex}{TEMP_SUFFIX}"
        primary = job.targets[0]
        try:
            stored = self._stream_to(temp, job)
            _replace(temp, primary)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        self.place(primary, job.targets[1:])
        return stored

    def adopt(self, job: Job) -> Stored | None:
        """Record a photo an interrupted run already put in place (files land only complete)."""
        primary = job.targets[0]
        try:
            with primary.open("rb") as handle:
                head = handle.read(16)
                if not looks_like_image(head):
                    return None
                handle.seek(0)
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
                size = handle.tell()
        except OSError:
            return None
        self.place(primary, job.targets[1:])
        return Stored(job, size, digest, None, adopted=True)

    def place(self, source: Path, targets: tuple[Path, ...]) -> None:
        """Make every target hold the bytes of ``source`` (hard link, or copy)."""
        for target in targets:
            if target == source:
                continue
            temp = self._temp_dir / f"{uuid.uuid4().hex}{TEMP_SUFFIX}"
            try:
                self._link_or_copy(source, temp)
                _replace(temp, target)
            except OSError as exc:
                raise _storage_error(exc, f"cannot place {target}") from exc
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()

    def _link_or_copy(self, source: Path, temp: Path) -> None:
        if self.links != "copy":
            try:
                os.link(source, temp)
            except OSError as exc:
                if self.links == "hardlink" or exc.errno in _FULL_ERRNOS:
                    raise
                if not self._warned_copy:
                    self._warned_copy = True
                    log.warning(
                        "hard links are not possible here (%s); copying instead", exc.strerror
                    )
            else:
                return
        shutil.copyfile(source, temp)
        if self._fsync:
            _fsync_path(temp)

    def _stream_to(self, temp: Path, job: Job) -> Stored:
        with self._storage.get(job.url) as response:
            content_type = response.headers.get("content-type")
            if content_type and content_type.lower().startswith(_NOT_IMAGE_TYPES):
                raise IntegrityError(f"storage sent {content_type.split(';')[0]}, not an image")
            expected = _content_length(response.headers.get("content-length"))
            stamp = _stamp(response.headers.get("last-modified"))
            digest, size = self._write_body(temp, response, expected, stamp)
        return Stored(job, size, digest, content_type)

    def _write_body(
        self, temp: Path, response: StorageResponse, expected: int | None, stamp: float | None
    ) -> tuple[str, int]:
        buffer = self._buffer()
        view = memoryview(buffer)
        hasher = hashlib.sha256()
        marker = EndMarker(expected)
        is_jpeg = False
        sink = Sink(temp, direct=self.direct)
        try:
            while count := _fill(response, view, self._stop):
                if marker.size == 0:
                    if not looks_like_image(buffer[:16]):
                        raise IntegrityError("body is not an image (HTML, XML or unknown bytes)")
                    is_jpeg = buffer[:3] == b"\xff\xd8\xff"
                hasher.update(view[:count])
                sink.write(view, count)
                marker.feed(buffer, count)
            if marker.size == 0:
                raise IntegrityError("empty body")
            if expected is not None and marker.size != expected:
                raise IntegrityError(
                    f"body has {marker.size} bytes, Content-Length said {expected}"
                )
            if is_jpeg and not marker.complete():
                raise IntegrityError("the JPEG has no end marker: the body was cut short")
            if stamp is not None:
                with contextlib.suppress(OSError):  # a share may refuse times: not fatal
                    os.utime(sink.fd, (stamp, stamp))
            if self._fsync:
                os.fsync(sink.fd)
        except OSError as exc:
            raise _storage_error(exc, "cannot write the photo") from exc
        finally:
            view.release()
            sink.close()
        return hasher.hexdigest(), marker.size

    def _buffer(self) -> mmap.mmap:
        """This thread's read buffer (page-aligned), reused for every photo it downloads."""
        buffer: mmap.mmap | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = aligned_buffer(READ_SIZE)
        return buffer


def _fill(response: StorageResponse, view: memoryview, stop: threading.Event) -> int:
    """Read until ``view`` is full or the body ends: only a body's last chunk is short.

    A slow server hands over a buffer in several reads (each waits at most about a second):
    the run's stop is honoured between them, not only once per buffer.
    """
    filled = 0
    while filled < len(view):
        if stop.is_set():
            raise Abandoned("stopped during the download")
        count = response.readinto(view[filled:])
        if count == 0:
            break
        filled += count
    return filled


class EndMarker:
    """Where the last JPEG end-of-image marker (FF D9) of a stream ends: catches cut bodies.

    Some cameras append data after the marker, so it must lie within the last 64 KiB rather
    than in the last two bytes; entropy-coded image data never contains FF D9. Only the part of
    each chunk that can still be within 64 KiB of the end is searched.
    """

    def __init__(self, expected: int | None) -> None:
        self.expected = expected
        self.size = 0
        self.end: int | None = None
        self._last_byte = -1

    def feed(self, buffer: bytearray | mmap.mmap, count: int) -> None:
        start = self.size
        self.size += count
        if count == 0:
            return
        if self.expected is None or self.size > self.expected - JPEG_TAIL:
            found = buffer.rfind(b"\xff\xd9", max(0, count - JPEG_TAIL), count)
            if found >= 0:
                self.end = start + found + 2
            elif self._last_byte == 0xFF and buffer[0] == 0xD9:
                self.end = start + 1
        self._last_byte = buffer[count - 1]

    def complete(self) -> bool:
        return self.end is not None and self.size - self.end <= JPEG_TAIL


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise IntegrityError(f"bad Content-Length {value[:40]!r}") from None


@functools.lru_cache(maxsize=64)
def _stamp(last_modified: str | None) -> float | None:
    """The ``Last-Modified`` header as a timestamp for the file, or None if absent or bad."""
    if not last_modified:
        return None
    try:
        return parsedate_to_datetime(last_modified).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


def _replace(temp: Path, target: Path) -> None:
    """Move ``temp`` to ``target``, making its folder first if it does not exist yet."""
    try:
        os.replace(temp, target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dirs(paths: set[Path]) -> None:
    """Make renames into these folders durable (best effort where the filesystem refuses)."""
    for folder in paths:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)


def _storage_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in _FULL_ERRNOS:
        return DiskFullError(f"{what}: the disk is full ({exc.strerror})")
    return StorageError(f"{what}: {exc.strerror or exc}")
