"""Fixtures for the ledger tests: a fresh ledger file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.ledger import Ledger


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[Ledger]:
    with Ledger.open(ledger_path) as opened:
        yield opened
