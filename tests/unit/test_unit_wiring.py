"""What the wiring gives each kind of run: a command says a wrong address at once, a daemon's
cycle rides out an API that is not up yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.settings import isolate, load, write_toml
from syncer.cycle import CycleOptions
from syncer.wiring import FIRST_CONTACT_ATTEMPTS, api_client


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


def test_only_a_daemon_cycle_is_patient_with_a_server_never_reached(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[api]\norg_id = 903\nkey = "k"\nmax_attempts = 6\n')
    settings = load(tmp_path, config=config)
    for options, first_contact in (
        (CycleOptions(), FIRST_CONTACT_ATTEMPTS),
        (CycleOptions(kind="verify"), FIRST_CONTACT_ATTEMPTS),
        (CycleOptions(kind="daemon-cycle"), None),
    ):
        with api_client(settings, patient=options.patient) as api:
            policy = api._requester._retry
        assert policy.first_contact_attempts == first_contact, options.kind
        assert policy.max_attempts == 6
