"""The root conftest keeps the developer's shell out of the tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.environment import leaking

SHELL = {
    "SYNCER_API_KEY": "from-the-shell",
    "SYNCER_DOWNLOAD__WORKERS": "99",
    "XDG_CONFIG_HOME": "/home/someone/.config",
    "JOURNAL_STREAM": "8:1234",
    "NOTIFY_SOCKET": "/run/systemd/notify",
    "PATH": "/usr/bin",
}


def test_leaking_names_syncer_xdg_and_systemd_variables() -> None:
    assert sorted(leaking(SHELL)) == sorted(set(SHELL) - {"PATH"})


def test_no_leaking_variable_is_set_while_a_test_runs() -> None:
    assert leaking(os.environ) == []


def test_a_cli_subprocess_inherits_none_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", os.environ.get("HOME", "/root"))  # an ordinary variable stays
    code = "import os, sys; sys.stdout.write(' '.join(sorted(os.environ)))"
    names = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "HOME" in names
    assert leaking(names) == []
