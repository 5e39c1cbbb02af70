"""Helpers shared by the settings tests: config files in tmp_path and an isolated loader."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from syncer.config import Settings, load_settings
from syncer.config import loading as config_loading

SECRET = "k3y-Very-Secret-Value-0123456789"  # noqa: S105 - a fake key that must never leak


def write_toml(directory: Path, text: str, name: str = "config.toml", mode: int = 0o600) -> Path:
    """A config file with the given text and permissions."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the system-wide config path at a file that does not exist; returns it."""
    system = tmp_path / "etc" / "syncer" / "config.toml"
    monkeypatch.setattr(config_loading, "SYSTEM_CONFIG", system)
    return system


def load(
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """load_settings with an explicit, otherwise empty environment and tmp_path as cwd."""
    base_env = {"HOME": str(tmp_path / "home")}
    base_env.update(env or {})
    return load_settings(config_path=config, overrides=overrides, env=base_env, cwd=tmp_path)
