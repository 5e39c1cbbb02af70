"""One function per command: settings in, exit code out."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncer.bibs import parse_bib_spec
from syncer.cli.output import (
    cycle_dict,
    emit_json,
    print_cycle,
    print_missing,
    print_relayout,
    print_settings,
    print_status,
    print_timeline,
    print_verify,
    status_dicts,
    verify_dict,
)
from syncer.cli.progress import BarProgress, LogProgress, logs_above_bars
from syncer.config import Settings, load_settings, masked_settings
from syncer.errors import ConfigError, SyncerError, UsageError
from syncer.selfies import Person, read_person, unique_people
from syncer.sync import CycleOptions, run_cycle
from syncer.windows import Window, parse_bound

if TYPE_CHECKING:
    from syncer.metrics import Metrics
    from syncer.report import CycleReport
    from syncer.verify import VerifyReport

log = logging.getLogger("syncer.cli")


def load(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "root", None) is not None:
        overrides.setdefault("storage", {})["root"] = str(args.root)
    if getattr(args, "workers", None) is not None:
        overrides.setdefault("download", {})["workers"] = args.workers
    if getattr(args, "health", None) is not None:
        overrides.setdefault("health", {})["listen"] = args.health
    if args.log_format is not None:
        overrides.setdefault("log", {})["format"] = args.log_format
    if args.log_level is not None:
        overrides.setdefault("log", {})["level"] = args.log_level
    return load_settings(config_path=args.config, overrides=overrides)


def sync(args: argparse.Namespace, settings: Settings) -> int:
    window = _window_flags(args.window_from, args.window_until)
    _check_only(args, window)
    bibs = _bibs_flag(args.bibs, settings)
    people = _people_flags(args.selfie, args.person, settings)
    if args.only and not bibs and not people:
        raise UsageError(ONLY_NEEDS_SELECTION)
    _check_ledger_reachable(settings, write=not args.dry_run)
    options = CycleOptions(
        event_ids=args.event,
        bibs=bibs,
        dry_run=args.dry_run,
        retry_failed=args.retry_failed,
        check_files=args.check_files,
        people=people,
        clips=args.clips,
        only=args.only,
        window=window,
    )
    report, exit_code = _run_sync(args, settings, options)
    if args.json:
        emit_json(cycle_dict(report))
    else:
        print_cycle(report)
    return exit_code


def _window_flags(start: str | None, end: str | None) -> Window | None:
    """--from / --until: a timeline window, or None; a bad one is one line (exit 2)."""
    if start is None and end is None:
        return None
    bounds = [
        _bound(flag, text, end=flag == "--until")
        for flag, text in (("--from", start), ("--until", end))
    ]
    try:
        return Window(*bounds)
    except ValueError as exc:
        raise UsageError(f"--from/--until: {exc}") from None


def _bound(flag: str, text: str | None, *, end: bool) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_bound(text, end=end)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _check_only(args: argparse.Namespace, window: Window | None) -> None:
    if not args.only:
        return
    if window is not None:
        raise UsageError("--only cannot go with --from/--until: sync a BIB selection or a window")
    if args.bibs is None and not args.selfie:
        raise UsageError(ONLY_NEEDS_SELECTION)


ONLY_NEEDS_SELECTION = "--only needs a selection: --bibs SPEC (e.g. --bibs 1234) or --selfie PATH"


def _run_sync(
    args: argparse.Namespace, settings: Settings, options: CycleOptions
) -> tuple[CycleReport, int]:
    """One cycle as ``syncer sync`` runs it: signals stop it cleanly, progress shown.

    Returns the report and the exit code: 128 + the signal's number when a signal stopped it.
    """
    from syncer.cli import stop_on_signals

    stop = threading.Event()
    signals = stop_on_signals(stop)
    report = run_with_progress(args, settings, options, stop)
    return report, signals.exit_code if report.interrupted else report.exit_code


def _check_ledger_reachable(settings: Settings, *, write: bool) -> None:
    """A ledger this user cannot reach: one line (exit 74) before any other step."""
    from syncer.ledger.engine import reachable, resolve_target

    path = resolve_target(settings.storage.ledger).path
    if path is not None:
        reachable(path, write=write)


def _bibs_flag(spec: str | None, settings: Settings) -> list[str] | None:
    """--bibs: a spec, or "none" for no BIB folders on purpose; an empty spec is a mistake."""
    if spec is None:
        return None
    if not spec.strip():
        raise ConfigError(
            "--bibs: empty BIB spec (an unset shell variable?); pass --bibs none to sort no BIBs"
        )
    if spec.strip().lower() == "none":
        return []
    return parse_bib_spec(spec, base_dir=settings.base_dir)


def _people_flags(
    selfies: list[Path] | None, names: list[str] | None, settings: Settings
) -> list[Person] | None:
    """--selfie PATH [--person NAME] pairs, by position; each selfie read and checked now."""
    if not selfies:
        if names:
            raise UsageError("--person names the person of a --selfie: pass --selfie PATH too")
        return None
    names = names or []
    if len(names) > len(selfies):
        raise UsageError(f"{len(names)} --person names for {len(selfies)} --selfie files")
    people = [
        read_person(
            names[index] if index < len(names) else None,
            path,
            clips=False,
            max_bytes=settings.people.max_selfie_size,
            where="--selfie",
        )
        for index, path in enumerate(selfies)
    ]
    return unique_people(people)


def run_with_progress(
    args: argparse.Namespace, settings: Settings, options: CycleOptions, stop: threading.Event
) -> CycleReport:
    """One cycle with bars on a terminal (log lines above them), else progress log lines."""
    if getattr(args, "no_progress", False) or args.json or not sys.stderr.isatty():
        progress = LogProgress(settings.log.progress_interval)
        return run_cycle(settings, options, stop=stop, progress=progress)
    bars = BarProgress(sys.stderr)
    try:
        with logs_above_bars(sys.stderr):
            return run_cycle(settings, options, stop=stop, progress=bars)
    finally:
        bars.close()


def events(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.wiring import api_client

    with api_client(settings) as api:
        items = list(api.events())
    if args.json:
        emit_json([item.model_dump() for item in items])
        return 0
    for item in items:
        print(
            f"{item.event_id}\t{item.status or '-'}\t{item.event_date or '-'}\t"
            f"{item.event_slug or '-'}\t{item.event_name or ''}"
        )
    return 0


def timeline(args: argparse.Namespace, settings: Settings) -> int:
    """An event's photo counts per UTC day and hour: a text histogram, or ``--json``."""
    from syncer.sync import refuse_foreign
    from syncer.wiring import api_client

    with api_client(settings) as api:
        refuse_foreign(api, settings, [args.event])
        details = api.event_details(args.event)
        if not details.timeline_search:
            raise ConfigError(
                f"event {args.event}: timeline search is disabled for this event "
                "(its timeline_search flag is off)"
            )
        days = [day.model_dump(mode="json") for day in api.timeline_days(args.event)]
    if args.json:
        emit_json(days)
    else:
        print_timeline(args.event, days)
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.status import event_status
    from syncer.wiring import ledger_exists, open_ledger

    if not ledger_exists(settings):  # nothing synced yet: create nothing either
        if args.json:
            emit_json([])
        else:
            print(f"no ledger at {settings.storage.ledger} yet: run `syncer sync` first")
        return 0
    with open_ledger(settings, write=False, create=False) as ledger:
        rows = event_status(
            ledger,
            args.event,
            root=settings.storage.root,
            template=settings.storage.template,
            rules=settings.storage.name_rules,
        )
        nodes = ledger.nodes(datetime.now(UTC))
    if args.json:
        emit_json(status_dicts(rows, nodes))
    else:
        print_status(rows, nodes)
    return 0


def verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the archive; ``--repair`` re-queues bad photos, ``--sync`` also downloads them."""
    report = _verify(settings, args.event, repair=args.repair or args.sync)
    synced = None
    if args.sync and (report.requeued or report.clips_requeued):
        event_ids = [args.event] if args.event is not None else None
        synced, exit_code = _run_sync(
            args, settings, CycleOptions(event_ids=event_ids, retry_failed=True)
        )
    if args.json:
        emit_json(verify_dict(report, synced))
    else:
        print_verify(report, sync_follows=args.sync)
        if synced is not None:
            print_cycle(synced)
    if synced is not None:
        return exit_code
    return report.exit_code


def _verify(settings: Settings, event_id: int | None, *, repair: bool) -> VerifyReport:
    from syncer.status import check_known
    from syncer.verify import verify as run_verify
    from syncer.wiring import open_ledger

    with open_ledger(settings, write=repair, create=False) as ledger:
        if event_id is not None:
            check_known([event_id], ledger.event_ids())
        return run_verify(ledger, settings.require_root(), event_id=event_id, repair=repair)


def relayout(args: argparse.Namespace, settings: Settings) -> int:
    """Move stored photos into the current layout (``--dry-run``: list the moves only)."""
    from syncer.relayout import relayout as run_relayout

    reports = run_relayout(settings, args.event, dry_run=args.dry_run)
    if args.json:
        emit_json([asdict(report) for report in reports])
    else:
        print_relayout(reports, dry_run=args.dry_run)
    return 0


def db(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.ledger import Ledger
    from syncer.ledger.engine import resolve_target

    label = resolve_target(settings.storage.ledger).label  # a URL's password stays hidden
    before, after = Ledger.upgrade(settings.storage.ledger)
    if before == after:
        print(f"ledger {label} is at the newest schema ({after})")
    else:
        print(f"ledger {label} migrated from {before or 'empty'} to {after}")
    return 0


def config(args: argparse.Namespace, settings: Settings) -> int:
    """The effective settings, where each came from, and what a sync still needs (78)."""
    data = masked_settings(settings)
    missing = settings.missing_for_sync()
    if args.json:
        origins = {key: settings.origin(key) for key in _keys(data)}
        emit_json({**data, "origins": origins, "missing": missing})
    else:
        print_settings(data, settings.origin, settings.source_path)
        print_missing(missing)
    if missing:
        what = "; ".join(missing) if args.json else f"{len(missing)} missing (listed above)"
        print(f"syncer: error: config: a sync cannot run yet: {what}", file=sys.stderr)
        return ConfigError.exit_code
    return 0


def _keys(data: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for section, value in data.items():
        if isinstance(value, dict):
            keys.extend(f"{section}.{key}" for key in value)
        else:
            keys.append(section)
    return keys


def daemon(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.daemon import run_daemon
    from syncer.metrics import Metrics

    # What every cycle needs is checked once, at start: a missing key, organisation or root
    # exits 78 (a configuration error systemd does not restart) instead of failing each cycle.
    settings.require_org()
    settings.require_key()
    settings.require_root()

    metrics = Metrics()

    def cycle(current: Settings, event_ids: Any, stop: threading.Event, files: bool) -> Any:
        options = CycleOptions(event_ids=event_ids, kind="daemon-cycle", check_files=files)
        try:
            progress = LogProgress(
                current.log.progress_interval, on_concurrency=metrics.set_concurrency
            )
            return run_cycle(
                current, options, stop=stop, observer=metrics.observe_api, progress=progress
            )
        finally:
            _publish_states(current, metrics)

    def verify(current: Settings, stop: threading.Event) -> None:
        try:
            _scheduled_verify(current, stop)
        finally:
            _publish_states(current, metrics)

    def reload() -> Settings:
        fresh = load(args)
        if fresh.storage.ledger != settings.storage.ledger:
            raise ConfigError("storage.ledger cannot change while the daemon runs; restart it")
        return fresh

    first = [settings]

    def loader() -> Settings:
        return first.pop() if first else reload()

    return run_daemon(loader, cycle, verify=verify, env=dict(os.environ), metrics=metrics)


def _scheduled_verify(settings: Settings, stop: threading.Event) -> None:
    """Bit-rot check of the whole archive; bad files are set aside and fetched again."""
    from syncer.verify import verify as run_verify
    from syncer.wiring import open_ledger

    with open_ledger(settings) as ledger:
        report = run_verify(ledger, settings.require_root(), repair=True, stop=stop)
    level = logging.WARNING if report.missing or report.corrupt else logging.INFO
    log.log(
        level,
        "verify: %d photos checked, %d missing, %d corrupt, %d queued again",
        report.photos,
        len(report.missing),
        len(report.corrupt),
        report.requeued,
    )


def _publish_states(settings: Settings, metrics: Metrics) -> None:
    """Photo counts by state for /metrics; a ledger that cannot be read leaves them as they were."""
    from syncer.ledger import Ledger

    try:
        with Ledger.open(settings.storage.ledger, create=False) as ledger:
            metrics.set_states(ledger.counts_by_state())
    except SyncerError as exc:
        log.debug("photo counts not published: %s", exc.message)
