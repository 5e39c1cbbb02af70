"""Where settings come from: typo'd SYNCER_* names, and the origin of each effective value."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.config import load_settings
from syncer.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("SYNCER_DOWNLOADS__WORKERS", "did you mean SYNCER_DOWNLOAD__WORKERS?"),
        ("SYNCER_STORGE__ROOT", "did you mean SYNCER_STORAGE__ROOT?"),
        ("SYNCER_LOG_LEVEL", "did you mean SYNCER_LOG__LEVEL?"),
        ("SYNCER_EVENT", "did you mean SYNCER_EVENTS?"),
        ("syncer_downloads__workers", "did you mean SYNCER_DOWNLOAD__WORKERS?"),
        (
            "SYNCER_XYZ__A",
            "sections are api, download, events, health, log, node, people, schedule, storage",
        ),
    ],
)
def test_an_unknown_section_in_the_environment_is_an_error(
    tmp_path: Path, name: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={name: "3"}, cwd=tmp_path)
    assert caught.value.exit_code == 78
    assert name in caught.value.message
    assert caught.value.message.endswith(hint)
    assert "\n" not in caught.value.message


def test_names_that_are_not_settings_are_left_alone(tmp_path: Path) -> None:
    env = {"SYNCER_API_KEY": "k" * 12, "SYNCER_CONFIG": "", "SYNCER_WRAPPER_OPTS": "x"}
    assert load_settings(env=env, cwd=tmp_path).api.key is not None


def test_each_value_says_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "syncer.toml"
    config.write_text('[api]\norg_id = 903\n[storage]\nroot = "photos"\n', encoding="utf-8")
    env = {"SYNCER_DOWNLOAD__WORKERS": "3", "SYNCER_API_KEY": "k" * 12}
    overrides = {"log": {"level": "debug"}}
    settings = load_settings(config_path=config, env=env, cwd=tmp_path, overrides=overrides)
    assert settings.origin("api.org_id") == f"file {config}"
    assert settings.origin("storage.root") == f"file {config}"
    assert settings.origin("download.workers") == "environment SYNCER_DOWNLOAD__WORKERS"
    assert settings.origin("api.key") == "environment SYNCER_API_KEY"
    assert settings.origin("log.level") == "flag"
    assert settings.origin("download.processes") == "default"
    assert settings.origin("storage.ledger") == "default"
    assert settings.origin("events") == "default"
    assert settings.missing_for_sync() == []


def test_a_systemd_credential_is_named_as_the_origin_of_the_key(tmp_path: Path) -> None:
    (tmp_path / "api_key").write_text("k" * 12, encoding="utf-8")
    settings = load_settings(env={"CREDENTIALS_DIRECTORY": str(tmp_path)}, cwd=tmp_path)
    assert settings.origin("api.key") == "systemd credential"


def test_what_a_sync_still_needs(tmp_path: Path) -> None:
    missing = load_settings(env={"SYNCER_EVENTS": "[]"}, cwd=tmp_path).missing_for_sync()
    assert [problem.split(":")[0] for problem in missing] == [
        "no organisation",
        "no API key",
        "no storage root",
        "no events",
    ]
