"""Finding the config file and building the settings once, with one-line errors."""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from syncer.config.messages import describe, scrub, settings_error, source_of
from syncer.config.settings import Settings
from syncer.config.sources import LOADING, LoadContext, absolute, home, read_toml, reason
from syncer.errors import ConfigError, denied

SYSTEM_CONFIG = Path("/etc/syncer/config.toml")
ENV_NAMES = {"api_key", "config"}  # SYNCER_API_KEY, SYNCER_CONFIG: not sections
LOG = logging.getLogger("syncer.config")


def config_candidates(env: Mapping[str, str], cwd: Path) -> list[Path]:
    """Where a config file is looked for, in order, when none is named."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    config_home = Path(xdg) if os.path.isabs(xdg) else home(env) / ".config"
    return [cwd / "syncer.toml", config_home / "syncer" / "config.toml", SYSTEM_CONFIG]


def find_config(config_path: Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The explicit file (``--config`` or SYNCER_CONFIG), else the first existing candidate.

    Naming ``/dev/null`` means "no file": defaults and the environment only.
    """
    named = config_path or (Path(env["SYNCER_CONFIG"]) if env.get("SYNCER_CONFIG") else None)
    if named is None:
        return next((path for path in config_candidates(env, cwd) if _found(path)), None)
    path = named if named.is_absolute() else cwd / named
    if path == Path(os.devnull):
        return None
    try:
        if path.is_file():
            return path
    except PermissionError:
        raise ConfigError(f"config: cannot read {path}: {denied(path)}") from None
    if path.is_dir():
        raise ConfigError(f"config: {path} is a folder, not a config file")
    if path.exists():
        raise ConfigError(f"config: {path} is not a regular file")
    raise ConfigError(f"config: file not found: {path}")


def _found(path: Path) -> bool:
    """A candidate file of the search; a folder this user may not enter is skipped."""
    try:
        return path.is_file()
    except PermissionError:
        LOG.debug("config: skipping %s: %s", path, denied(path))
        return False


def load_settings(
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings once; ConfigError (one line, never the key) on any problem."""
    env = dict(os.environ) if env is None else dict(env)
    cwd = cwd or Path.cwd()
    init = _prune(overrides or {})
    if "key" in init.get("api", {}):
        raise ConfigError("config: the API key cannot be given on the command line (see --help)")
    _check_env_names(env)
    ctx = LoadContext(env=env, cwd=cwd, path=find_config(config_path, env, cwd))
    if ctx.path is not None:
        try:
            ctx.toml_data = read_toml(ctx.path, ctx)
        except (OSError, ValueError) as exc:  # unreadable, bad TOML, not UTF-8
            raise ConfigError(f"config: {ctx.path}: {_file_problem(exc)}") from None
    token = LOADING.set(ctx)
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        raise ConfigError(scrub(describe(exc, ctx, init), ctx)) from None
    except SettingsError as exc:
        raise ConfigError(settings_error(exc, ctx)) from None
    finally:
        LOADING.reset(token)
    settings = _finish(settings, ctx)
    settings._origins = _origins(settings, ctx, init)
    _warn_if_exposed(ctx)
    return settings


def _check_env_names(env: Mapping[str, str]) -> None:
    """A ``SYNCER_*`` variable naming no section is a typo: an error, like an unknown key."""
    sections = sorted(Settings.model_fields)
    for name in sorted(env):
        rest = name.lower().removeprefix("syncer_")
        if rest == name.lower() or rest in ENV_NAMES or rest in sections:
            continue
        section, nested, _key = rest.partition("__")
        if not nested and not _looks_like_setting(rest, sections):
            continue  # not one of ours: e.g. a wrapper script's own variable
        if section in sections:
            continue  # SYNCER_DOWNLOAD__WORKRS: the key is checked with the other values
        what = f"section {section!r}" if nested else "setting"
        hint = _env_hint(rest, sections)
        raise ConfigError(f"config: unknown {what} in environment variable {name}{hint}")


def _looks_like_setting(rest: str, sections: list[str]) -> bool:
    """SYNCER_LOG_LEVEL (one underscore) or SYNCER_EVENT: near a real name."""
    if any(rest.startswith(section + "_") for section in sections):
        return True
    return bool(difflib.get_close_matches(rest, sections, n=1, cutoff=0.8))


def _env_hint(rest: str, sections: list[str]) -> str:
    section, nested, key = rest.partition("__")
    if not nested:
        for known in sections:
            if rest.startswith(known + "_"):
                return f"; did you mean SYNCER_{known.upper()}__{rest[len(known) + 1 :].upper()}?"
    close = difflib.get_close_matches(section, sections, n=1, cutoff=0.6)
    if not close:
        return f"; sections are {', '.join(sections)}"
    suffix = f"__{key.upper()}" if nested else ""
    return f"; did you mean SYNCER_{close[0].upper()}{suffix}?"


def _file_problem(exc: OSError | ValueError) -> str:
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"invalid TOML: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, PermissionError) and exc.filename:
        return denied(Path(exc.filename))
    return reason(exc)


def _finish(settings: Settings, ctx: LoadContext) -> Settings:
    storage = settings.storage
    updates: dict[str, Any] = {"ledger": absolute(storage.ledger, ctx.cwd, ctx)}
    if storage.root is not None:
        updates["root"] = Path(absolute(str(storage.root), ctx.cwd, ctx))
    settings = settings.model_copy(update={"storage": storage.model_copy(update=updates)})
    settings._source_path = ctx.path
    settings._base_dir = ctx.path.parent if ctx.path else ctx.cwd
    for index, event in enumerate(settings.events if not isinstance(settings.events, str) else ()):
        try:
            event.bib_list(settings.base_dir)
        except ConfigError as exc:
            where = f"events[{index}] (event {event.id})"
            raise ConfigError(f"config: {where}: {exc.message}") from None
    return settings


def _origins(settings: Settings, ctx: LoadContext, init: Mapping[str, Any]) -> dict[str, str]:
    """``section.key`` (and ``events``) -> where its effective value came from."""
    origins = {"events": source_of(("events",), ctx, init)}
    for section in Settings.model_fields:
        value = getattr(settings, section)
        for key in getattr(type(value), "model_fields", {}):
            origins[f"{section}.{key}"] = source_of((section, key), ctx, init)
    return origins


def _warn_if_exposed(ctx: LoadContext) -> None:
    api = ctx.toml_data.get("api")
    if ctx.path is None or not isinstance(api, dict) or "key" not in api:
        return
    mode = ctx.path.stat().st_mode
    if mode & 0o077:
        LOG.warning(
            "%s holds api.key but is readable by other users (mode %o); run: chmod 600 %s",
            ctx.path,
            mode & 0o777,
            ctx.path,
        )


def _prune(values: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides without the flags that were not given (None)."""
    pruned: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            value = _prune(value)
        if value is not None and value != {}:
            pruned[name] = value
    return pruned
