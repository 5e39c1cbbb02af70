"""The one exception tree of syncer.

Every error that can reach the user is a :class:`SyncerError`; each class carries the process
exit code (sysexits style) and an optional hint. Foreign exceptions (httpx, sqlite, OSError) are
translated at the module boundary with ``raise ... from exc``.

::

    SyncerError                     1   a bug: should never reach the user
    ├── ConfigError                78   bad settings, template, BIB spec, missing key/org
    ├── StorageError               74   the photo root or ledger storage cannot be used
    │   ├── RootUnavailableError   74   root missing, unwritable, or NAS marker missing
    │   ├── DiskFullError          74   free space below the floor, or ENOSPC/EFBIG
    │   └── LedgerError            74   ledger file corrupt, foreign or unreadable
    ├── AlreadyRunningError        75   another syncer holds the ledger lock
    └── ApiError                   70   the 9Pic API refused or garbled a request
        ├── AuthError              77   401 (no key) or 403 (bad, revoked or foreign key)
        ├── NotFoundError          70   404: event configuration or request_id missing
        ├── BadRequestError        70   400: e.g. unknown image ids
        ├── UnprocessableError     70   422: the request did not match the schema
        ├── ProtocolError          70   a 2xx answer we cannot parse
        └── ApiUnavailableError    75   429 / 5xx / network errors after all retries

    TransferError (not a SyncerError: per-photo, never fatal; the photo is retried later)
    ├── LinkExpiredError               the storage host refused the presigned URL (403/400)
    ├── IntegrityError                 wrong length, HTML/XML body, not an image
    └── UntrustedHostError             the storage host's TLS certificate does not verify
                                       (retryable = False: trying again cannot help)
"""

from __future__ import annotations


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


class ApiUnavailableError(ApiError):
    exit_code = 75


class TransferError(Exception):
    """One photo could not be fetched or verified; it is retried in a later attempt."""

    retryable = True


class LinkExpiredError(TransferError):
    """The presigned URL was refused by the storage host: ask for a fresh one."""


class IntegrityError(TransferError):
    """The bytes received are not the photo (short, long, HTML/XML, not an image)."""


class UntrustedHostError(TransferError):
    """The storage host's TLS certificate does not verify against the trusted CAs.

    Not retryable: the same host presents the same certificate until the machine's trust
    changes (a private CA is trusted through ``SSL_CERT_FILE``; see the README).
    """

    retryable = False
