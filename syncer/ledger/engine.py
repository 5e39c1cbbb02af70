"""Where the ledger lives and how we talk to it: target resolution, private files, engines.

Everything SQLite-specific (PRAGMAs, explicit ``BEGIN``, read-only inspection of an existing
file) is confined to this module; the repository code above it is portable Core.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from syncer.errors import ConfigError, DiskFullError, LedgerError, LedgerUnavailableError, denied
from syncer.private_paths import open_private_file

if TYPE_CHECKING:  # PostgreSQL support loads only for a PostgreSQL ledger (saves ~30 ms)
    from sqlalchemy.dialects import postgresql

# synchronous=NORMAL in WAL mode: a crash of the process never loses a commit, and a power
# loss can only lose the last few. That is safe here because the ledger never runs ahead of
# the disk: photo files (and their folders) are fsynced before their rows are committed, and a
# file that is in place but not yet recorded is adopted (hashed, not fetched) on the next run.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
WRITE_OPTION = "syncer_ledger_write"  # execution option: start the transaction IMMEDIATE

# A server that refuses who we are or what we ask for: the settings must change (exit 78).
# libpq reports these while connecting, as text without an SQLSTATE.
REFUSED_ACCESS = (
    "authentication failed",
    "no password supplied",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
)
# SQLSTATE classes and codes of a server that is away for now: try again later (exit 75).
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


@dataclass(frozen=True)
class LedgerTarget:
    """A resolved ledger location: an SQLAlchemy URL and, for an SQLite file, its path."""

    url: URL
    path: Path | None

    @property
    def label(self) -> str:
        """How the ledger is named in messages (never shows a password)."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)


def resolve_target(target: str | Path) -> LedgerTarget:
    """Turn a filesystem path or an SQLAlchemy URL into a :class:`LedgerTarget`."""
    if isinstance(target, str) and "://" in target:
        try:
            url = make_url(target)
        except ArgumentError as exc:
            raise LedgerError(f"ledger URL {target!r} is not valid: {exc}") from exc
        return LedgerTarget(url, sqlite_file(url))
    if not str(target):
        raise LedgerError("ledger path is empty")
    path = Path(target).expanduser().absolute()
    return LedgerTarget(URL.create("sqlite", database=str(path)), path)


def sqlite_file(url: URL) -> Path | None:
    """The database file of an SQLite URL; None for other dialects and in-memory databases."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(database).expanduser().absolute()


def prepare_file(path: Path, *, create: bool) -> None:
    """Make sure ``path`` exists as a private file (0600) in private new directories (0700)."""
    if reachable(path):
        if not path.is_file():
            raise LedgerError(f"ledger {path} is not a regular file")
        return
    if not create:
        raise LedgerError(f"ledger {path} does not exist", hint="run a sync first to create it")
    try:
        fd = open_private_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    except OSError as exc:
        raise LedgerError(f"ledger {path} cannot be created: {exc.strerror or exc}") from exc
    os.close(fd)


def reachable(path: Path, *, write: bool = True) -> bool:
    """Whether ``path`` exists; LedgerError (one line: the folder or file, and the fix) when a
    folder on the way cannot be entered or the file cannot be read (and written)."""
    try:
        exists = path.exists()
    except PermissionError:
        raise LedgerError(f"ledger {path}: {denied(path)}") from None
    mode = os.R_OK | (os.W_OK if write else 0)
    if exists and path.is_file() and not os.access(path, mode):
        need = "read and write" if write else "read"
        raise LedgerError(f"ledger {path}: {denied(path, need)}")
    return exists


@contextmanager
def private_umask() -> Iterator[None]:
    """Files created meanwhile (SQLite's -wal and -shm) are readable by the owner only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


KEPT_ENGINES = 8  # ledgers whose engine a process keeps between two openings


def create_ledger_engine(target: LedgerTarget) -> Engine:
    """The engine the ledger works with: PRAGMAs on every SQLite connection, real transactions.
    Pair it with :func:`release_ledger_engine`.

    One engine per ledger for the life of the process (the last ``KEPT_ENGINES`` ledgers): a
    daemon opens its ledger every cycle, and an engine keeps the SQL it has compiled, which a
    new engine compiles again, statement by statement. Once no ledger has it open, its
    connections are closed (the file is let go of); the engine stays.

    A server database gets pooled connections tested before use: a daemon outlives server
    restarts, and a connection the server dropped must not fail the next cycle.
    """
    key = target.url.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _new_ledger_engine(target)
        _ENGINES.move_to_end(key)
        _USERS[engine] = _USERS.get(engine, 0) + 1
        idle = [k for k, kept in _ENGINES.items() if kept not in _USERS]
        for k in idle[: max(0, len(_ENGINES) - KEPT_ENGINES)]:
            del _ENGINES[k]  # the oldest the process has no ledger open on
    return engine


def release_ledger_engine(engine: Engine) -> None:
    """One ledger less has ``engine`` open; with none left, its connections are closed."""
    with _ENGINES_LOCK:
        users = _USERS.pop(engine, 0) - 1
        if users > 0:
            _USERS[engine] = users
            return
    engine.dispose()


_ENGINES: OrderedDict[str, Engine] = OrderedDict()
_USERS: dict[Engine, int] = {}  # ledgers open on each engine
_ENGINES_LOCK = threading.Lock()


def _new_ledger_engine(target: LedgerTarget) -> Engine:
    if target.url.get_backend_name() != "sqlite":
        return _engine(target, pool_pre_ping=True)
    engine = _engine(target, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _engine(target: LedgerTarget, **options: Any) -> Engine:
    """``create_engine``, with a missing or unknown database driver said in one line."""
    try:
        return create_engine(target.url, **options)
    except (NoSuchModuleError, ImportError) as exc:
        backend = target.url.get_backend_name()
        hint = (
            "pip install 'ninepic-syncer[postgres]' (the psycopg driver)"
            if backend == "postgresql"
            else None
        )
        raise ConfigError(
            f"ledger {target.label}: no database driver for {target.url.drivername!r} "
            f"({type(exc).__name__}: {exc})",
            hint=hint,
        ) from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): the sqlite3 module would not
    # begin a transaction before DDL or SELECT, which breaks transactional migrations.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def inspection_engine(target: LedgerTarget) -> Engine:
    """An engine that cannot change the ledger: read-only for a file, no PRAGMAs at all."""
    path = target.path
    if path is None:
        return _engine(target, poolclass=NullPool)
    uri = f"file:{quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


def upsert_insert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that supports ``on_conflict_do_*`` for the connection's dialect."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)
    return sqlite.insert(table)


@contextmanager
def translated_errors(label: str) -> Iterator[None]:
    """Turn database errors into one-line :class:`LedgerError` messages naming the ledger."""
    try:
        yield
    except DBAPIError as exc:
        reason = _reason(exc)
        unreachable = _server_unreachable(exc)
        if unreachable is not None:
            raise unreachable(f"ledger {label}: {reason}", hint=_hint(unreachable)) from exc
        if "full" in reason.lower():
            raise DiskFullError(f"ledger {label}: {reason}") from exc
        raise LedgerError(f"ledger {label}: {reason}") from exc
    except SQLAlchemyError as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise LedgerError(f"ledger {label}: {first_line}") from exc


def _reason(exc: DBAPIError) -> str:
    """The driver's message on one line (libpq's run over several, with tabs)."""
    reason = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    # SQLite's extended code (SQLITE_READONLY_RECOVERY, SQLITE_IOERR_FSYNC, ...) tells
    # apart cases that share one message; the base codes add nothing to the message.
    code = getattr(exc.orig, "sqlite_errorname", None)
    if isinstance(code, str) and code.count("_") >= 2:
        reason = f"{reason} ({code})"
    return reason


def _server_unreachable(exc: DBAPIError) -> type[LedgerError] | type[ConfigError] | None:
    """Why a database server did not serve us, if that is the failure: refused or away.

    A failure to connect (no statement ran) is the server refusing our settings when its
    message says so, else the server being away (down, restarting, unreachable, full).
    SQLite never fails this way: opening its file is done before (see prepare_file).
    """
    if getattr(exc.orig, "sqlite_errorname", None) is not None:
        return None
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state.startswith(UNAVAILABLE_STATES):
        return LedgerUnavailableError
    if exc.connection_invalidated:
        return LedgerUnavailableError
    if exc.statement is not None or state is not None:
        return None
    if any(words in str(exc.orig).lower() for words in REFUSED_ACCESS):
        return ConfigError
    return LedgerUnavailableError


def _hint(kind: type[LedgerError] | type[ConfigError]) -> str:
    if kind is ConfigError:
        return "check the user, password and database name in storage.ledger"
    return "is the database server running and reachable from here?"
