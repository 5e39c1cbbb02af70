"""The CAs HTTPS trusts: loaded once per process and per SSL_CERT_FILE/SSL_CERT_DIR."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest
from pydantic import SecretStr

from syncer.api import ApiClient
from syncer.api.trust import api_context, storage_context
from syncer.errors import ConfigError


def test_each_context_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert api_context() is api_context()
    assert storage_context() is storage_context()
    assert api_context() is not storage_context()
    assert api_context().verify_mode == ssl.CERT_REQUIRED
    assert storage_context().check_hostname


def test_a_changed_variable_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    default = api_context()
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert api_context() is not default
    monkeypatch.delenv("SSL_CERT_FILE")
    assert api_context() is default


def test_unreadable_cas_are_a_config_error_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    for _ in range(2):  # a failure is not kept: the second client fails the same way
        with pytest.raises(ConfigError, match="cannot load the trusted CA certificates"):
            ApiClient(base_url="https://api.example", org_id=1, api_key=SecretStr("k" * 32))
