"""The single-instance lock: one syncer per ledger, even across hosts sharing no memory.

The lock is an ``flock`` on ``<ledger file>.lock``; the operating system releases it when the
holder exits or dies (``kill -9`` included), so a stale file never blocks a new run. The file
is never deleted (deleting races with a process that just opened it); it names its holder.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote

from syncer.errors import AlreadyRunningError, LedgerError
from syncer.private_paths import open_private_file

LOCK_SUFFIX = ".lock"


def lock_path_for(ledger_target: str | Path) -> Path | None:
    """The lock file of a ledger path or SQLite URL; None for databases that are not files."""
    if isinstance(ledger_target, Path) or "://" not in ledger_target:
        ledger = Path(ledger_target).expanduser().absolute()
    else:
        found = _sqlite_url_file(ledger_target)
        if found is None:
            return None
        ledger = found
    return ledger.with_name(ledger.name + LOCK_SUFFIX)


def _sqlite_url_file(url: str) -> Path | None:
    scheme, _, rest = url.partition("://")
    if scheme.split("+", 1)[0].lower() != "sqlite" or not rest.startswith("/"):
        return None
    database, _, query = rest[1:].partition("?")
    database = unquote(database)
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in query:
        return None
    return Path(database).expanduser().absolute()


class InstanceLock:
    """An exclusive, non-blocking lock on ``path`` (``<ledger>.lock``); a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyRunningError` naming the current holder."""
        if self._fd is not None:
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise AlreadyRunningError(
                f"another syncer ({holder}) is using {self._ledger_name()}; "
                "wait for it to finish or stop it first",
                hint="only one syncer may use a ledger at a time",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise LedgerError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        self._fd = fd
        self._write_holder(fd)

    def release(self) -> None:
        """Give the lock up (the file stays: deleting it would race with the next holder)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"InstanceLock({str(self.path)!r}, held={self.held})"

    def _open(self) -> int:
        try:
            return open_private_file(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise LedgerError(f"cannot open lock file {self.path}: {exc.strerror or exc}") from exc

    def _write_holder(self, fd: int) -> None:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        text = f"pid={os.getpid()} host={socket.gethostname()} started={started}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)

    def _ledger_name(self) -> str:
        name = str(self.path)
        return name.removesuffix(LOCK_SUFFIX) if name.endswith(LOCK_SUFFIX) else name


def _read_holder(fd: int) -> str:
    """``pid 1234 on host, since ...`` from the lock file, as far as it can be read."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    fields = dict(re.findall(r"(\w+)=(\S+)", text))
    if "pid" not in fields:
        return "pid unknown"
    holder = f"pid {fields['pid']} on {fields.get('host', 'an unknown host')}"
    return f"{holder}, since {fields['started']}" if "started" in fields else holder
