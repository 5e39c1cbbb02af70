"""Fixtures every test folder may use: a throwaway CA for HTTPS on 127.0.0.1."""

from __future__ import annotations

import pytest
from tls_ca import ThrowawayCA, make_ca


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    """A CA and a 127.0.0.1 server certificate, made once per test session (per xdist worker)."""
    return make_ca(tmp_path_factory.mktemp("tls-ca"))
