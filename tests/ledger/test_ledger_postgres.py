"""What only a PostgreSQL ledger has: migrations on a server, its schema, connection failures.

Everything a ledger does is tested on PostgreSQL too, through the ``ledger`` fixture; this file
holds what differs: the server may be down, refuse the password, or lack the database.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from itertools import count
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from postgres_server import PostgresServer
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from harness.ledger import EVENT, event_record, query
from syncer.errors import ConfigError, LedgerError, LedgerUnavailableError
from syncer.ledger import Ledger
from syncer.ledger.migrate import alembic_config, head_revision, script_directory
from syncer.ledger.models import metadata

PASSWORD = "hunter2-secret"  # noqa: S105 (a test role's password)

# The whole schema as PostgreSQL describes it: columns, constraints and indexes.
SCHEMA_QUERIES = (
    "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,"
    " column_default FROM information_schema.columns WHERE table_schema = 'public'"
    " ORDER BY 1, 2",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " ORDER BY 1, 2",
)


def schema(url: str) -> list[list[tuple[object, ...]]]:
    return [query(url, sql) for sql in SCHEMA_QUERIES]


def test_migrations_match_the_models_on_postgresql(postgres_url: str) -> None:
    command.upgrade(alembic_config(postgres_url), "head")
    engine = create_engine(postgres_url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_a_new_ledger_has_exactly_the_migrated_schema(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """create_all + stamp (new ledgers) and the migration scripts give the same database."""
    command.upgrade(alembic_config(postgres_url), "head")
    fresh = postgres_server.create_database("fresh_schema")
    try:
        assert Ledger.upgrade(fresh) == (None, head_revision())
        migrated, created = schema(postgres_url), schema(fresh)
        assert {row[0] for row in migrated[0]} >= {"photos", "placements", "alembic_version"}
        dirty = [row for row in created[0] if row[:2] == ("photos", "placements_dirty")]
        assert [row[2:] for row in dirty] == [("boolean", None, "NO", "false")]
        assert created == migrated
        assert query(fresh, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    finally:
        postgres_server.execute('DROP DATABASE "fresh_schema" WITH (FORCE)')


REVISIONS = [script.revision for script in reversed(list(script_directory().walk_revisions()))]


@pytest.mark.parametrize("start", REVISIONS)
def test_every_revision_is_upgraded_to_the_schema_of_a_new_ledger(
    postgres_server: PostgresServer, postgres_url: str, start: str
) -> None:
    """``syncer db upgrade`` of a ledger written by any earlier syncer runs the migration
    scripts on PostgreSQL and ends with the schema a new ledger gets."""
    command.upgrade(alembic_config(postgres_url), start)
    assert Ledger.upgrade(postgres_url) == (start, head_revision())
    fresh = postgres_server.create_database(f"fresh_{start}")
    try:
        Ledger.upgrade(fresh)
        assert schema(postgres_url) == schema(fresh)
    finally:
        postgres_server.execute(f'DROP DATABASE "fresh_{start}" WITH (FORCE)')


def test_a_database_with_other_tables_is_refused_and_untouched(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database("foreign_db")
    try:
        postgres_server.execute("CREATE TABLE people (name text)", database="foreign_db")
        with pytest.raises(LedgerError, match=r"foreign_db.* is not a syncer ledger .*people"):
            Ledger.open(url)
        tables = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == [("people",)]
    finally:
        postgres_server.execute('DROP DATABASE "foreign_db" WITH (FORCE)')


def test_a_newer_revision_is_refused(postgres_server: PostgresServer, postgres_url: str) -> None:
    Ledger.open(postgres_url).close()
    database = make_url(postgres_url).database or ""
    postgres_server.execute("UPDATE alembic_version SET version_num = 'f00dfeed'", database)
    with pytest.raises(LedgerError, match=r"revision 'f00dfeed', unknown to this syncer"):
        Ledger.open(postgres_url)
    assert query(postgres_url, "SELECT version_num FROM alembic_version") == [("f00dfeed",)]


_roles = count(1)


@pytest.fixture
def role(postgres_server: PostgresServer) -> str:
    """A new login role with a password, owning its own database ``<role>_db``."""
    name = f"syncer_{next(_roles)}"
    postgres_server.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
    postgres_server.create_database(f"{name}_db", owner=name)
    return name


def test_a_role_with_a_password_uses_its_ledger(postgres_server: PostgresServer, role: str) -> None:
    url = postgres_server.url(f"{role}_db", role, PASSWORD)
    with Ledger.open(url) as ledger:
        ledger.upsert_event(event_record())
        assert PASSWORD not in repr(ledger)
    with Ledger.open(url, create=False) as ledger:
        assert ledger.event_ids() == [EVENT]


def one_line_without_secret(error: LedgerError | ConfigError) -> str:
    text = f"{error.message}\n{error.hint or ''}"
    assert "\n" not in error.message
    assert PASSWORD not in text
    return error.message


def test_a_wrong_password_is_a_settings_error(postgres_server: PostgresServer, role: str) -> None:
    url = postgres_server.url(f"{role}_db", role, PASSWORD + "-wrong")
    with pytest.raises(ConfigError) as caught:
        Ledger.open(url)
    assert caught.value.exit_code == 78
    message = one_line_without_secret(caught.value)
    assert "password authentication failed" in message
    assert "-wrong" not in message
    assert "storage.ledger" in (caught.value.hint or "")


def test_an_unknown_database_is_a_settings_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(ConfigError) as caught:
        Ledger.open(postgres_server.url("no_such_db"))
    assert caught.value.exit_code == 78
    assert 'database "no_such_db" does not exist' in one_line_without_secret(caught.value)


def test_a_server_that_is_down_is_temporary(tmp_path: Path) -> None:
    nobody_listens = PostgresServer(tmp_path, 0.0).url("syncer", "syncer", PASSWORD)
    with pytest.raises(LedgerUnavailableError) as caught:
        Ledger.open(nobody_listens)
    assert caught.value.exit_code == 75
    message = one_line_without_secret(caught.value)
    assert message.startswith("ledger postgresql+psycopg://syncer:***@/syncer")
    assert "No such file or directory" in message


def test_connections_the_server_dropped_are_replaced(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A server restart between two calls (a daemon's cycles) costs nothing: pooled
    connections are checked before use."""
    database = make_url(postgres_url).database or ""
    with Ledger.open(postgres_url) as ledger:
        ledger.upsert_event(event_record())
        postgres_server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
            database,
        )
        assert ledger.event_ids() == [EVENT]


def test_a_missing_driver_is_a_settings_error_with_the_extra_to_install() -> None:
    """Without psycopg (syncer installed without its postgres extra) the URL cannot work."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from syncer.errors import SyncerError\n"
        "from syncer.ledger import Ledger\n"
        "try:\n"
        "    Ledger.open('postgresql+psycopg://syncer@db.invalid/syncer')\n"
        "except SyncerError as exc:\n"
        "    print(exc.exit_code, exc.message, exc.hint, sep='\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    exit_code, message, hint = done.stdout.splitlines()
    assert exit_code == "78"
    assert message.startswith(
        "ledger postgresql+psycopg://syncer@db.invalid/syncer: no database driver for "
        "'postgresql+psycopg'"
    )
    assert hint == "pip install 'ninepic-syncer[postgres]' (the psycopg driver)"


def test_a_connection_lost_in_a_transaction_is_temporary(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """The server going away mid-transaction (a restart, a failover) is exit 75, retried."""
    with Ledger.open(postgres_url) as ledger:
        # the connection must be in a transaction when the server drops it
        with pytest.raises(LedgerUnavailableError) as caught, ledger._read() as conn:  # noqa: PT012
            postgres_server.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                make_url(postgres_url).database or "",
            )
            conn.execute(text("SELECT count(*) FROM photos"))
        assert caught.value.exit_code == 75
        assert "terminating connection due to administrator command" in caught.value.message
        assert ledger.event_ids() == []  # the next call gets a new connection


def test_processes_opening_a_new_database_at_once_create_it_once(postgres_url: str) -> None:
    """A status and a sync started together on an empty database: both open it."""
    opened: list[str] = []
    failed: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        try:
            with Ledger.open(postgres_url) as ledger:
                opened.append(repr(ledger.event_ids()))
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failed == []
    assert opened == ["[]"] * 4
    assert query(postgres_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
