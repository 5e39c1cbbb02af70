"""The one exception tree of syncer.

Every error that can reach the user is a :class:`SyncerError`; each class carries the process
exit code (sysexits style) and an optional hint. Foreign exceptions (httpx, sqlite, OSError) are
translated at the module boundary with ``raise ... from exc``.

::

    SyncerError                     1   a bug: should never reach the user
    ├── UsageError                  2   flags that cannot go together, or a bad flag value
    ├── ConfigError                78   bad settings, template, BIB spec, missing key/org
    ├── StorageError               74   the photo root or ledger storage cannot be used
    │   ├── RootUnavailableError   74   root missing, unwritable, or NAS marker missing
    │   ├── DiskFullError          74   free space below the floor, or ENOSPC/EFBIG
    │   └── LedgerError            74   ledger file corrupt, foreign or unreadable
    │       └── LedgerUnavailableError 75   the ledger's database server is down or busy
    ├── AlreadyRunningError        75   another syncer holds the ledger lock
    └── ApiError                   70   the 9Pic API refused or garbled a request
        ├── AuthError              77   401 (no key) or 403 (bad, revoked or foreign key)
        ├── NotFoundError          70   404: event configuration or request_id missing
        ├── BadRequestError        70   400: e.g. unknown image ids
        ├── UnprocessableError     70   422: the request did not match the schema
        ├── ProtocolError          70   a 2xx answer we cannot parse
        └── ApiUnavailableError    75   429 / 5xx / network errors after all retries

    TransferError (not a SyncerError: per-photo, never fatal; the photo is retried later)
    ├── LinkExpiredError               the storage host refused the presigned URL (400/401/403/404)
    ├── IntegrityError                 wrong length, HTML/XML body, not an image
    └── UntrustedHostError             the storage host's TLS certificate does not verify
                                       (not tried again within the run: it cannot help)
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path


class SyncerError(Exception):
    """Base of every error syncer reports to the user."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(SyncerError):
    """The command line asks for something that cannot be done (told in one line)."""

    exit_code = 2


class ConfigError(SyncerError):
    exit_code = 78


class StorageError(SyncerError):
    exit_code = 74


class RootUnavailableError(StorageError):
    pass


class DiskFullError(StorageError):
    pass


class LedgerError(StorageError):
    pass


class LedgerUnavailableError(LedgerError):
    """The ledger's database server cannot be reached now (down, restarting, out of slots)."""

    exit_code = 75


class AlreadyRunningError(SyncerError):
    exit_code = 75


class ApiError(SyncerError):
    """The API answered with an error status (or not at all). ``status`` is 0 without one."""

    exit_code = 70

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        api_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.api_message = api_message


class AuthError(ApiError):
    exit_code = 77


class NotFoundError(ApiError):
    pass


class BadRequestError(ApiError):
    pass


class UnprocessableError(ApiError):
    pass


class ProtocolError(ApiError):
    pass


class WindowIgnoredError(ProtocolError):
    """9Pic listed more photos for a timeline window than its own timeline counts there: it
    does not take the window's bounds as syncer sends them (their names are undocumented)."""


class ApiUnavailableError(ApiError):
    exit_code = 75


class TransferError(Exception):
    """One photo could not be fetched or verified; it is tried again (soon, or in a later run).

    ``retry_after``: seconds the storage host asked to wait (``Retry-After``), when it did.
    ``pushback``: the host asked for less (429, 503, SlowDown, Retry-After, a reset connection):
    fewer downloads at once, not only a later try.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, pushback: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.pushback = pushback or retry_after is not None


class LinkExpiredError(TransferError):
    """The storage host refused the presigned URL (HTTP 400, 401, 403 or 404, the statuses of
    ``syncer.api.storage.EXPIRED_STATUSES``): it expired or its signature no longer holds, so
    the photo is retried with a fresh URL."""


class IntegrityError(TransferError):
    """The bytes received are not the photo (short, long, HTML/XML, not an image)."""


def denied(path: Path, need: str = "read") -> str:
    """Why this process may not ``need`` ``path`` (EACCES), and the fix, for a one-line message.

    Names the first folder on the way that cannot be entered (or the file itself), its mode and
    owner, and the user syncer runs as.
    """
    blocker = path
    for folder in reversed(path.parents):
        if not os.access(folder, os.X_OK):
            blocker, need = folder, "enter"
            break
    try:
        info = blocker.stat()
        shape = f"mode {stat.S_IMODE(info.st_mode):04o}, owner {_user(info.st_uid)}:"
        shape += _group(info.st_gid)
    except OSError:
        shape = "mode unknown"
    me = _user(os.getuid())
    return (
        f"permission denied: user {me} cannot {need} {blocker} ({shape}); fix: run syncer as a "
        f"user that can (the owner or a member of its group), or give {me} access to it"
    )


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


class UntrustedHostError(TransferError):
    """The storage host's TLS certificate does not verify against the trusted CAs.

    Not tried again within the run: the same host presents the same certificate until the
    machine's trust changes (a private CA is trusted through ``SSL_CERT_FILE``; see the README).
    """
