"""Every bad setting becomes one ConfigError line naming the key, the problem and the origin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.settings import SECRET, isolate, load, write_toml
from syncer.errors import ConfigError

KEYED = f'[api]\norg_id = 903\nkey = "{SECRET}"\n'


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


def _error(tmp_path: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **kwargs)  # type: ignore[arg-type]
    message = info.value.message
    assert message == str(info.value)
    assert info.value.exit_code == 78
    assert "\n" not in message
    assert "Traceback" not in message
    assert SECRET not in message
    assert "Very-Secret" not in message
    return message


# (TOML text, the message must contain each of these; "{file}" is the config path)
LONG_BIB = "7" * 65
FILE_CASES = {
    "unknown key": (
        '[storage]\nrooot = "/x"\n',
        ["config: unknown key storage.rooot (from {file})"],
    ),
    "unknown section": ("[storage2]\nroot = 1\n", ["unknown key storage2"]),
    "unknown top-level key": ("verbose = true\n", ["unknown key verbose"]),
    "wrong type": (
        '[download]\nworkers = "eight"\n',
        ["config: download.workers: Input should be a valid integer", "got 'eight' (from {file})"],
    ),
    "out of range": ("[download]\npresign_batch = 61\n", ["download.presign_batch", "60"]),
    "bad duration": (
        '[schedule]\ninterval = "15 minutes"\n',
        ["schedule.interval", "bad duration"],
    ),
    "negative duration": ("[schedule]\njitter = -1\n", ["schedule.jitter", ">= 0"]),
    "zero interval": ("[schedule]\ninterval = 0\n", ["schedule.interval", "greater than 0"]),
    "bad size": ('[storage]\nmin_free = "2 gallons"\n', ["storage.min_free", "bad size"]),
    "bad choice": ('[storage]\nlinks = "symlink"\n', ["storage.links", "'hardlink'", "'symlink'"]),
    "unknown placeholder": (
        '[storage]\nlayout = "{event}/{photographer}/{filename}"\n',
        ["storage.layout", "unknown placeholder {photographer}"],
    ),
    "template escaping the root": (
        '[storage]\nlayout = "{event}/../../{filename}"\n',
        ["storage.layout", "'..'"],
    ),
    "absolute template": ('[storage]\nlayout = "/etc/{filename}"\n', ["relative"]),
    "template that overwrites": ('[storage]\nlayout = "{event}/{bib}"\n', ["{filename}"]),
    "retry cap below base": ('[download]\nretry_base = "2h"\nretry_cap = "1h"\n', ["retry_cap"]),
    "remote health": (
        '[health]\nlisten = "0.0.0.0:9187"\n',
        ["health", "loopback", "allow_remote"],
    ),
    "bad listen": ('[health]\nlisten = "9187"\n', ["HOST:PORT"]),
    "bad url": ('[api]\nbase_url = "ftp://api.9pic.ai"\n', ["api.base_url", "http(s) URL"]),
    "org id zero": ("[api]\norg_id = 0\n", ["api.org_id", "greater than 0"]),
    "trash share": ("[storage]\ntrash_max_share = 1.5\n", ["storage.trash_max_share"]),
    "bad log level": ('[log]\nlevel = "loud"\n', ["log.level", "'loud'"]),
    "event without id": ('[[events]]\nbibs = "1-5"\n', ["events[0].id: required (from {file})"]),
    "event id twice": ("[[events]]\nid = 4\n[[events]]\nid = 4\n", ["event 4 is listed twice"]),
    "bad event field": ("[[events]]\nid = 4\nbibz = 5\n", ["unknown key events[0].bibz"]),
    "bad events value": ("events = 5\n", ['config: events: expected "all", event ids']),
    "reversed bib range": (
        '[[events]]\nid = 4\nbibs = "1-5,500-1"\n',
        ["config: events[0] (event 4): bibs: bad range '500-1'"],
    ),
    "missing bib file": (
        '[[events]]\nid = 4\nbibs = "@participants.csv"\n',
        ["bibs: cannot read @participants.csv: no such file"],
    ),
    "bib too long": (
        '[[events]]\nid = 4\nbibs = ["A/1", "' + LONG_BIB + '"]\n',
        ["bad BIB '" + LONG_BIB + "'", "longer than 64"],
    ),
    "toml syntax": ("[api]\norg_id = = 3\n", ["{file}", "line 3"]),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_file_errors(tmp_path: Path, case: str) -> None:
    text, expected = FILE_CASES[case]
    if "[api]" in text:  # put the key into every file, so no message can leak it
        text = text.replace("[api]\n", f'[api]\nkey = "{SECRET}"\n')
    else:
        text += KEYED
    config = write_toml(tmp_path, text)
    message = _error(tmp_path, config=config)
    assert message.startswith("config: ")
    for part in expected:
        assert part.replace("{file}", str(config)) in message


@pytest.mark.parametrize(
    "value",
    ["12345678", '["' + SECRET + '"]', '{ nested = "' + SECRET + '" }', "true"],
)
def test_key_of_the_wrong_type_is_named_but_never_shown(tmp_path: Path, value: str) -> None:
    config = write_toml(tmp_path, f"[api]\norg_id = 903\nkey = {value}\n")
    message = _error(tmp_path, config=config)
    assert "api.key" in message
    assert "12345678" not in message


def test_misplaced_key_value_is_not_shown(tmp_path: Path) -> None:
    config = write_toml(tmp_path, f'[api]\napi_key = "{SECRET}"\n')
    assert "unknown key api.api_key" in _error(tmp_path, config=config)


def test_section_of_the_wrong_type_does_not_echo_it(tmp_path: Path) -> None:
    config = write_toml(tmp_path, f'api = "{SECRET}"\n')
    assert "api:" in _error(tmp_path, config=config)


def test_errors_name_the_environment_variable(tmp_path: Path) -> None:
    env = {"SYNCER_DOWNLOAD__WORKERS": "eight", "SYNCER_API_KEY": SECRET}
    message = _error(tmp_path, env=env)
    assert message == (
        "config: download.workers: Input should be a valid integer, unable to parse string as an "
        "integer, got 'eight' (from environment SYNCER_DOWNLOAD__WORKERS)"
    )


def test_unknown_nested_environment_key(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"SYNCER_DOWNLOAD__WORKRS": "4"})
    assert (
        message == "config: unknown key download.workrs (from environment SYNCER_DOWNLOAD__WORKRS)"
    )


def test_section_level_error_names_the_variable(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"SYNCER_HEALTH__LISTEN": "10.0.0.1:80"})
    assert "(from environment SYNCER_HEALTH__LISTEN)" in message


def test_bad_json_section_in_the_environment(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"SYNCER_API": '{"key": "' + SECRET + '", oops'})
    assert message.startswith("config: api: cannot parse SYNCER_API")


@pytest.mark.parametrize("value", ["[oops", "1,x", "0"])
def test_bad_events_in_the_environment(tmp_path: Path, value: str) -> None:
    assert "events" in _error(tmp_path, env={"SYNCER_EVENTS": value})


def test_errors_name_the_command_line(tmp_path: Path) -> None:
    message = _error(tmp_path, overrides={"download": {"workers": 0}})
    assert message.startswith(
        "config: download.workers: Input should be greater than or equal to 1"
    )
    assert message.endswith("(from the command line)")


def test_several_problems_on_one_line(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[download]\nworkers = 0\nfsync = "maybe"\n[storage]\nx = 1\n')
    message = _error(tmp_path, config=config)
    assert message.count("; ") == 2
    for part in ("download.workers", "download.fsync", "unknown key storage.x"):
        assert part in message


def test_unreadable_credential(tmp_path: Path) -> None:
    (tmp_path / "creds" / "api_key").mkdir(parents=True)  # a directory cannot be read as a file
    message = _error(tmp_path, env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert message.startswith(f"config: cannot read credential {tmp_path / 'creds' / 'api_key'}")


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"[api]\norg_id = 1\n# \xff\xfe\n")
    message = _error(tmp_path, config=config)
    assert message.startswith(f"config: {config}: ")


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "syncer.toml").mkdir()
    settings = load(tmp_path)  # a directory is not a config file: discovery skips it
    assert settings.source_path is None
    message = _error(tmp_path, config=tmp_path / "syncer.toml")
    assert message == f"config: {tmp_path / 'syncer.toml'} is a folder, not a config file"


def test_config_that_is_no_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    assert _error(tmp_path, config=fifo) == f"config: {fifo} is not a regular file"


def test_dev_null_as_config_means_no_file(tmp_path: Path) -> None:
    (tmp_path / "syncer.toml").write_text("[api]\norg_id = 5\n", encoding="utf-8")
    settings = load(tmp_path, config=Path(os.devnull))  # not even the discovered file
    assert settings.source_path is None
    assert settings.api.org_id != 5
