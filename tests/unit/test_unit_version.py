"""One version everywhere: the package constant, the project metadata and the User-Agent."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from syncer import __version__
from syncer.api.client import DEFAULT_USER_AGENT

ROOT = Path(__file__).resolve().parents[2]


def test_the_constant_matches_pyproject_and_the_installed_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert __version__ == project["version"] == metadata.version("syncer")


def test_the_user_agent_names_the_version() -> None:
    assert f"syncer/{__version__}" == DEFAULT_USER_AGENT
