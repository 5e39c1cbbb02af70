"""The steps one event goes through in a sync cycle: walk (or select), download, place, tidy.

:class:`Cycle` holds one cycle's collaborators. An event whose whole gallery is walked
downloads while the walk still pages and while its BIBs are searched; the people searches
follow, then every photo placed before its BIBs or people were known is moved or linked into
their folders. A dry run, a timeline window and a selection plan first, then download.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncer.api import ApiClient, EventDetails, StorageClient
from syncer.clips import ClipFetcher
from syncer.concurrency import Controller, Gate
from syncer.config import Settings
from syncer.coordinator import EVERY_PHOTO, Coordinator, Scope
from syncer.downloader import Downloader
from syncer.dryrun import planned_steps
from syncer.errors import AuthError, NotFoundError, WindowIgnoredError
from syncer.ledger import Ledger
from syncer.people import PeopleSearch, SelfieSelector
from syncer.placement import (
    PeopleFolders,
    Placer,
    gone_from_disk,
    reconcile,
    restore_gone,
    trash_removed,
)
from syncer.planner import (
    BibSearches,
    GalleryWalk,
    Planner,
    WalkResult,
    event_record,
    utcnow,
)
from syncer.relayout import layout_changed
from syncer.report import CycleReport, EventReport, PersonReport
from syncer.root import RootInfo
from syncer.selection import BibSelector, Found, Selector, selection_scope
from syncer.selfies import Person
from syncer.windows import Window
from syncer.wiring import CycleWiring
from syncer.workers import ThreadWorkers, Workers

log = logging.getLogger("syncer.sync")


class Progress:
    """Callbacks the CLI implements to show progress; the default shows nothing."""

    def walk_page(self, event_id: int, images: int, pages: int = 0) -> None:
        """One gallery page recorded: its photos, and the pages the event has (0: unknown)."""

    def downloads(self, event_id: int, files: int) -> None: ...
    def more_files(self, event_id: int, files: int) -> None:
        """``files`` more to download than :meth:`downloads` said (a walk found them)."""

    def bytes(self, count: int) -> None: ...
    def file_done(self, ok: bool) -> None: ...
    def bibs(self, event_id: int, done: int, total: int) -> None: ...
    def concurrency(self, downloads: int) -> None:
        """How many downloads run at once now (the adaptive target)."""


@dataclass(frozen=True)
class CycleOptions:
    event_ids: Sequence[int] | None = None  # None: as configured
    bibs: Sequence[str] | None = None  # overrides the configured BIB lists
    dry_run: bool = False
    kind: str = "sync"
    retry_failed: bool = False  # failed photos are due now, whatever their delay
    check_files: bool = True  # check that downloaded photos' files are still on disk
    people: Sequence[Person] | None = None  # overrides the configured [[events.people]]
    clips: bool = False  # fetch every person's video clips, whatever their config says
    only: bool = False  # only the photos the searches select (``bibs``, ``people``): no walk
    window: Window | None = None  # overrides each event's configured timeline window

    @property
    def patient(self) -> bool:
        """A daemon's cycle rides out an API it cannot reach yet; a command says so at once."""
        return self.kind == "daemon-cycle"


def key_is_dead(api: ApiClient) -> bool:
    """A 403 on one event may be that event's; a 403 on the org's event list is the key's."""
    try:
        next(api.events(page_size=1), None)
    except AuthError:
        return True
    return False


class Cycle:
    """One cycle's collaborators, and the steps each event goes through."""

    def __init__(
        self,
        wiring: CycleWiring,
        options: CycleOptions,
        ledger: Ledger,
        api: ApiClient,
        downloader: Downloader,
        root: RootInfo,
        stop: threading.Event,
        progress: Progress | None,
        bibs: Callable[[int], list[str]],
        windows: Callable[[int], Window | None],
    ) -> None:
        self.wiring = wiring
        self.options = options
        self.ledger = ledger
        self.downloader = downloader
        self.root = root
        self.stop = stop
        self.progress = progress or Progress()
        self.bibs = bibs
        self.windows = windows
        self.people: Callable[[int], list[Person]] = lambda _event_id: []
        self.searches: PeopleSearch | None = None
        self.clips: ClipFetcher | None = None
        self.gate = Gate(Controller(wiring.tuning.concurrency, time.monotonic))
        self.planner = Planner(
            api,
            ledger,
            stop=stop,
            on_page=self.progress.walk_page,
            on_bibs=self.progress.bibs,
            api_threads=wiring.api_threads,
        )
        self.coordinator = Coordinator(
            api,
            ledger,
            self._workers,
            tuning=wiring.tuning,
            gate=self.gate,
            stop=stop,
            clock=utcnow,
            case_insensitive=wiring.case_insensitive,
            retry_failed=options.retry_failed,
            on_file=self.progress.file_done,
            on_bytes=self.progress.bytes,
            on_abandon=downloader.abandon,
            on_concurrency=self._concurrency,
        )
        self.run_id: int | None = None

    def add_people(
        self, settings: Settings, people: Callable[[int], list[Person]], storage: StorageClient
    ) -> None:
        """Selfie searches and clips for the people of each event (none in a dry run)."""
        self.people = people
        if self.options.dry_run:
            return
        api = self.planner.api
        self.searches = PeopleSearch(
            api, self.ledger, clock=utcnow, stop=self.stop, field=settings.people.selfie_field
        )
        self.clips = ClipFetcher(
            api,
            self.ledger,
            storage,
            self.root.temp_dir,
            deadline=settings.people.clip_deadline,
            clock=utcnow,
            stop=self.stop,
            fsync=self.wiring.fsync,
        )

    def run(self, report: CycleReport, event_ids: Sequence[int]) -> None:
        for event_id in event_ids:
            if self.stop.is_set():
                return
            event_report = EventReport(event_id=event_id)
            report.events.append(event_report)
            try:
                self._sync_event(event_id, event_report)
            except (NotFoundError, AuthError) as exc:
                if isinstance(exc, AuthError) and key_is_dead(self.planner.api):
                    raise
                event_report.error = f"{exc.message}"
                log.error("event %d skipped: %s", event_id, exc.message)  # noqa: TRY400 (expected)

    def _sync_event(self, event_id: int, report: EventReport) -> None:
        details = self.planner.refresh_event(event_id)
        report.name = details.event_name
        with self.ledger.event_upkeep(event_id) as upkeep:
            if upkeep:
                self._keep_event(event_id, report, details)
            elif self.options.only or self.windows(event_id) is not None:
                self._skip(
                    event_id,
                    report,
                    "another node walks this event now; a selection or a timeline window waits "
                    "until it is done: run it again in a few minutes",
                )
            else:
                log.info("event %d: another node walks it now; downloading only", event_id)
                self._download_only(event_id, report, details)

    def _download_only(self, event_id: int, report: EventReport, details: EventDetails) -> None:
        """A node while another one walks the event and keeps its files: claim and download."""
        self.coordinator.run(self._placer(event_id, details), report)

    def _keep_event(self, event_id: int, report: EventReport, details: EventDetails) -> None:
        people = self.people(event_id)
        if self._overlaps(event_id):
            self._walk_and_download(event_id, report, details, people)
            return
        planned = self._plan(event_id, details, people, report)
        if planned is None or self.stop.is_set():
            return
        walk, scope = planned
        placer = self._placer(event_id, details)
        if self.options.dry_run:
            self._tidy(placer, report)
            report.due = self.coordinator.count_due(event_id, scope)
            report.plan = planned_steps(
                self.ledger,
                placer,
                now=utcnow(),
                any_failed=self.options.retry_failed,
                trash_share=self.wiring.trash_max_share
                if walk.complete and self.wiring.trash
                else None,
                known=walk.seen + walk.missing,
                only=scope.image_ids,
            )
            return
        self._tidy(placer, report)
        self.progress.downloads(event_id, self.coordinator.count_due(event_id, scope))
        self.coordinator.run(placer, report, scope)
        self._finish_event(placer, people, details, report, walk if scope.conclusive else None)

    def _overlaps(self, event_id: int) -> bool:
        """Whether downloads run while the gallery walk still pages and the BIB searches run:
        a real run of the whole gallery. (A photo downloaded before a search found its BIB
        waits in ``_no_bib`` until the searches are done, then moves to its BIB folders.) On a
        root without hard links (FAT, some shares) such a move is a copy: an event with a BIB
        list searches first there, so that every photo is written once."""
        options = self.options
        moves_copy = self.wiring.links == "copy" and bool(self.bibs(event_id))
        return not (
            options.dry_run or options.only or self.windows(event_id) is not None or moves_copy
        )

    def _walk_and_download(
        self, event_id: int, report: EventReport, details: EventDetails, people: list[Person]
    ) -> None:
        """Walk the gallery, then search the BIBs, downloading what is due all along; then the
        people searches; then every photo placed before its BIBs or people were known is put
        into their folders (moved or linked, never downloaded again)."""
        placer = self._placer(event_id, details)
        self._tidy(placer, report)
        self.progress.downloads(event_id, self.coordinator.count_due(event_id))
        with self.planner.gallery_walk(event_id) as walk:
            feed = _EventFeed(
                walk,
                lambda: self.planner.bib_searches(event_id, self.bibs(event_id), details),
                lambda new: self.progress.more_files(event_id, new),
            )
            try:
                self.coordinator.run(placer, report, feed=feed)
            finally:
                feed.close()
        report.due += walk.result.new
        _merge_walk(report, walk.result)
        if self.stop.is_set() or not walk.result.complete or not feed.searched:
            return
        if self.searches is not None:
            report.people = self.searches.run(event_id, people, details)
        placer = self._placer(event_id, details)  # with the BIBs and people just found
        relinked, _ = reconcile(self.ledger, placer, self.downloader)
        report.relinked += relinked
        self._finish_event(placer, people, details, report, walk.result)

    def _placer(self, event_id: int, details: EventDetails) -> Placer:
        """Where the event's photos go, with the people matched so far. The membership version
        is read first: a photo placed while another node's BIB pass or face search changes the
        memberships is checked again once recorded."""
        version = self.ledger.members_version(event_id)
        record = self.ledger.event(event_id) or event_record(event_id, details)
        folders = PeopleFolders(self.wiring.people_template, self.ledger.people_members(event_id))
        return Placer(
            self.root.path,
            self.wiring.template,
            self.wiring.rules,
            record,
            folders,
            members_version=version,
        )

    def _tidy(self, placer: Placer, report: EventReport) -> None:
        """Before downloading: photos whose files went missing are due again (a dry run only
        counts them), files are placed where the ledger now wants them."""
        event_id = placer.event.event_id
        check = self.options.check_files and self.root.path.is_dir()
        gone = gone_from_disk(self.ledger, placer) if check else None
        if gone:
            log.warning(
                "event %d: %d downloaded photos have files missing on disk; %s",
                event_id,
                len(gone),
                "a real run restores them" if self.options.dry_run else "restoring them",
            )
            report.gone_from_disk = len(gone)
            restore_gone(self.ledger, gone)
        if self.options.dry_run:
            return
        relinked, _ = reconcile(self.ledger, placer, self.downloader)
        report.relinked += relinked
        if layout_changed(self.ledger, placer):
            log.warning(
                "event %d: photos are stored in another layout than storage.layout; new ones go "
                "to the new layout: run `syncer relayout --dry-run`, then `syncer relayout`, to "
                "move the others",
                event_id,
            )

    def _finish_event(
        self,
        placer: Placer,
        people: list[Person],
        details: EventDetails,
        report: EventReport,
        walk: WalkResult | None,
    ) -> None:
        """After the downloads: the people's clips, then the photos gone upstream to the trash
        (only after a complete walk of the whole gallery: ``walk`` None for a selection)."""
        self._fetch_clips(placer, people, details, report.people)
        if walk is not None and walk.complete and self.wiring.trash:
            report.trashed = trash_removed(
                self.ledger,
                placer,
                known=walk.seen + walk.missing,
                max_share=self.wiring.trash_max_share,
                today=utcnow(),
            )

    def _fetch_clips(
        self,
        placer: Placer,
        people: Sequence[Person],
        details: EventDetails,
        reports: list[PersonReport],
    ) -> None:
        searched = {report.name: report for report in reports}
        clips, check = self.clips, self.options.check_files  # no clips in a dry run
        for person in people:
            report = searched.get(person.name)
            if clips is None or self.stop.is_set() or not person.clips or report is None:
                continue
            if not clips.run(placer, person, details, report, check_files=check):
                continue  # done, or failed (said in the report)
            if not self._search_again(placer.event.event_id, person, details, report):
                continue
            if clips.run(placer, person, details, report, check_files=check):
                report.error = "clips: 9Pic does not know the selfie search it just made"

    def _search_again(
        self, event_id: int, person: Person, details: EventDetails, report: PersonReport
    ) -> bool:
        """9Pic forgot the search the person's clips start from: search afresh (False, with
        the error in ``report``, when that fails)."""
        again = self.searches.run(event_id, [person], details, fresh=True) if self.searches else []
        if not again or again[0].error is not None:
            report.error = again[0].error if again else "clips: no selfie search to clip from"
            return False
        report.matches += again[0].matches
        return True

    def _plan(
        self, event_id: int, details: EventDetails, people: list[Person], report: EventReport
    ) -> tuple[WalkResult, Scope] | None:
        """Record what exists upstream (the gallery, a window, or the selected photos) and
        say which photos this run takes; None when the event is skipped or the run stopped.

        Only a complete gallery walk may lead to trash or unavailable photos: a window or a
        selection never saw the whole gallery.
        """
        if self.options.only:
            return self._select(event_id, details, people, report)
        window = self.windows(event_id)
        if window is not None:
            planned = self._walk_window(event_id, details, window, report)
        else:
            walk = self.planner.walk(event_id)
            _merge_walk(report, walk)
            if self.stop.is_set():
                return None
            self.planner.search_bibs(event_id, self.bibs(event_id), details)
            planned = walk, EVERY_PHOTO
        if planned is not None and self.searches is not None and not self.stop.is_set():
            report.people = self.searches.run(event_id, people, details)
        return planned

    def _walk_window(
        self, event_id: int, details: EventDetails, window: Window, report: EventReport
    ) -> tuple[WalkResult, Scope] | None:
        if not details.timeline_search:
            self._skip(
                event_id,
                report,
                f"timeline search is disabled for this event; window {window.describe()} "
                "not synced (remove the window to sync the whole gallery)",
            )
            return None
        log.info("event %d: walking the timeline window %s", event_id, window.describe())
        try:
            walk, listed = self.planner.walk_window(event_id, window)
        except WindowIgnoredError as exc:
            self._skip(event_id, report, exc.message)
            return None
        _merge_walk(report, walk)
        if self.stop.is_set():
            return None
        self.planner.search_bibs(event_id, self.bibs(event_id), details)
        return walk, Scope(image_ids=listed, conclusive=False)

    def _select(
        self, event_id: int, details: EventDetails, people: list[Person], report: EventReport
    ) -> tuple[WalkResult, Scope] | None:
        picks: list[tuple[Selector, list[Found]]] = []
        for selector in self._selectors(people, details):
            refused = selector.gate(details)
            if refused is not None:
                self._skip(event_id, report, refused)
                continue
            found = selector.find(event_id)
            if self.stop.is_set():
                return None
            picks.append((selector, found))
            report.seen += sum(len(one.image_ids) for one in found)
            if isinstance(selector, SelfieSelector):
                report.people = selector.reports
        if not picks:
            return None
        return WalkResult(), selection_scope(self.planner.api, picks)

    def _selectors(self, people: list[Person], details: EventDetails) -> list[Selector]:
        """The selections of an ``--only`` run (one method each)."""
        selectors: list[Selector] = []
        if self.options.people and self.searches is not None:  # --selfie given
            selectors.append(SelfieSelector(self.searches, people, details))
        if self.options.bibs:
            selectors.append(
                BibSelector(
                    self.planner.api,
                    self.ledger,
                    self.options.bibs,
                    clock=utcnow,
                    stop=self.stop,
                    threads=self.wiring.api_threads,
                    on_bibs=self.progress.bibs,
                )
            )
        return selectors

    def _skip(self, event_id: int, report: EventReport, reason: str) -> None:
        report.error = reason
        log.error("event %d skipped: %s", event_id, reason)

    def _concurrency(self, downloads: int) -> None:
        """Called by the coordinator (the ledger's thread) when the target changed."""
        if self.run_id is not None:
            self.ledger.record_concurrency(self.run_id, downloads)
        self.progress.concurrency(downloads)

    def _workers(self) -> Workers:
        return ThreadWorkers(self.downloader, self.gate)


class _EventFeed:
    """What an event's walk, then its BIB searches, add to the ledger while the downloads run:
    new photos (``more`` is told how many each step found), then their BIBs."""

    def __init__(
        self,
        walk: GalleryWalk,
        searches: Callable[[], BibSearches],
        more: Callable[[int], None],
    ) -> None:
        self._walk = walk
        self._searches_for = searches
        self._more = more
        self._searches: BibSearches | None = None
        self._wake: Callable[[], None] | None = None
        self.searched = False  # the BIB searches ran to their end

    @property
    def progress(self) -> int:
        return self._walk.progress

    def notify(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._walk.notify(wake)

    def pull(self, timeout: float = 0.0) -> bool:
        if self._searches is None:
            before = self._walk.result.new
            alive = self._walk.pull(timeout)
            if self._walk.result.new > before:
                self._more(self._walk.result.new - before)
            if alive or not self._walk.result.complete:
                return alive  # paging, or stopped
            self._searches = self._searches_for()  # which BIBs: known once the walk is done
            if self._wake is not None:
                self._searches.notify(self._wake)
            timeout = 0.0  # the walk's wait is spent
        if self._searches.pull(timeout):
            return True
        self.searched = True
        return False

    def close(self) -> None:
        self._walk.close()
        if self._searches is not None:
            self._searches.close()


def _merge_walk(report: EventReport, walk: WalkResult) -> None:
    report.pages, report.seen, report.new = walk.pages, walk.seen, walk.new
