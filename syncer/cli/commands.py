"""One function per command: settings in, exit code out."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from syncer.bibs import parse_bib_spec
from syncer.cli.output import (
    cycle_dict,
    emit_json,
    print_cycle,
    print_missing,
    print_settings,
    print_status,
    print_verify,
    status_dicts,
)
from syncer.cli.progress import BarProgress, LogProgress, logs_above_bars
from syncer.config import Settings, load_settings, masked_settings
from syncer.errors import ConfigError, SyncerError
from syncer.sync import CycleOptions, run_cycle

if TYPE_CHECKING:
    from syncer.metrics import Metrics
    from syncer.report import CycleReport

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
    from syncer.cli import stop_on_signals

    bibs = _bibs_flag(args.bibs, settings)
    _check_ledger_reachable(settings, write=not args.dry_run)
    stop = threading.Event()
    stop_on_signals(stop)
    options = CycleOptions(event_ids=args.event, bibs=bibs, dry_run=args.dry_run)
    report = run_with_progress(args, settings, options, stop)
    if args.json:
        emit_json(cycle_dict(report))
    else:
        print_cycle(report)
    return report.exit_code


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
    from syncer.api import ApiClient

    with ApiClient(
        base_url=settings.api.base_url,
        org_id=settings.require_org(),
        api_key=settings.require_key(),
        timeout=settings.api.timeout,
    ) as api:
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


def status(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.ledger import Ledger

    with Ledger.open(settings.storage.ledger) as ledger:
        rows = ledger.status(None)
    if args.event:
        rows = [row for row in rows if row.event_id in args.event]
    if args.json:
        emit_json(status_dicts(rows))
    else:
        print_status(rows)
    return 0


def verify(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.ledger import Ledger
    from syncer.lock import InstanceLock, lock_path_for
    from syncer.verify import verify as run_verify

    lock_path = lock_path_for(settings.storage.ledger)
    lock = InstanceLock(lock_path) if (args.repair and lock_path is not None) else None
    if lock is not None:
        lock.acquire()
    try:
        with Ledger.open(settings.storage.ledger) as ledger:
            report = run_verify(
                ledger, settings.require_root(), event_id=args.event, repair=args.repair
            )
    finally:
        if lock is not None:
            lock.release()
    if args.json:
        emit_json(
            {
                "photos": report.photos,
                "files": report.files,
                "bytes": report.bytes,
                "missing": report.missing,
                "corrupt": report.corrupt,
                "requeued": report.requeued,
            }
        )
    else:
        print_verify(report)
    return report.exit_code


def db(args: argparse.Namespace, settings: Settings) -> int:
    from syncer.ledger import Ledger

    before, after = Ledger.upgrade(settings.storage.ledger)
    if before == after:
        print(f"ledger {settings.storage.ledger} is at the newest schema ({after})")
    else:
        print(f"ledger {settings.storage.ledger} migrated from {before or 'empty'} to {after}")
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

    metrics = Metrics()

    verified_at = [time.monotonic()]

    def cycle(current: Settings, event_ids: Any, stop: threading.Event) -> Any:
        options = CycleOptions(event_ids=event_ids, kind="daemon-cycle")
        try:
            progress = LogProgress(current.log.progress_interval)
            report = run_cycle(
                current, options, stop=stop, observer=metrics.observe_api, progress=progress
            )
            every = current.schedule.verify_interval
            if every > 0 and time.monotonic() - verified_at[0] >= every and not stop.is_set():
                verified_at[0] = time.monotonic()
                _scheduled_verify(current, stop)
            return report
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

    return run_daemon(loader, cycle, env=dict(os.environ), metrics=metrics)


def _scheduled_verify(settings: Settings, stop: threading.Event) -> None:
    """Bit-rot check of the whole archive; bad files are set aside and fetched again."""
    from syncer.ledger import Ledger
    from syncer.lock import InstanceLock, lock_path_for
    from syncer.verify import verify as run_verify

    lock_path = lock_path_for(settings.storage.ledger)
    with contextlib.ExitStack() as stack:
        if lock_path is not None:
            stack.enter_context(InstanceLock(lock_path))
        ledger = stack.enter_context(Ledger.open(settings.storage.ledger))
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
