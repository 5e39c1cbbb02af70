"""A PostgreSQL ledger end to end: the real CLI in a subprocess, the simulator, a test cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from postgres_server import PostgresServer

from harness.e2e import World, expected_tree, files_under, run_ok, temp_files
from syncer.ledger.migrate import head_revision

PASSWORD = "pg-Secret-42"  # noqa: S105 (a test role's password)


@pytest.fixture
def pg_world(world: World, postgres_server: PostgresServer, postgres_url: str) -> World:
    """The e2e world with ``storage.ledger`` pointing at an empty PostgreSQL database."""
    world.ledger_url = postgres_url
    world.write_config()
    return world


def test_sync_and_status_on_a_postgresql_ledger(pg_world: World) -> None:
    world = pg_world
    data = json.loads(run_ok(world, "sync", "--json").stdout)
    truth = world.truth()
    assert data["downloaded"] == len(truth)
    assert files_under(world.root) == expected_tree(world, [])
    assert not temp_files(world.root)
    assert sum(world.sim.stats.objects_served.values()) == len(truth)
    # no SQLite file and no file lock: the database is the ledger
    assert not world.ledger.parent.exists()

    (row,) = json.loads(run_ok(world, "status", "--json").stdout)
    assert (row["event_id"], row["known"], row["downloaded"]) == (
        world.event_id,
        len(truth),
        len(truth),
    )
    assert row["pending"] == row["failed"] == 0
    assert row["last_run_ended_at"] is not None

    again = json.loads(run_ok(world, "sync", "--json").stdout)
    assert (again["downloaded"], again["new"]) == (0, 0)
    assert sum(world.sim.stats.objects_served.values()) == len(truth)


def test_dry_run_plans_from_what_the_postgresql_ledger_holds(pg_world: World) -> None:
    world = pg_world
    run_ok(world, "sync")
    truth = world.truth()
    world.sim.add_photos(world.event_id, 2)
    served = sum(world.sim.stats.objects_served.values())
    dry = json.loads(run_ok(world, "sync", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True
    assert dry["due"] == 2  # the new ones only: the snapshot holds what was synced
    assert sum(world.sim.stats.objects_served.values()) == served
    (row,) = json.loads(run_ok(world, "status", "--json").stdout)
    assert (row["known"], row["downloaded"]) == (len(truth), len(truth))  # nothing written
    assert json.loads(run_ok(world, "sync", "--json").stdout)["downloaded"] == 2


def test_db_upgrade_creates_then_keeps_the_schema(
    world: World, postgres_server: PostgresServer
) -> None:
    postgres_server.execute(f"CREATE ROLE e2e_owner LOGIN PASSWORD '{PASSWORD}'")
    postgres_server.create_database("e2e_upgrade", owner="e2e_owner")
    try:
        world.ledger_url = postgres_server.url("e2e_upgrade", "e2e_owner", PASSWORD)
        world.write_config()
        first = run_ok(world, "db", "upgrade").stdout
        assert f"migrated from empty to {head_revision()}" in first
        second = run_ok(world, "db", "upgrade").stdout
        assert f"is at the newest schema ({head_revision()})" in second
        shown = run_ok(world, "config", "check", "--json").stdout
        for output in (first, second):
            assert PASSWORD not in output
            assert "ledger postgresql+psycopg://e2e_owner:***@/e2e_upgrade?host=" in output
        assert PASSWORD not in shown
        assert json.loads(shown)["storage"]["ledger"].startswith(
            "postgresql+psycopg://e2e_owner:********@/e2e_upgrade?host="
        )
    finally:
        postgres_server.execute('DROP DATABASE "e2e_upgrade" WITH (FORCE)')
        postgres_server.execute("DROP ROLE e2e_owner")


def failed_upgrade(world: World, url: str) -> tuple[int, list[str]]:
    world.ledger_url = url
    world.write_config()
    result = world.run("db", "upgrade")
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr
    return result.returncode, result.stderr.splitlines()


def test_a_database_server_that_is_down_is_exit_75(world: World, tmp_path: Path) -> None:
    socket_dir = tmp_path / "no-server"
    socket_dir.mkdir()
    code, lines = failed_upgrade(world, PostgresServer(socket_dir, 0).url("db", "u", PASSWORD))
    assert code == 75
    assert lines[0].startswith("syncer: error: ledger postgresql+psycopg://u:***@/db?host=")
    assert lines[1:] == ["syncer: hint: is the database server running and reachable from here?"]


def test_refused_credentials_and_unknown_databases_are_exit_78(
    world: World, postgres_server: PostgresServer
) -> None:
    postgres_server.execute(f"CREATE ROLE e2e_user LOGIN PASSWORD '{PASSWORD}'")
    try:
        url = postgres_server.url("postgres", "e2e_user", PASSWORD[::-1])
        code, lines = failed_upgrade(world, url)
        assert code == 78
        assert 'password authentication failed for user "e2e_user"' in lines[0]
        assert PASSWORD[::-1] not in "\n".join(lines)
        code, lines = failed_upgrade(world, postgres_server.url("nowhere", "e2e_user", PASSWORD))
        assert code == 78
        assert 'database "nowhere" does not exist' in lines[0]
        assert (
            lines[1] == "syncer: hint: check the user, password and database name in storage.ledger"
        )
    finally:
        postgres_server.execute("DROP ROLE e2e_user")
