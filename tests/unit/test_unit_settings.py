"""Settings: precedence, file discovery, derived values, the API key's sources and masking."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.settings import SECRET, isolate, load, write_toml
from syncer.concurrency import Span
from syncer.config import MASK, Settings, masked_settings
from syncer.config.settings import masked_url
from syncer.errors import ConfigError
from syncer.wiring import CycleWiring

BASE = "[api]\norg_id = 903\n"


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


# -- precedence -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_file", "with_env", "with_override", "expected"),
    [
        (False, False, False, 8),
        (True, False, False, 3),
        (True, True, False, 5),
        (True, True, True, 7),
        (False, True, False, 5),
        (True, False, True, 7),
    ],
)
def test_precedence_defaults_file_env_overrides(
    tmp_path: Path, with_file: bool, with_env: bool, with_override: bool, expected: int
) -> None:
    config = write_toml(tmp_path, "[download]\nworkers = 3\n") if with_file else None
    env = {"SYNCER_DOWNLOAD__WORKERS": "5"} if with_env else {}
    overrides = {"download": {"workers": 7}} if with_override else None
    settings = load(tmp_path, env=env, config=config, overrides=overrides)
    assert settings.download.workers == expected


def test_layers_merge_per_key_not_per_section(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[download]\nworkers = 3\ntimeout = "2m"\nfsync = false\n')
    settings = load(
        tmp_path,
        config=config,
        env={"SYNCER_DOWNLOAD__TIMEOUT": "90s"},
        overrides={"download": {"presign_batch": 10, "workers": None}},
    )
    download = settings.download
    assert (download.workers, download.timeout, download.fsync) == (3, 90.0, False)
    assert download.presign_batch == 10
    assert download.retry_cap == 6 * 3600.0  # untouched default


def test_env_names_are_case_insensitive_and_need_the_prefix(tmp_path: Path) -> None:
    settings = load(tmp_path, env={"syncer_schedule__interval": "1h30m", "SCHEDULE__JITTER": "9"})
    assert settings.schedule.interval == 5400.0
    assert settings.schedule.jitter == 30.0


# -- file discovery -------------------------------------------------------------------------------


def _discovery_files(tmp_path: Path, system: Path) -> dict[str, Path]:
    files = {
        "cwd": tmp_path / "syncer.toml",
        "xdg": tmp_path / "xdg" / "syncer" / "config.toml",
        "system": system,
    }
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'[log]\nlevel = "{ {"cwd": "debug", "xdg": "warning"}.get(name, "error") }"\n'
        )
    return files


@pytest.mark.parametrize("present", [("cwd", "xdg", "system"), ("xdg", "system"), ("system",)])
def test_discovery_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...]
) -> None:
    system = isolate(monkeypatch, tmp_path)
    files = _discovery_files(tmp_path, system)
    for name in {"cwd", "xdg", "system"} - set(present):
        files[name].unlink()
    settings = load(tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert settings.source_path == files[present[0]]
    assert settings.log.level == {"cwd": "debug", "xdg": "warning", "system": "error"}[present[0]]


def test_xdg_default_is_dot_config_under_home(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".config" / "syncer" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[log]\nformat = "json"\n')
    settings = load(tmp_path)
    assert settings.source_path == path
    assert settings.log.format == "json"


def test_explicit_path_beats_syncer_config_which_beats_discovery(tmp_path: Path) -> None:
    write_toml(tmp_path, "[download]\nworkers = 1\n", name="syncer.toml")
    from_env = write_toml(tmp_path, "[download]\nworkers = 2\n", name="env.toml")
    explicit = write_toml(tmp_path, "[download]\nworkers = 3\n", name="explicit.toml")
    env = {"SYNCER_CONFIG": str(from_env)}
    assert load(tmp_path, env=env).download.workers == 2
    assert load(tmp_path, env=env, config=explicit).download.workers == 3
    assert load(tmp_path, env=env, config=explicit).source_path == explicit


@pytest.mark.parametrize("via", ["argument", "SYNCER_CONFIG"])
def test_named_file_must_exist(tmp_path: Path, via: str) -> None:
    missing = tmp_path / "nope.toml"
    config, env = (missing, {}) if via == "argument" else (None, {"SYNCER_CONFIG": str(missing)})
    with pytest.raises(ConfigError, match="file not found") as info:
        load(tmp_path, config=config, env=env)
    assert str(missing) in info.value.message


def test_no_file_at_all_is_fine(tmp_path: Path) -> None:
    settings = load(tmp_path, env={"SYNCER_API__ORG_ID": "77", "SYNCER_STORAGE__ROOT": "/data"})
    assert settings.source_path is None
    assert settings.base_dir == tmp_path
    assert settings.require_org() == 77
    assert settings.require_root() == Path("/data")


# -- derived values -------------------------------------------------------------------------------


def test_durations_and_sizes_are_numbers(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        '[api]\nthrottle_deadline = "1h30m"\ntimeout = 2.5\n[storage]\nmin_free = "500MB"\n'
        '[schedule]\nverify_interval = "2d"\n[health]\nmax_age = 90\n',
    )
    settings = load(tmp_path, config=config)
    assert settings.api.throttle_deadline == 5400.0
    assert settings.api.timeout == 2.5
    assert settings.storage.min_free == 500_000_000
    assert settings.schedule.verify_interval == 172800.0
    assert settings.health.max_age == 90.0
    assert isinstance(settings.storage.min_free, int)


def test_relative_paths_follow_their_origin(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    config = write_toml(conf_dir, '[storage]\nroot = "photos"\nledger = "~/db/l.sqlite3"\n')
    settings = load(tmp_path, config=config)
    assert settings.storage.root == conf_dir / "photos"
    assert settings.storage.ledger == str(tmp_path / "home" / "db" / "l.sqlite3")
    from_env = load(tmp_path, config=config, env={"SYNCER_STORAGE__ROOT": "elsewhere"})
    assert from_env.storage.root == tmp_path / "elsewhere"
    from_cli = load(tmp_path, config=config, overrides={"storage": {"root": "~/pics"}})
    assert from_cli.storage.root == tmp_path / "home" / "pics"


def test_ledger_url_is_kept(tmp_path: Path) -> None:
    settings = load(tmp_path, env={"SYNCER_STORAGE__LEDGER": "sqlite:///rel.db"})
    assert settings.storage.ledger == "sqlite:///rel.db"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "home/.local/state/syncer/ledger.sqlite3"),
        ({"XDG_STATE_HOME": "{tmp}/state"}, "state/syncer/ledger.sqlite3"),
        ({"XDG_STATE_HOME": "relative/ignored"}, "home/.local/state/syncer/ledger.sqlite3"),
        ({"STATE_DIRECTORY": "{tmp}/var/lib/syncer"}, "var/lib/syncer/ledger.sqlite3"),
    ],
)
def test_default_ledger_location(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    env = {name: value.format(tmp=tmp_path) for name, value in env.items()}
    assert load(tmp_path, env=env).storage.ledger == str(tmp_path / expected)


def test_template_and_name_rules(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path, '[storage]\nlayout = "{event_id}/{image_id}.{ext}"\nnames = "posix"\n'
    )
    storage = load(tmp_path, config=config).storage
    assert storage.template.text == "{event_id}/{image_id}.{ext}"
    assert not storage.template.uses_bib
    assert storage.name_rules.portable is False


@pytest.mark.parametrize(
    ("value", "expected"), [('"auto"', "auto"), ("true", True), ("false", False), ('"No"', False)]
)
def test_case_insensitive_setting(tmp_path: Path, value: str, expected: object) -> None:
    config = write_toml(tmp_path, f"[storage]\ncase_insensitive = {value}\n")
    assert load(tmp_path, config=config).storage.case_insensitive == expected


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load(tmp_path, env={"SYNCER_LOG__LEVEL": "DEBUG"}).log.level == "debug"


@pytest.mark.parametrize(
    ("listen", "remote", "address"),
    [
        ("", False, None),
        ("127.0.0.1:9187", False, ("127.0.0.1", 9187)),
        ("[::1]:0", False, ("::1", 0)),
        ("localhost:80", False, ("localhost", 80)),
        ("0.0.0.0:9187", True, ("0.0.0.0", 9187)),
    ],
)
def test_health_address(
    tmp_path: Path, listen: str, remote: bool, address: tuple[str, int] | None
) -> None:
    overrides = {"health": {"listen": listen, "allow_remote": remote}}
    assert load(tmp_path, overrides=overrides).health.address == address


def test_base_url_loses_trailing_slash(tmp_path: Path) -> None:
    settings = load(tmp_path, env={"SYNCER_API__BASE_URL": "http://127.0.0.1:8080/"})
    assert settings.api.base_url == "http://127.0.0.1:8080"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path)
    with pytest.raises(ValidationError):
        settings.download = settings.download  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.download.workers = 1  # type: ignore[misc]


# -- events and BIBs ------------------------------------------------------------------------------


def test_events_default_to_all(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.events == "all"
    assert settings.event_ids() is None
    assert settings.bibs_for(456) == []


def test_events_all_from_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'events = "all"\n' + BASE)
    assert load(tmp_path, config=config).event_ids() is None


def test_events_as_a_list_of_ids_in_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "events = [456, 789]\n" + BASE)
    settings = load(tmp_path, config=config)
    assert settings.event_ids() == [456, 789]
    assert settings.bibs_for(456) == []


def test_event_tables_with_bibs_from_a_file_next_to_the_config(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "people.csv").write_text("Name,BIB\nAna,0042\nBo,a-17\n")
    config = write_toml(
        conf_dir,
        BASE + '[[events]]\nid = 456\nbibs = "1-3,A-17,@people.csv"\ninterval = "5m"\n'
        '[[events]]\nid = 789\nbibs = ["X 1", 7]\n[[events]]\nid = 12\n',
    )
    settings = load(tmp_path, config=config)
    assert settings.event_ids() == [456, 789, 12]
    assert settings.base_dir == conf_dir
    first = settings.events[0]
    assert not isinstance(first, str)
    assert first.interval == 300.0
    assert first.bib_list(conf_dir) == ["1", "2", "3", "A-17", "0042"]
    assert settings.bibs_for(789) == ["X 1", "7"]
    assert settings.bibs_for(12) == []
    assert settings.bibs_for(999) == []
    assert settings.event(12) is not None
    assert settings.event(999) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", None),
        (" ALL ", None),
        ("456, 789", [456, 789]),
        ("456 789", [456, 789]),
        ("[1, 2]", [1, 2]),
        ('[{"id": 5, "bibs": "1-2"}]', [5]),
    ],
)
def test_events_from_the_environment(
    tmp_path: Path, value: str, expected: list[int] | None
) -> None:
    assert load(tmp_path, env={"SYNCER_EVENTS": value}).event_ids() == expected


# -- the API key ----------------------------------------------------------------------------------


def _credentials(tmp_path: Path, name: str = "api_key", text: str = "cred-key-1234\n") -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize("name", ["api_key", "syncer.api_key"])
def test_key_from_systemd_credential(tmp_path: Path, name: str) -> None:
    directory = _credentials(tmp_path, name, "  cred-key-1234 \n")
    settings = load(tmp_path, env={"CREDENTIALS_DIRECTORY": str(directory)})
    assert settings.require_key().get_secret_value() == "cred-key-1234"


def test_key_sources_in_order(tmp_path: Path) -> None:
    directory = _credentials(tmp_path)
    config = write_toml(tmp_path, BASE + 'key = "file-key-1234"\n')
    env = {"CREDENTIALS_DIRECTORY": str(directory)}
    assert load(tmp_path, env=env).require_key().get_secret_value() == "cred-key-1234"
    from_file = load(tmp_path, env=env, config=config)
    assert from_file.require_key().get_secret_value() == "file-key-1234"
    env["SYNCER_API_KEY"] = " env-key-1234 "
    from_env = load(tmp_path, env=env, config=config)
    assert from_env.require_key().get_secret_value() == "env-key-1234"


def test_missing_key_and_org(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "[download]\nworkers = 2\n")
    settings = load(tmp_path, config=config)  # loading works without them
    with pytest.raises(ConfigError) as key_error:
        settings.require_key()
    assert key_error.value.message == (
        f"no API key: set SYNCER_API_KEY, api.key in {config}, or a systemd credential 'api_key'"
    )
    assert key_error.value.exit_code == 78
    with pytest.raises(ConfigError, match=r"api\.org_id"):
        settings.require_org()
    with pytest.raises(ConfigError, match=r"storage\.root"):
        settings.require_root()


def test_empty_key_counts_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API key"):
        load(tmp_path, env={"SYNCER_API_KEY": "   "}).require_key()


def test_key_is_refused_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="command line") as info:
        load(tmp_path, overrides={"api": {"key": SECRET}})
    assert SECRET not in str(info.value)


def test_key_never_shown(tmp_path: Path) -> None:
    config = write_toml(tmp_path, BASE + f'key = "{SECRET}"\n')
    settings = load(tmp_path, config=config)
    masked = masked_settings(settings)
    assert masked["api"]["key"] == MASK
    for text in (repr(settings), str(settings), json.dumps(masked), repr(settings.api)):
        assert SECRET not in text
    assert SECRET not in settings.model_dump_json()
    assert settings.require_key().get_secret_value() == SECRET


def test_masked_settings_without_key_is_null_and_json_able(tmp_path: Path) -> None:
    masked = masked_settings(load(tmp_path, config=write_toml(tmp_path, BASE)))
    assert masked["api"]["key"] is None
    assert json.loads(json.dumps(masked)) == masked
    assert masked["storage"]["min_free"] == 2 * 1024**3


def test_masked_settings_hide_a_ledger_url_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://syncer:p%40ss:w@rd@db.example:5432/syncer?sslmode=require"
    config = write_toml(tmp_path, BASE + f'[storage]\nledger = "{url}"\n')
    masked = masked_settings(load(tmp_path, config=config))
    assert masked["storage"]["ledger"] == (
        f"postgresql+psycopg://syncer:{MASK}@db.example:5432/syncer?sslmode=require"
    )


@pytest.mark.parametrize(
    "value",
    [
        "postgresql+psycopg://syncer@db.example/syncer",
        "postgresql+psycopg:///syncer?host=/run/postgresql",
        "sqlite:////var/lib/syncer/ledger.sqlite3",
        "/var/lib/syncer/ledger.sqlite3",
    ],
)
def test_ledger_values_without_a_password_are_shown_as_they_are(value: str) -> None:
    assert masked_url(value) == value


@pytest.mark.parametrize(
    ("mode", "with_key", "warned"),
    [(0o644, True, True), (0o640, True, True), (0o600, True, False), (0o644, False, False)],
)
def test_warns_when_a_file_with_the_key_is_readable_by_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, with_key: bool, warned: bool
) -> None:
    text = BASE + (f'key = "{SECRET}"\n' if with_key else "")
    config = write_toml(tmp_path, text, mode=mode)
    with caplog.at_level(logging.WARNING, logger="syncer.config"):
        load(tmp_path, config=config)
    messages = [r.getMessage() for r in caplog.records if r.name == "syncer.config"]
    assert bool(messages) is warned
    assert all(SECRET not in message for message in messages)
    if warned:
        assert "chmod 600" in messages[0]


def test_bare_settings_ignore_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DOWNLOAD__WORKERS", "3")
    assert Settings().download.workers == 8


def test_the_obsolete_processes_setting_is_accepted_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.model_validate({"download": {"processes": 2, "workers": 3}})
    assert settings.download.workers == 3
    assert "download.processes is no longer used" in caplog.text


# -- download concurrency ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "overrides", "expected"),
    [
        ("", {}, None, Span(4, 32, 8)),  # adaptive by default
        ("[download]\nworkers = 8\n", {}, None, Span.pinned(8)),  # an existing config keeps 8
        ("", {"SYNCER_DOWNLOAD__WORKERS": "3"}, None, Span.pinned(3)),
        ("", {}, {"download": {"workers": 12}}, Span.pinned(12)),  # --workers
        ("[download]\nworkers_min = 2\nworkers_max = 6\n", {}, None, Span(2, 6, 6)),
        ("[download]\nworkers_min = 10\n", {}, None, Span(10, 32, 10)),
    ],
)
def test_workers_set_by_the_user_pin_the_concurrency(
    tmp_path: Path,
    text: str,
    env: dict[str, str],
    overrides: dict[str, dict[str, int]] | None,
    expected: Span,
) -> None:
    config = write_toml(tmp_path, BASE + text)
    settings = load(tmp_path, env=env, config=config, overrides=overrides)
    assert CycleWiring.build(settings, None).tuning.concurrency == expected


def test_workers_max_below_workers_min_is_a_config_error(tmp_path: Path) -> None:
    config = write_toml(tmp_path, BASE + "[download]\nworkers_min = 9\nworkers_max = 5\n")
    with pytest.raises(ConfigError, match="workers_max must not be smaller than workers_min"):
        load(tmp_path, config=config)
