"""Fixtures for the ledger tests: a fresh ledger per test, on SQLite and on PostgreSQL.

``ledger`` (and ``ledger_target``) run a test once per backend: use them for behaviour every
ledger must have. ``ledger_path`` is an SQLite file, for what only SQLite has (WAL, file
modes, the instance lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.ledger import Ledger

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture(params=BACKENDS)
def ledger_target(request: pytest.FixtureRequest, ledger_path: Path) -> str | Path:
    """Where a fresh ledger lives: an SQLite file path, or the URL of an empty database."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return ledger_path


@pytest.fixture
def ledger(ledger_target: str | Path) -> Iterator[Ledger]:
    with Ledger.open(ledger_target) as opened:
        yield opened
