"""One-line descriptions of validation failures: key path, problem, origin; never the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from syncer.config.sections import UNION_TAGS
from syncer.config.settings import MASK
from syncer.config.sources import LoadContext


def describe(exc: ValidationError, ctx: LoadContext, init: Mapping[str, Any]) -> str:
    """``config: <key>: <problem> (from <origin>)`` for every error, on one line."""
    problems = []
    for error in exc.errors():
        loc = tuple(part for i, part in enumerate(error["loc"]) if not _is_tag(error["loc"], i))
        path = _format_loc(loc)
        if error["type"] == "extra_forbidden":
            text = f"unknown key {path}"
        elif error["type"] == "missing":
            text = f"{path}: required"
        else:
            text = f"{path}: {error['msg'].removeprefix('Value error, ')}"
            if error["type"] != "value_error" and _showable(loc, error.get("input")):
                text += f", got {error['input']!r}"
        where = loc[:-1] if error["type"] == "missing" else loc
        problems.append(text + _origin(where, ctx, init))
    return "config: " + "; ".join(problems)


def _is_tag(loc: tuple[int | str, ...], index: int) -> bool:
    return index > 0 and loc[index - 1] == "events" and loc[index] in UNION_TAGS


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _showable(loc: tuple[int | str, ...], value: object) -> bool:
    secret = loc[:2] == ("api", "key") or loc == ("api",)
    plain = isinstance(value, str | int | float | bool) and len(repr(value)) <= 80
    return plain and not secret


def _origin(loc: tuple[int | str, ...], ctx: LoadContext, init: Mapping[str, Any]) -> str:
    """Where the offending value came from, in the order the sources take precedence."""
    if _lookup(init, loc):
        return " (from the command line)"
    variable = _env_origin(loc, {name.upper() for name in ctx.env})
    if variable:
        return f" (from environment {variable})"
    if ctx.path is not None and _lookup(ctx.toml_data, loc):
        return f" (from {ctx.path})"
    return ""


def source_of(loc: tuple[int | str, ...], ctx: LoadContext, init: Mapping[str, Any]) -> str:
    """Where the effective value at ``loc`` came from: flag, environment, file or default."""
    if _lookup(init, loc):
        return "flag"
    names = {name.upper() for name in ctx.env}
    exact = "SYNCER_" + "__".join(str(part) for part in loc).upper()
    whole = "SYNCER_" + str(loc[0]).upper()  # a section given as JSON
    for variable in (exact, "SYNCER_API_KEY" if loc == ("api", "key") else "", whole):
        if variable in names:
            return f"environment {variable}"
    if ctx.path is not None and _lookup(ctx.toml_data, loc):
        return f"file {ctx.path}"
    if loc == ("api", "key") and ctx.credential:
        return "systemd credential"
    return "default"


def _env_origin(loc: tuple[int | str, ...], names: set[str]) -> str | None:
    if loc[:1] == ("api",) and loc[1:2] in {(), ("key",)} and "SYNCER_API_KEY" in names:
        return "SYNCER_API_KEY"
    for depth in range(len(loc), 0, -1):
        name = "SYNCER_" + "__".join(str(part) for part in loc[:depth]).upper()
        nested = sorted(other for other in names if other.startswith(name + "__"))
        if name in names or nested:
            return name if name in names else nested[0]
    return None


def _lookup(data: Any, loc: tuple[int | str, ...]) -> bool:
    """True when ``loc`` names a value present in nested dicts/lists ``data``."""
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
            continue
        if isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
            continue
        return False
    return True


def settings_error(exc: SettingsError, ctx: LoadContext) -> str:
    """A value pydantic-settings could not decode (a section given as bad JSON in the env)."""
    match = re.search(r'field "(\w+)"', str(exc))
    if match is None:
        return scrub(f"config: {exc}", ctx)
    name = match.group(1)
    return (
        f"config: {name}: cannot parse SYNCER_{name.upper()} (a section needs JSON; "
        f"or set single keys such as SYNCER_{name.upper()}__<KEY>)"
    )


def scrub(message: str, ctx: LoadContext) -> str:
    """Belt and braces: remove any API key value that might have slipped into a message."""
    secrets = [ctx.env.get(name, "") for name in ("SYNCER_API_KEY", "SYNCER_API__KEY")]
    secrets.append(ctx.credential or "")
    api = ctx.toml_data.get("api")
    if isinstance(api, dict) and isinstance(api.get("key"), str):
        secrets.append(api["key"])
    for secret in (s.strip() for s in secrets):
        if len(secret) >= 4:
            message = message.replace(secret, MASK)
    return message.replace("\n", " ")
