"""argv -> settings -> one use case -> exit code. Logging and progress bars live only here."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncer import __version__
from syncer.errors import ConfigError, SyncerError

if TYPE_CHECKING:
    from syncer.logs import RedactFilter

log = logging.getLogger("syncer.cli")

EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # what a shell reports for a command killed by SIGPIPE
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncer", description="Mirror 9Pic event photo originals onto your own storage."
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    _global_flags(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sync = _command(sub, "sync", help="download every new photo of the events once")
    sync.add_argument(
        "--event",
        type=int,
        action="append",
        metavar="ID",
        help="event id (repeatable; default: the events in the config)",
    )
    sync.add_argument(
        "--bibs",
        metavar="SPEC",
        help='BIBs to sort by, e.g. "1-500,A-17" or "@participants.csv"; "none": no BIB folders',
    )
    sync.add_argument(
        "--selfie",
        type=Path,
        action="append",
        metavar="PATH",
        help="a person's selfie: their photos go to their own folder (repeatable; overrides "
        "the events' configured people)",
    )
    sync.add_argument(
        "--person",
        action="append",
        metavar="NAME",
        help="the name of the person of the --selfie in the same position (default: the "
        "selfie file's name without its extension)",
    )
    sync.add_argument(
        "--clips", action="store_true", help="also fetch each person's video clips (Motion)"
    )
    sync.add_argument(
        "--only",
        action="store_true",
        help="download only the photos of the --bibs given (no gallery walk; never trashes)",
    )
    sync.add_argument(
        "--from",
        dest="window_from",
        metavar="WHEN",
        help="walk only photos captured from WHEN on (ISO 8601 with offset, or a UTC date)",
    )
    sync.add_argument(
        "--until",
        dest="window_until",
        metavar="WHEN",
        help="... and before WHEN (a date: to the end of that UTC day)",
    )
    sync.add_argument("--root", type=Path, help="photo root (overrides storage.root)")
    sync.add_argument(
        "--workers",
        type=int,
        help="downloads at once, pinned (default: adaptive; sets download.workers)",
    )
    sync.add_argument("--dry-run", action="store_true", help="list what would be downloaded")
    sync.add_argument(
        "--check-files",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check that downloaded photos' files are still on disk and fetch missing ones "
        "again (default: yes; the daemon does it every schedule.files_interval)",
    )
    sync.add_argument(
        "--retry-failed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="try failed photos again now, whatever their delay (default: yes; the daemon "
        "waits for each photo's delay)",
    )
    _output_flags(sync, progress=True)

    events = _command(sub, "events", help="list the organisation's events")
    _output_flags(events)
    timeline = _command(sub, "timeline", help="an event's photos per UTC day and hour")
    timeline.add_argument("--event", type=int, required=True, metavar="ID")
    _output_flags(timeline)
    status = _command(sub, "status", help="what the ledger knows, per event")
    status.add_argument("--event", type=int, action="append", metavar="ID")
    _output_flags(status)
    verify = _command(sub, "verify", help="re-hash stored photos against the ledger")
    verify.add_argument("--event", type=int, metavar="ID")
    verify.add_argument("--repair", action="store_true", help="re-queue missing or corrupt photos")
    verify.add_argument(
        "--sync",
        action="store_true",
        help="repair, then download what was re-queued right away (implies --repair)",
    )
    _output_flags(verify, progress=True)

    relayout = _command(sub, "relayout", help="move stored photos into the current storage.layout")
    relayout.add_argument("--event", type=int, action="append", metavar="ID")
    relayout.add_argument("--dry-run", action="store_true", help="list the moves, make none")
    _output_flags(relayout)

    db = _command(sub, "db", help="ledger maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _command(db_sub, "upgrade", help="create or migrate the ledger to the newest schema")
    config = _command(sub, "config", help="settings")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = _command(
        config_sub,
        "check",
        help="show the effective settings (secrets masked), where each came from, "
        "and what a sync still needs",
    )
    check.add_argument("--json", action="store_true")

    daemon = _command(sub, "daemon", help="run as a service: sync on a schedule")
    daemon.add_argument(
        "--health",
        metavar="HOST:PORT",
        help="serve /healthz and /metrics (overrides health.listen)",
    )
    demo = _command(sub, "demo", help="sync a demo event from the bundled simulator")
    demo.add_argument("dir", nargs="?", type=Path, default=Path("syncer-demo"))
    demo.add_argument("--photos", type=int, default=120, help="photos in the demo event")
    demo.add_argument(
        "--port", type=int, default=8903, help="the simulator's port, as `syncer simulate` uses"
    )
    _output_flags(demo, progress=True)
    sub.add_parser(
        "simulate", help="run the bundled 9Pic simulator (see: syncer simulate -h)", add_help=False
    )
    return parser


def _global_flags(parser: argparse.ArgumentParser, **extra: Any) -> None:
    """--config, --log-format, --log-level, -v, -q: accepted before and after the command.

    The copies on each command use ``default=SUPPRESS``, so a flag given before the command is
    kept unless it is given again after it (the later one wins).
    """
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="settings file (default: $SYNCER_CONFIG, ./syncer.toml, "
        "$XDG_CONFIG_HOME/syncer/config.toml, /etc/syncer/config.toml)",
        **extra,
    )
    parser.add_argument("--log-format", choices=("text", "json"), help="log line format", **extra)
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="least important level logged (overrides log.level)",
        **extra,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const="debug",
        help="same as --log-level debug",
        **extra,
    )
    parser.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const="warning",
        help="same as --log-level warning: only warnings and errors",
        **extra,
    )


def _command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    _global_flags(command, default=argparse.SUPPRESS)
    return command


def _output_flags(parser: argparse.ArgumentParser, *, progress: bool = False) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["simulate"]:
        from syncer.sim.cli import main as simulate

        return simulate(args_list[1:])
    args = build_parser().parse_args(args_list)
    _quiet_signals()
    from syncer.logs import setup_logging

    redact = setup_logging(args.log_format or "text", args.log_level or "info")
    started = datetime.now(UTC)
    try:
        return _dispatch(args, redact)
    except SyncerError as exc:
        _report_error(exc)
        if args.command == "sync" and args.json:
            try:
                _emit_failed_run(exc, started, args.dry_run)
            except BrokenPipeError:  # the reader left; the failure's own code still tells
                _discard_output()
        return exc.exit_code
    except KeyboardInterrupt:
        print("syncer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `syncer status | head`: the reader has what it wanted
        _discard_output()
        return EXIT_PIPE_CLOSED
    except Exception as exc:  # a bug: one line for the user, the traceback for the report
        log.debug("internal error", exc_info=True)
        print(
            f"syncer: internal error: {type(exc).__name__}: {exc} "
            "(run with --log-level debug for details)",
            file=sys.stderr,
        )
        return 1


def _emit_failed_run(exc: SyncerError, started: datetime, dry_run: bool) -> None:
    """`sync --json` that fails outright still prints its summary object, with the error."""
    from syncer.cli.output import cycle_dict, emit_json
    from syncer.report import CycleReport

    report = CycleReport(started_at=started, ended_at=datetime.now(UTC), dry_run=dry_run)
    emit_json({**cycle_dict(report), "exit_code": exc.exit_code, "error": exc.message})


def _discard_output() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _quiet_signals() -> None:
    """A full file-size limit must surface as EFBIG (a clear error), not kill the process."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _report_error(exc: SyncerError) -> None:
    print(f"syncer: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"syncer: hint: {exc.hint}", file=sys.stderr)


def _dispatch(args: argparse.Namespace, redact: RedactFilter) -> int:
    from syncer.cli import commands

    if args.command == "demo":
        from syncer.cli.demo import run_demo

        return run_demo(args)
    settings = commands.load(args)
    if settings.api.key is not None:
        redact.secrets.append(settings.api.key.get_secret_value())
    from syncer.logs import setup_logging

    setup_logging(settings.log.format, settings.log.level, secrets=redact.secrets)
    log.debug(
        "settings from %s; ledger %s",
        settings.source_path or "defaults and environment",
        settings.storage.ledger,
    )
    handler = {
        "sync": commands.sync,
        "events": commands.events,
        "timeline": commands.timeline,
        "status": commands.status,
        "verify": commands.verify,
        "relayout": commands.relayout,
        "db": commands.db,
        "config": commands.config,
        "daemon": commands.daemon,
    }.get(args.command)
    if handler is None:
        raise ConfigError(f"unknown command {args.command}")
    return int(handler(args, settings))


class StopSignals:
    """SIGTERM/SIGINT: stop taking new work; a second one abandons files in flight at once.

    ``exit_code`` is what a stopped run exits with: 128 + the first signal's number (130 for
    Ctrl-C, 143 for SIGTERM), as a shell reports a process the signal ended.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.exit_code = EXIT_INTERRUPTED
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.exit_code = 128 + signum
        log.warning(
            "received %s: finishing files in flight, then stopping (again to abandon them)",
            signal.Signals(signum).name,
        )
        self.stop.set()


def stop_on_signals(stop: threading.Event) -> StopSignals:
    """Install :class:`StopSignals` for ``stop``."""
    return StopSignals(stop)
