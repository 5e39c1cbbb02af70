"""Where values come from: an injected environment, the TOML file, systemd credentials.

The sources read the :data:`LOADING` context that :func:`syncer.config.load_settings` sets, so
no module reads ``os.environ`` on its own; a bare ``Settings(...)`` sees an empty environment.
"""

from __future__ import annotations

import os
import pwd
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource

from syncer.errors import ConfigError

CREDENTIAL_NAMES = ("api_key", "syncer.api_key")


@dataclass
class LoadContext:
    env: Mapping[str, str]
    cwd: Path
    path: Path | None
    toml_data: dict[str, Any] = field(default_factory=dict)
    credential: str | None = None


LOADING: ContextVar[LoadContext | None] = ContextVar("syncer_config_loading", default=None)


def env_source(settings_cls: type[BaseSettings], ctx: LoadContext) -> EnvSettingsSource:
    """The ``SYNCER_*`` variables of the injected environment; SYNCER_API_KEY means api.key.

    pydantic-settings' own source, given the injected variables through its public
    ``env_vars`` mapping (names lower-cased: the settings are case-insensitive).
    """
    variables = {name.lower(): value for name, value in ctx.env.items()}
    if "syncer_api_key" in variables:
        variables.setdefault("syncer_api__key", variables["syncer_api_key"])
    source = EnvSettingsSource(settings_cls)
    source.env_vars = variables
    return source


def toml_source(settings_cls: type[BaseSettings], ctx: LoadContext) -> InitSettingsSource:
    """The config file's values (read by :func:`read_toml`) as a pydantic-settings source."""
    return InitSettingsSource(settings_cls, init_kwargs=ctx.toml_data)


def read_toml(path: Path, ctx: LoadContext) -> dict[str, Any]:
    """The config file, with relative storage paths taken relative to the file's folder.

    OSError (unreadable), UnicodeDecodeError or tomllib.TOMLDecodeError for a bad file.
    """
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    storage = data.get("storage")
    if isinstance(storage, dict):
        for name in ("root", "ledger"):
            if isinstance(storage.get(name), str):
                storage[name] = absolute(storage[name], path.parent, ctx)
    return data


def fallbacks(ctx: LoadContext) -> dict[str, Any]:
    """Lowest-priority values: the default ledger location and a systemd credential."""
    values: dict[str, Any] = {"storage": {"ledger": str(default_ledger(ctx.env))}}
    key = ctx.credential = credential_key(ctx.env)
    if key is not None:
        values["api"] = {"key": key}
    return values


def default_ledger(env: Mapping[str, str]) -> Path:
    """$STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/syncer, else ~/.local/state/syncer."""
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "ledger.sqlite3"
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else home(env) / ".local" / "state"
    return base / "syncer" / "ledger.sqlite3"


def credential_key(env: Mapping[str, str]) -> str | None:
    """The API key from ``$CREDENTIALS_DIRECTORY/api_key`` (or ``syncer.api_key``)."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    for name in CREDENTIAL_NAMES if directory else ():
        path = Path(directory or "") / name
        try:
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"config: cannot read credential {path}: {reason(exc)}") from None
        if key:
            return key
    return None


def absolute(value: str, base: Path, ctx: LoadContext) -> str:
    """Expand ``~`` and anchor a relative path at ``base``; URLs are left alone."""
    if "://" in value or value.startswith("sqlite:"):
        return value
    if value == "~" or value.startswith("~/"):
        value = str(home(ctx.env)) + value[1:]
    return str(base / value)


def home(env: Mapping[str, str]) -> Path:
    """$HOME of the injected environment, else the user's home from the password database."""
    value = env.get("HOME", "")
    return Path(value) if os.path.isabs(value) else Path(pwd.getpwuid(os.getuid()).pw_dir)


def reason(exc: BaseException) -> str:
    """A short lower-case reason for an I/O or parse failure."""
    if isinstance(exc, OSError):
        return (exc.strerror or exc.__class__.__name__).lower()
    return str(exc)
