"""Opening the ledger: private files, PRAGMAs, migrations, and refusing what is not ours."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, create_engine, text
from sqlalchemy.exc import OperationalError

from harness.ledger import EVENT, T0, event_record, images, query
from syncer.errors import DiskFullError, LedgerError, SyncerError
from syncer.ledger import Ledger
from syncer.ledger.engine import resolve_target, translated_errors
from syncer.ledger.migrate import alembic_config, head_revision
from syncer.ledger.models import metadata
from syncer.lock import lock_path_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_new_ledger_is_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        ledger.upsert_event(event_record())
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        assert wal.exists()
        assert shm.exists()
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700


def test_existing_directory_modes_are_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    Ledger.open(tmp_path / "ledger.sqlite3").close()
    assert mode(tmp_path) == 0o755


def test_every_connection_gets_the_pragmas(ledger_path: Path) -> None:
    with Ledger.open(ledger_path) as ledger, ledger._engine.connect() as conn:
        values = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }
    assert values == {
        "journal_mode": "wal",
        "busy_timeout": 10000,
        "synchronous": 1,  # NORMAL: see syncer/ledger/engine.py
        "foreign_keys": 1,
    }


def migrated_by_alembic(path: Path) -> None:
    """A ledger built by running every migration script (not the new-ledger shortcut)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(f"sqlite:///{path}"), "head")


def schema(path: Path) -> list[tuple[str, str, list[str]]]:
    """Every table and index of an SQLite file: its DDL's clauses, in any order."""
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    return [(kind, name, sorted(clauses(" ".join(sql.split())))) for kind, name, sql in rows]


def clauses(ddl: str) -> list[str]:
    """``CREATE TABLE t (a, b, CONSTRAINT c (x, y))`` -> the head and each top-level item."""
    head, _, body = ddl.partition("(")
    items, depth, current = [head.strip()], 0, ""
    for char in body.rstrip().removesuffix(")"):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return [*items, current.strip()]


def test_migrations_match_the_models(ledger_path: Path) -> None:
    migrated_by_alembic(ledger_path)
    engine = create_engine(f"sqlite:///{ledger_path}")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        # the comparison itself notices a drift
        drifted = MetaData()
        for table in metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["photos"].append_column(Column("extra", Integer))
        assert compare_metadata(context, drifted) != []
    engine.dispose()


def test_a_new_ledger_has_exactly_the_migrated_schema(tmp_path: Path) -> None:
    migrated_by_alembic(tmp_path / "migrated.sqlite3")
    Ledger.open(tmp_path / "new.sqlite3").close()  # created from the models, then stamped
    migrated = schema(tmp_path / "migrated.sqlite3")
    assert {name for _, name, _ in migrated} >= {"photos", "alembic_version", "placements"}
    assert schema(tmp_path / "new.sqlite3") == migrated
    with sqlite3.connect(tmp_path / "new.sqlite3") as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_a_new_ledger_is_made_without_loading_alembic(tmp_path: Path) -> None:
    code = (
        "import sys; from syncer.ledger import Ledger; "
        f"Ledger.open({str(tmp_path / 'l.sqlite3')!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_reopen_keeps_data_and_revision(ledger_target: str | Path) -> None:
    with Ledger.open(ledger_target) as ledger:
        ledger.upsert_event(event_record())
    with Ledger.open(ledger_target, create=False) as ledger:
        assert ledger.event(EVENT) == event_record()
    assert query(ledger_target, "SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_missing_ledger_without_create(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "ledger.sqlite3"
    with pytest.raises(LedgerError, match=r"nope/ledger\.sqlite3 does not exist"):
        Ledger.open(path, create=False)
    assert not path.parent.exists()


def test_corrupt_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(os.urandom(8192))
    before = snapshot(tmp_path)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    assert str(path) in caught.value.message
    assert "not a database" in caught.value.message
    assert "\n" not in caught.value.message
    assert snapshot(tmp_path) == before


def test_foreign_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "photos.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE people (name TEXT)")
        raw.execute("INSERT INTO people VALUES ('ann')")
    raw.close()
    before = snapshot(tmp_path)
    with pytest.raises(LedgerError, match=r"photos\.db is not a syncer ledger .*people"):
        Ledger.open(path)
    assert snapshot(tmp_path) == before


def test_newer_revision_is_refused_and_untouched(ledger_path: Path) -> None:
    Ledger.open(ledger_path).close()
    with sqlite3.connect(ledger_path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    raw.close()
    before = ledger_path.read_bytes()
    with pytest.raises(LedgerError, match=r"revision 'f00dfeed', unknown to this syncer"):
        Ledger.open(ledger_path)
    with pytest.raises(LedgerError, match="f00dfeed"):
        Ledger.upgrade(ledger_path)
    # reading a WAL database may leave its -wal/-shm companions; the ledger itself is intact
    assert ledger_path.read_bytes() == before
    with sqlite3.connect(ledger_path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("f00dfeed",)]


def test_directory_is_not_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="is not a regular file"):
        Ledger.open(tmp_path)


def test_upgrade_reports_revisions(ledger_target: str | Path) -> None:
    assert Ledger.upgrade(ledger_target) == (None, head_revision())
    assert Ledger.upgrade(ledger_target) == (head_revision(), head_revision())


def test_sqlite_url_target(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/url.sqlite3"
    with Ledger.open(url) as ledger:
        ledger.upsert_event(event_record())
        assert ledger.path == tmp_path / "url.sqlite3"
    assert mode(tmp_path / "url.sqlite3") == 0o600
    assert lock_path_for(url) == tmp_path / "url.sqlite3.lock"
    with Ledger.open(tmp_path / "url.sqlite3") as again:
        assert again.event_ids() == [EVENT]


def test_in_memory_url_works_without_a_file() -> None:
    with Ledger.open("sqlite://") as ledger:
        assert ledger.path is None
        assert ledger.event_ids() == []


def test_labels_never_show_a_password() -> None:
    target = resolve_target("postgresql://syncer:hunter2@db.example/ledger")
    assert "hunter2" not in target.label
    assert target.path is None


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(LedgerError, match="is not valid"):
        Ledger.open("not a url://x")


def test_naive_datetime_is_refused(ledger: Ledger) -> None:
    with pytest.raises(SyncerError, match="timezone-aware"):
        ledger.begin_walk(EVENT, T0.replace(tzinfo=None))


def test_closed_ledger_refuses_work(ledger_target: str | Path) -> None:
    ledger = Ledger.open(ledger_target)
    ledger.close()
    with pytest.raises(SyncerError, match="is closed"):
        ledger.event_ids()


def test_reader_sees_committed_writes_while_writer_is_open(ledger_path: Path) -> None:
    with Ledger.open(ledger_path) as writer, Ledger.open(ledger_path, create=False) as reader:
        state = writer.begin_walk(EVENT, T0)
        writer.record_page(EVENT, state.walk_no, 1, images("a", "b"), T0)
        assert reader.counts_by_state()["pending"] == 2
        with reader._engine.connect() as conn, conn.begin():  # a long read blocks no writer
            assert conn.execute(text("SELECT count(*) FROM photos")).scalar() == 2
            writer.record_page(EVENT, state.walk_no, 2, images("c"), T0)
            assert conn.execute(text("SELECT count(*) FROM photos")).scalar() == 2
        assert reader.counts_by_state()["pending"] == 3


def test_opens_from_any_working_directory(tmp_path: Path) -> None:
    path = tmp_path / "x" / "l.sqlite3"
    code = f"from syncer.ledger import Ledger; Ledger.open({str(path)!r}).close()"
    subprocess.run([sys.executable, "-c", code], cwd="/", check=True, timeout=60)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (
            head_revision(),
        )


def test_database_errors_become_one_line_ledger_errors() -> None:
    full = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
    with (
        pytest.raises(DiskFullError, match=r"^ledger /l\.db: database or disk is full$"),
        translated_errors("/l.db"),
    ):
        raise full
    locked = OperationalError("UPDATE ...", {}, sqlite3.OperationalError("database is locked"))
    with (
        pytest.raises(LedgerError, match=r"^ledger /l\.db: database is locked$"),
        translated_errors("/l.db"),
    ):
        raise locked


def test_sqlite_extended_codes_are_named_in_the_message(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with (
        pytest.raises(
            LedgerError, match=r"UNIQUE constraint failed: t\.x \(SQLITE_CONSTRAINT_UNIQUE\)$"
        ),
        translated_errors("/x.db"),
        engine.begin() as conn,
    ):
        conn.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    from syncer.ledger.migrate import HEAD_REVISION, head_revision

    assert head_revision() == HEAD_REVISION


def _open_files(path: Path) -> list[str]:
    """This process's open descriptors on ``path`` and its WAL and shared-memory files."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    fds = Path("/proc/self/fd")
    return [link for fd in fds.iterdir() if (link := os.path.realpath(fd)) in names]


def test_a_ledger_opened_again_keeps_its_compiled_sql_and_closing_lets_go_of_the_file(
    ledger_path: Path,
) -> None:
    """A daemon opens its ledger every cycle: the engine (and the SQL it compiled) stays for
    the process, while closing the ledger still closes every connection to the file."""
    for _ in range(2):  # the first opening creates the ledger: it runs statements of its own
        with Ledger.open(ledger_path) as ledger:
            ledger.upsert_event(event_record())
            engine = ledger._engine
        assert _open_files(ledger_path) == [], "closed: no descriptor on the ledger's files"
    cached = len(engine._compiled_cache or {})
    assert cached > 0
    with Ledger.open(ledger_path) as again:
        assert again._engine is engine
        again.upsert_event(event_record())
    assert len(engine._compiled_cache or {}) == cached, "nothing compiled again"
    assert _open_files(ledger_path) == []


def test_closing_one_of_two_openings_leaves_the_other_working(ledger_path: Path) -> None:
    first = Ledger.open(ledger_path)
    try:
        # a connection the first opening holds while the second closes
        with first._read(), Ledger.open(ledger_path) as second:
            second.upsert_event(event_record())
        first.upsert_event(event_record())
        assert first.status(EVENT)
    finally:
        first.close()
        first.close()  # closing twice is closing once
    assert _open_files(ledger_path) == []
