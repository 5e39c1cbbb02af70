"""A throwaway PostgreSQL cluster for the tests: ``initdb`` and ``pg_ctl`` in a temp folder.

The server listens on a unix socket in that folder only (no TCP port). The superuser
``postgres`` connects without a password; every other role must give its password
(scram-sha-256), so tests can check what a wrong password does. As root the cluster runs as
the ``postgres`` system user (``initdb`` refuses root). Each pytest-xdist worker starts its own
cluster, once, the first time a test asks for one.

``SYNCER_TEST_POSTGRES=require`` turns "PostgreSQL is not installed" from a skip into a
failure (CI sets it once it has installed PostgreSQL).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from urllib.parse import quote

import pytest

SUPERUSER = "postgres"
REQUIRE_VARIABLE = "SYNCER_TEST_POSTGRES"
HBA = "local all postgres trust\nlocal all all scram-sha-256\n"
# Durability is worthless for a throwaway cluster; these make it start and write fast.
SERVER_OPTIONS = (
    "-c listen_addresses= -F -c full_page_writes=off -c synchronous_commit=off "
    "-c max_connections=200"
)


@dataclass(frozen=True)
class PostgresServer:
    """A running test cluster: where its socket is, and how to make databases in it."""

    socket_dir: Path
    startup_seconds: float

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """An SQLAlchemy URL for syncer's ``storage.ledger``."""
        secret = "" if password is None else f":{quote(password, safe='')}"
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql+psycopg://{user}{secret}@/{database}?host={host}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE...)."""
        import psycopg

        with psycopg.connect(
            host=str(self.socket_dir), user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, owner: str = SUPERUSER) -> str:
        """A new empty database; returns its URL for the superuser."""
        self.execute(f'CREATE DATABASE "{name}" OWNER "{owner}" STRATEGY FILE_COPY')
        return self.url(name)


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout, else PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE) == "require":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_VARIABLE}=require) but {reason}")
    pytest.skip(f"PostgreSQL tests need a local server: {reason}")


def _as_owner(folder: Path) -> list[str]:
    """The command prefix that runs a server tool as a user other than root, if we are root."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        user = pwd.getpwnam("nobody")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", user.pw_name, "--"]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"{Path(argv[-1]).name}: {lines[-1] if lines else done.returncode}")


def start_cluster(folder: Path) -> Iterator[PostgresServer]:
    """Create and start a cluster in ``folder``; stop it when the generator is closed."""
    bindir = postgres_bindir()
    if bindir is None:
        _unavailable("initdb was not found (install the Debian package postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the driver psycopg is not installed (pip install '.[postgres]')")
    assert bindir is not None
    started = time.monotonic()
    prefix = _as_owner(folder)
    data = folder / "data"
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-s"]
    try:
        try:
            _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A",
                  "trust", "-E", "UTF8", "--no-locale", "--no-sync"])  # fmt: skip
            (data / "pg_hba.conf").write_text(HBA)
            options = f"-k {folder} {SERVER_OPTIONS}"
            _run([*pg_ctl, "-o", options, "-l", str(folder / "server.log"), "start"])
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"the test cluster did not start: {exc}")
        yield PostgresServer(folder, time.monotonic() - started)
    finally:
        with suppress(OSError, RuntimeError, subprocess.TimeoutExpired):
            _run([*pg_ctl, "-m", "immediate", "stop"])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """This worker's PostgreSQL cluster, started on first use and stopped at the end."""
    # A short path: a unix socket path must fit in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="syncer-pg-"))
    try:
        yield from start_cluster(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_numbers = count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database in this worker's cluster, dropped after the test."""
    name = f"t{next(_numbers)}"
    yield postgres_server.create_database(name)
    postgres_server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
