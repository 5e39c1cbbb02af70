"""What the commands build from the settings: the API client, the ledger, a cycle's parts.

Every command that talks to 9Pic gets its client from :func:`api_client` (one retry policy,
one adaptive limiter); every command that reads or writes the ledger opens it through
:func:`open_ledger` (the single-instance lock first, when it writes). :class:`CycleWiring` is
the frozen set of choices one sync cycle runs with, made once from the settings and the facts
of the photo root, so nothing below it reads the settings again.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from syncer.api import AdaptiveLimiter, ApiClient, Observer, RetryPolicy
from syncer.concurrency import Span
from syncer.config import DownloadSettings, Settings
from syncer.coordinator import Tuning
from syncer.layout import NameRules, Template
from syncer.ledger import Ledger
from syncer.ledger.engine import reachable, resolve_target
from syncer.lock import InstanceLock, lock_path_for
from syncer.root import NETWORK_FS, RootInfo, filesystem_type, warn_if_network_ledger

log = logging.getLogger("syncer.wiring")
DEFAULT_START = 8  # downloads at once when a cycle begins, before any measurement


FIRST_CONTACT_ATTEMPTS = 3  # a command's tries at a server it never reached (about 3 s)


def api_client(
    settings: Settings, observer: Observer | None = None, *, patient: bool = False
) -> ApiClient:
    """The API client of every command: key, retries and the adaptive limiter from settings.

    Not ``patient`` (a command), a server that refuses every connection before it has once
    answered is given up on after ``FIRST_CONTACT_ATTEMPTS`` (a mistyped ``api.base_url``)."""
    api = settings.api
    retry = RetryPolicy(
        max_attempts=api.max_attempts,
        throttle_deadline=api.throttle_deadline,
        first_contact_attempts=None if patient else FIRST_CONTACT_ATTEMPTS,
    )
    return ApiClient(
        base_url=api.base_url,
        org_id=settings.require_org(),
        api_key=settings.require_key(),
        retry=retry,
        limiter=AdaptiveLimiter(initial=api.max_concurrency, maximum=api.max_concurrency),
        timeout=api.timeout,
        observer=observer,
    )


@contextmanager
def open_ledger(settings: Settings, *, write: bool = True, create: bool = True) -> Iterator[Ledger]:
    """The ledger, behind the single-instance lock when ``write`` (SQLite files only).

    Without ``create`` a ledger that does not exist yet raises LedgerError and nothing is made.
    """
    target = settings.storage.ledger
    lock_path = lock_path_for(target)
    with ExitStack() as stack:
        if write and lock_path is not None:
            warn_if_network_ledger(lock_path)
            stack.enter_context(InstanceLock(lock_path))
        yield stack.enter_context(Ledger.open(target, create=create))


def ledger_exists(settings: Settings, *, write: bool = True) -> bool:
    """Whether opening the ledger would find one (a database server's ledger always counts).

    A folder on the way that this user may not enter, or a file it may not read (or write, with
    ``write``), is LedgerError (one line naming the fix), not False.
    """
    path = resolve_target(settings.storage.ledger).path
    return path is None or reachable(path, write=write)


@contextmanager
def ledger_snapshot(settings: Settings) -> Iterator[Ledger]:
    """A private copy of the ledger for a dry run: the real one is read, never written.

    An SQLite file is copied whole; a server ledger's rows are read into a temporary SQLite
    ledger in one transaction (opening it migrates an older schema first, as every command
    that opens it does)."""
    target = settings.storage.ledger
    with tempfile.TemporaryDirectory(prefix="syncer-dry-") as tmp:
        copy = Path(tmp) / "ledger.sqlite3"
        path = resolve_target(target).path
        if path is not None and path.is_file():
            _snapshot(path, copy)
        with Ledger.open(copy) as ledger:
            if path is None and Ledger.has_schema(target):
                with Ledger.open(target, create=False) as source:
                    source.copy_into(ledger)
            yield ledger


def _snapshot(source: Path, dest: Path) -> None:
    """Copy a live ledger consistently (WAL included) without writing to it."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()


@dataclass(frozen=True)
class CycleWiring:
    """The choices of one cycle, made once from the settings and the root's filesystem."""

    template: Template
    people_template: Template
    rules: NameRules
    links: str  # "hardlink", "copy" or "auto"
    direct_io: bool
    fsync: bool
    case_insensitive: bool
    tuning: Tuning
    timeout: float
    api_threads: int
    trash: bool
    trash_max_share: float

    @classmethod
    def build(cls, settings: Settings, root: RootInfo | None) -> CycleWiring:
        storage, download = settings.storage, settings.download
        return cls(
            template=storage.template,
            people_template=storage.people_template,
            rules=storage.name_rules,
            links=_links(storage.links, root),
            direct_io=_direct_io(download.direct_io, root),
            fsync=download.fsync,
            case_insensitive=_case_insensitive(storage.case_insensitive, root),
            tuning=Tuning(
                concurrency=_concurrency(download),
                presign_batch=download.presign_batch,
                soon=RetryPolicy(
                    max_attempts=download.max_attempts,
                    base=download.backoff_base,
                    cap=download.backoff_cap,
                ),
                later=RetryPolicy(base=download.retry_base, cap=download.retry_cap),
                min_free=storage.min_free,
            ),
            timeout=download.timeout,
            api_threads=settings.api.max_concurrency,
            trash=storage.on_remote_delete == "trash",
            trash_max_share=storage.trash_max_share,
        )


def _concurrency(download: DownloadSettings) -> Span:
    """Downloads at once: pinned by ``download.workers`` when set, else adaptive."""
    if download.pinned_workers is not None:
        return Span.pinned(download.pinned_workers)
    start = min(max(DEFAULT_START, download.workers_min), download.workers_max)
    return Span(download.workers_min, download.workers_max, start)


def _links(mode: str, root: RootInfo | None) -> str:
    if mode == "auto" and root is not None and not root.hardlinks:
        log.info(
            "the filesystem under %s has no hard links; extra BIB folders get copies", root.path
        )
        return "copy"
    return mode


def _direct_io(wanted: bool, root: RootInfo | None) -> bool:
    """O_DIRECT writes when asked for and the root is not on a network share."""
    if not wanted or root is None:
        return False
    fstype = filesystem_type(root.path)
    return not (fstype and fstype.lower() in NETWORK_FS)


def _case_insensitive(configured: str | bool, root: RootInfo | None) -> bool:
    if configured == "auto":
        return root is not None and root.case_insensitive
    return bool(configured)
