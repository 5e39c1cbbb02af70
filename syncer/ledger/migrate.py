"""Schema migrations: Alembic configured in code, with the scripts shipped in the package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)

from syncer.errors import LedgerError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

VERSION_TABLE = "alembic_version"
# The newest revision in migrations/versions. Knowing it without loading Alembic keeps every
# command's start fast; a test checks it against the scripts.
HEAD_REVISION = "0006"
# The PostgreSQL advisory lock key that serialises schema changes ("syncer" in ASCII).
MIGRATION_LOCK = 0x73796E636572


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """An Alembic config that needs no alembic.ini: script location and URL are set here."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_location() -> Path:
    """The migration scripts: installed as ``syncer.migrations``, or ``migrations/`` beside
    the package when syncer runs from a source checkout (``python -m syncer`` in the repo)."""
    try:
        return Path(str(files("syncer.migrations")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "migrations"


def script_directory() -> ScriptDirectory:
    """The migration scripts bundled with this syncer."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    """The newest schema revision this syncer knows."""
    head = script_directory().get_current_head()
    if head is None:
        raise LedgerError("no ledger migrations are installed")
    return head


def known_revisions() -> set[str]:
    """Every schema revision this syncer knows."""
    return {script.revision for script in script_directory().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, None when it was never migrated."""
    if VERSION_TABLE not in inspect(connection).get_table_names():
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_existing(engine: Engine, label: str) -> str | None:
    """The revision of an existing ledger, refusing anything that is not a ledger of ours.

    ``engine`` must be unable to modify the database (see ``inspection_engine``): this runs
    before anything is written, so a foreign or corrupt file is left exactly as it was.
    """
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        revision = current_revision(connection) if VERSION_TABLE in tables else None
    if revision is None:
        others = sorted(tables - {VERSION_TABLE})
        if others:
            listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise LedgerError(
                f"ledger {label} is not a syncer ledger (it has tables {listed} "
                "but no schema version); choose another ledger path"
            )
        return None
    if revision != HEAD_REVISION and revision not in known_revisions():
        raise LedgerError(
            f"ledger {label} has schema revision {revision!r}, unknown to this syncer "
            "(written by a newer version?); upgrade syncer"
        )
    return revision


def create_at_head(connection: Connection) -> str:
    """Give an empty database the schema at head, stamped with it, without loading Alembic.

    This is Alembic's own recipe for new databases (``create_all``, then stamp): the models
    are the schema at head, which a test checks against the migration scripts table by table.
    """
    from syncer.ledger.models import metadata

    metadata.create_all(connection)
    version = Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    version.create(connection)
    connection.execute(version.insert().values(version_num=HEAD_REVISION))
    return HEAD_REVISION


def upgrade_to_head(connection: Connection, url: str) -> str:
    """Migrate the database behind ``connection`` to the newest revision; return it.

    On PostgreSQL, processes opening one database at once take turns (a transaction-scoped
    advisory lock): the second sees the schema the first created instead of creating it again.
    SQLite serialises them with its write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    if current_revision(connection) == HEAD_REVISION:
        return HEAD_REVISION
    if not inspect(connection).get_table_names():
        return create_at_head(connection)
    from alembic import command
    from alembic.util import CommandError

    head = head_revision()
    if current_revision(connection) != head:
        try:
            command.upgrade(alembic_config(url, connection), "head")
        except CommandError as exc:
            raise LedgerError(f"ledger schema upgrade failed: {exc}") from exc
    return head
