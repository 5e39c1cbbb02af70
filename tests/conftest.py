"""Fixtures for every test: an environment cleared of what the developer's shell may carry.

A test that wants one of the cleared variables sets it itself (``monkeypatch.setenv``, or an
explicit ``env=`` for a subprocess); see harness/environment.py for the list.
"""

from __future__ import annotations

import os

import pytest
from postgres_server import postgres_server, postgres_url
from tls_ca import ThrowawayCA, make_ca

from harness.environment import leaking

__all__ = ["clean_environment", "postgres_server", "postgres_url", "test_ca"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the leaking variables for the duration of each test (restored afterwards)."""
    for name in leaking(os.environ):
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    """A CA and a 127.0.0.1 server certificate, made once per test session (per xdist worker)."""
    return make_ca(tmp_path_factory.mktemp("tls-ca"))
