"""One version everywhere: the package constant, the project metadata and the User-Agent;
one distribution name that is not the unrelated ``syncer`` on the package index."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from syncer import __version__
from syncer.api.client import DEFAULT_USER_AGENT

ROOT = Path(__file__).resolve().parents[2]


DISTRIBUTION = "ninepic-syncer"


def project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(data["project"])


def test_the_constant_matches_pyproject_and_the_installed_metadata() -> None:
    assert __version__ == project()["version"] == metadata.version(DISTRIBUTION)


def test_the_distribution_is_ninepic_syncer_with_the_syncer_command() -> None:
    assert project()["name"] == DISTRIBUTION
    assert project()["scripts"] == {"syncer": "syncer.cli:main"}
    commands = metadata.distribution(DISTRIBUTION).entry_points.select(group="console_scripts")
    assert {(ep.name, ep.value) for ep in commands} == {("syncer", "syncer.cli:main")}


def test_the_user_agent_names_the_version() -> None:
    assert f"syncer/{__version__}" == DEFAULT_USER_AGENT
