"""One sync cycle: choose the events, walk them, download what is due, report.

An existing ledger is locked and checked before the first API call (a second syncer or a
broken ledger is told at once); a new one, like the root and its marker, is created only after
9Pic has answered: a wrong key or an unreachable API leaves the disk as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta

from syncer.api import ApiClient, Observer, StorageClient
from syncer.config import Settings
from syncer.cycle import Cycle, CycleOptions, Progress, key_is_dead
from syncer.downloader import Downloader
from syncer.errors import AuthError, ConfigError, NotFoundError
from syncer.ledger import Ledger
from syncer.planner import utcnow
from syncer.report import CycleReport
from syncer.root import RootInfo, check_free_space, clean_temp, prepare_root
from syncer.selfies import Person, read_person, unique_people
from syncer.windows import Window
from syncer.wiring import CycleWiring, api_client, ledger_exists, ledger_snapshot, open_ledger

log = logging.getLogger("syncer.sync")


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
    report = CycleReport(started_at=utcnow(), dry_run=options.dry_run)
    people = people_source(settings, options)  # every selfie read and checked before a call
    with ExitStack() as stack:
        # a missing key raises here: nothing made yet
        api = stack.enter_context(api_client(settings, observer, patient=options.patient))
        opening = ledger_snapshot(settings) if options.dry_run else open_ledger(settings)
        exists = ledger_exists(settings, write=not options.dry_run)
        ledger = stack.enter_context(opening) if exists else None
        event_ids = choose_events(api, settings, options)  # 9Pic answers before a file is made
        ledger = ledger or stack.enter_context(opening)
        if not options.dry_run:  # a node among others on a shared ledger
            lease = timedelta(seconds=settings.node.lease)
            stack.enter_context(ledger.joined(settings.node.name, lease, utcnow()))
        root = _prepare(settings, ledger, create=not options.dry_run)
        wiring = CycleWiring.build(settings, None if options.dry_run else root)
        connections = wiring.tuning.concurrency.maximum
        storage = stack.enter_context(
            StorageClient(timeout=wiring.timeout, max_connections=connections)
        )
        downloader = Downloader(
            storage,
            root.temp_dir,
            fsync=wiring.fsync,
            direct=wiring.direct_io,
            links=wiring.links,
            stop=stop,
        )
        bibs = _bib_source(settings, options)
        windows = _window_source(settings, options)
        cycle = Cycle(wiring, options, ledger, api, downloader, root, stop, progress, bibs, windows)
        cycle.add_people(settings, people, storage)
        run_id = cycle.run_id = ledger.start_run(options.kind, event_ids, utcnow())
        try:
            cycle.run(report, event_ids)
        finally:
            report.ended_at = utcnow()
            report.interrupted = stop.is_set()
            ledger.finish_run(run_id, report.ended_at, report.counts(), report.exit_code)
    return report


def choose_events(api: ApiClient, settings: Settings, options: CycleOptions) -> list[int]:
    """The events of this cycle: asked for, configured, or all of the org's active ones.

    Named events are pinged first, so a wrong key (77) or an event of another organisation
    (78) is told before anything is created.
    """
    if options.event_ids:
        wanted = list(dict.fromkeys(options.event_ids))
    else:
        configured = settings.event_ids()
        if configured is None:
            return [e.event_id for e in api.events() if (e.status or "active") == "active"]
        if not configured:
            raise ConfigError("no events to sync: pass --event ID or add [[events]] to the config")
        wanted = configured
    refuse_foreign(api, settings, wanted)
    return wanted


def refuse_foreign(api: ApiClient, settings: Settings, event_ids: Sequence[int]) -> None:
    """ConfigError (exit 78) naming the events 9Pic refuses while it takes the key: events of
    another organisation, or mistyped ids; AuthError (77) when the key itself is refused."""
    foreign = [event_id for event_id in event_ids if not _reachable(api, event_id)]
    if foreign:
        listed = ", ".join(map(str, foreign))
        raise ConfigError(
            f"event {listed} is not one of organisation {settings.require_org()}'s events",
            hint="`syncer events` lists the organisation's events",
        )


def _reachable(api: ApiClient, event_id: int) -> bool:
    """Ping one event: False when 9Pic refuses it but not the key (another org's event)."""
    try:
        api.ping(event_id)
    except NotFoundError:
        return True  # the org's, without configuration: reported when the event is synced
    except AuthError:
        if key_is_dead(api):
            raise
        return False
    return True


def _prepare(settings: Settings, ledger: Ledger, *, create: bool) -> RootInfo:
    """Check the root (creating it on first use); clear what an interrupted run left."""
    root = prepare_root(
        settings.require_root(),
        first_use=not ledger.has_downloads(),
        require_marker=settings.storage.require_marker,
        create=create,
        node=settings.node.name,
    )
    if create:
        removed = clean_temp(root.temp_dir)
        if removed:
            log.info("removed %d temp files left by an interrupted run", removed)
    if root.path.is_dir():
        check_free_space(root.path, settings.storage.min_free)
    return root


def people_source(settings: Settings, options: CycleOptions) -> Callable[[int], list[Person]]:
    """The people of each event, their selfies read and checked now (one line, 78, if bad)."""
    if options.people is not None:
        chosen = [replace(p, clips=p.clips or options.clips) for p in options.people]
        return lambda _event_id: chosen
    configured: dict[int, list[Person]] = {}
    for event_id in settings.event_ids() or ():
        configured[event_id] = unique_people(
            [
                read_person(
                    entry.name,
                    settings.base_dir / entry.selfie,  # an absolute selfie path stays as it is
                    clips=entry.clips or options.clips,
                    max_bytes=settings.people.max_selfie_size,
                    where=f"event {event_id}",
                )
                for entry in settings.people_for(event_id)
            ]
        )
    return lambda event_id: configured.get(event_id, [])


def _bib_source(settings: Settings, options: CycleOptions) -> Callable[[int], list[str]]:
    if options.bibs is not None:
        chosen = list(options.bibs)
        return lambda _event_id: chosen
    return settings.bibs_for


def _window_source(settings: Settings, options: CycleOptions) -> Callable[[int], Window | None]:
    if options.window is not None:
        chosen = options.window
        return lambda _event_id: chosen
    return settings.window_for


__all__ = ["CycleOptions", "Progress", "choose_events", "run_cycle"]
