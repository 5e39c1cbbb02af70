"""One sync cycle: wiring, the single-instance lock, walk, download, re-place, report."""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from syncer.api import AdaptiveLimiter, ApiClient, EventDetails, RetryPolicy, StorageClient
from syncer.config import Settings
from syncer.coordinator import Coordinator, Tuning
from syncer.downloader import Downloader, clean_temp
from syncer.errors import AuthError, ConfigError, NotFoundError
from syncer.layout import Template
from syncer.ledger import EventRecord, Ledger
from syncer.lock import InstanceLock, lock_path_for
from syncer.placement import Placer, reconcile, trash_removed
from syncer.planner import Planner, WalkResult, utcnow
from syncer.report import CycleReport, EventReport
from syncer.root import (
    NETWORK_FS,
    RootInfo,
    check_free_space,
    filesystem_type,
    prepare_root,
    warn_if_network_ledger,
)
from syncer.workers import ProcessWorkers, ThreadWorkers, Workers, WorkerSpec

log = logging.getLogger("syncer.sync")


Observer = Callable[[str, int], None]


class Progress:
    """Callbacks the CLI implements to show progress; the default shows nothing."""

    def walk_page(self, event_id: int, images: int) -> None: ...
    def downloads(self, event_id: int, files: int) -> None: ...
    def bytes(self, count: int) -> None: ...
    def file_done(self, ok: bool) -> None: ...
    def bibs(self, event_id: int, done: int, total: int) -> None: ...


@dataclass(frozen=True)
class CycleOptions:
    event_ids: Sequence[int] | None = None  # None: as configured
    bibs: Sequence[str] | None = None  # overrides the configured BIB lists
    dry_run: bool = False
    kind: str = "sync"


def run_cycle(
    settings: Settings,
    options: CycleOptions = CycleOptions(),
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    observer: Observer | None = None,
) -> CycleReport:
    """Sync the chosen events once. Raises SyncerError subclasses for whole-run failures."""
    stop = stop or threading.Event()
    progress = progress or Progress()
    template = settings.storage.template
    report = CycleReport(started_at=utcnow(), dry_run=options.dry_run)
    with ExitStack() as stack:
        api = stack.enter_context(_api_client(settings, observer))  # a missing key: no file made
        ledger = stack.enter_context(_open_ledger(settings, options.dry_run))
        root = None if options.dry_run else _prepare(settings, ledger)
        storage = stack.enter_context(
            StorageClient(
                timeout=settings.download.timeout, max_connections=settings.download.workers
            )
        )
        downloader = Downloader(
            storage,
            root.temp_dir if root else Path(tempfile.gettempdir()),
            fsync=settings.download.fsync,
            direct=_direct_io(settings, root),
            links=_links(settings, root),
            stop=stop,
        )
        cycle = _Cycle(settings, options, template, ledger, api, downloader, root, stop, progress)
        event_ids = cycle.event_ids()
        run_id = ledger.start_run(options.kind, event_ids, utcnow())
        try:
            cycle.run(report, event_ids)
        finally:
            report.ended_at = utcnow()
            report.interrupted = stop.is_set()
            counts = {
                "downloaded": report.total("downloaded"),
                "new": report.total("new"),
                "failed": report.total("failed"),
                "bytes": report.total("bytes"),
            }
            ledger.finish_run(run_id, report.ended_at, counts, report.exit_code)
    return report


def _prepare(settings: Settings, ledger: Ledger) -> RootInfo:
    first_use = not ledger.has_downloads()
    root = prepare_root(
        settings.require_root(), first_use=first_use, require_marker=settings.storage.require_marker
    )
    removed = clean_temp(root.temp_dir)
    if removed:
        log.info("removed %d temp files left by an interrupted run", removed)
    check_free_space(root.path, settings.storage.min_free)
    return root


def _links(settings: Settings, root: RootInfo | None) -> str:
    mode = settings.storage.links
    if mode == "auto" and root is not None and not root.hardlinks:
        log.info(
            "the filesystem under %s has no hard links; extra BIB folders get copies", root.path
        )
        return "copy"
    return mode


def _direct_io(settings: Settings, root: RootInfo | None) -> bool:
    """O_DIRECT writes when asked for and the root is not on a network share."""
    if not settings.download.direct_io or root is None:
        return False
    fstype = filesystem_type(root.path)
    return not (fstype and fstype.lower() in NETWORK_FS)


@contextmanager
def _open_ledger(settings: Settings, dry_run: bool) -> Iterator[Ledger]:
    target = settings.storage.ledger
    lock_path = lock_path_for(target)
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="syncer-dry-") as tmp:
            copy = Path(tmp) / "ledger.sqlite3"
            if lock_path is not None and Path(str(target)).is_file():
                _snapshot(Path(str(target)), copy)
            with Ledger.open(copy) as ledger:
                yield ledger
        return
    with ExitStack() as stack:
        if lock_path is not None:
            warn_if_network_ledger(lock_path)
            stack.enter_context(InstanceLock(lock_path))
        yield stack.enter_context(Ledger.open(target))


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


@contextmanager
def _api_client(settings: Settings, observer: Observer | None) -> Iterator[ApiClient]:
    api = settings.api
    retry = RetryPolicy(max_attempts=api.max_attempts, throttle_deadline=api.throttle_deadline)
    client = ApiClient(
        base_url=api.base_url,
        org_id=settings.require_org(),
        api_key=settings.require_key(),
        retry=retry,
        limiter=AdaptiveLimiter(initial=api.max_concurrency, maximum=api.max_concurrency),
        timeout=api.timeout,
        observer=observer,
    )
    with client:
        yield client


class _Cycle:
    def __init__(
        self,
        settings: Settings,
        options: CycleOptions,
        template: Template,
        ledger: Ledger,
        api: ApiClient,
        downloader: Downloader,
        root: RootInfo | None,
        stop: threading.Event,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.options = options
        self.template = template
        self.ledger = ledger
        self.api = api
        self.downloader = downloader
        self.root = root
        self.stop = stop
        self.progress = progress
        self.rules = settings.storage.name_rules
        self.planner = Planner(
            api,
            ledger,
            stop=stop,
            on_page=progress.walk_page,
            on_bibs=progress.bibs,
            api_threads=settings.api.max_concurrency,
        )

    def run(self, report: CycleReport, event_ids: Sequence[int]) -> None:
        self._ping(event_ids)
        for event_id in event_ids:
            if self.stop.is_set():
                return
            event_report = EventReport(event_id=event_id)
            report.events.append(event_report)
            try:
                self._sync_event(event_id, event_report)
            except (NotFoundError, AuthError) as exc:
                if isinstance(exc, AuthError) and self._key_is_dead():
                    raise
                event_report.error = f"{exc.message}"
                log.error("event %d skipped: %s", event_id, exc.message)  # noqa: TRY400 (expected)

    def event_ids(self) -> list[int]:
        """The events of this cycle: asked for, configured, or all of the org's active ones."""
        if self.options.event_ids:
            return list(dict.fromkeys(self.options.event_ids))
        configured = self.settings.event_ids()
        if configured is not None:
            if not configured:
                raise ConfigError(
                    "no events to sync: pass --event ID or add [[events]] to the config"
                )
            return configured
        return [e.event_id for e in self.api.events() if (e.status or "active") == "active"]

    def _ping(self, event_ids: Sequence[int]) -> None:
        """Fail fast on a bad key: ping the first event; event-level refusals come later."""
        if not event_ids:
            return
        try:
            self.api.ping(event_ids[0])
        except AuthError:
            if self._key_is_dead():
                raise

    def _key_is_dead(self) -> bool:
        """A 403 on one event may be that event's; a 403 on the org's event list is the key's."""
        try:
            next(self.api.events(page_size=1), None)
        except AuthError:
            return True
        return False

    def _sync_event(self, event_id: int, report: EventReport) -> None:
        details = self.planner.refresh_event(event_id)
        report.name = details.event_name
        walk = self.planner.walk(event_id)
        _merge_walk(report, walk)
        if self.stop.is_set():
            return
        self.planner.search_bibs(event_id, self._bibs(event_id), details)
        if self.stop.is_set():
            return
        record = self.ledger.event(event_id) or _record(event_id, details)
        if self.options.dry_run:
            report.due = self.ledger.count_due(event_id, utcnow())
            return
        assert self.root is not None
        placer = Placer(self.root.path, self.template, self.rules, record)
        report.relinked, _ = reconcile(self.ledger, placer, self.downloader)
        self.progress.downloads(event_id, self.ledger.count_due(event_id, utcnow()))
        coordinator = Coordinator(
            self.api,
            self.ledger,
            self._workers,
            tuning=self._tuning(),
            stop=self.stop,
            clock=utcnow,
            case_insensitive=self._case_insensitive(),
            on_file=self.progress.file_done,
            on_bytes=self.progress.bytes,
        )
        coordinator.run(placer, report)
        if walk.complete and self.settings.storage.on_remote_delete == "trash":
            report.trashed = trash_removed(
                self.ledger,
                placer,
                known=walk.seen + walk.missing,
                max_share=self.settings.storage.trash_max_share,
                today=utcnow(),
            )

    def _bibs(self, event_id: int) -> list[str]:
        if self.options.bibs is not None:
            return list(self.options.bibs)
        return self.settings.bibs_for(event_id)

    def _workers(self) -> Workers:
        """Threads of this process, or ``download.processes`` worker processes of threads."""
        download = self.settings.download
        processes = min(download.processes, download.workers)
        if processes <= 1:
            return ThreadWorkers(self.downloader, download.workers)
        assert self.root is not None
        spec = WorkerSpec(
            threads=-(-download.workers // processes),
            temp_dir=self.root.temp_dir,
            fsync=download.fsync,
            direct=self.downloader.direct,
            links=self.downloader.links,
            timeout=download.timeout,
        )
        return ProcessWorkers(spec, processes, self.stop)

    def _case_insensitive(self) -> bool:
        configured = self.settings.storage.case_insensitive
        if configured == "auto":
            return self.root is not None and self.root.case_insensitive
        return bool(configured)

    def _tuning(self) -> Tuning:
        download = self.settings.download
        return Tuning(
            workers=download.workers,
            presign_batch=download.presign_batch,
            max_attempts=download.max_attempts,
            retry_base=download.retry_base,
            retry_cap=download.retry_cap,
            min_free=self.settings.storage.min_free,
        )


def _merge_walk(report: EventReport, walk: WalkResult) -> None:
    report.pages, report.seen, report.new = walk.pages, walk.seen, walk.new


def _record(event_id: int, details: EventDetails) -> EventRecord:
    return EventRecord(
        event_id, details.event_name, details.event_slug, details.event_date, details.status
    )


__all__ = ["CycleOptions", "Progress", "run_cycle"]
