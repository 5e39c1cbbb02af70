"""Dependency arrows of the service modules, checked on their source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "syncer"
MODULES = ("cadence", "schedule", "runner", "outcomes", "daemon", "notify", "health", "metrics")


def imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def syncer_imports(module: str) -> set[str]:
    return {name.removeprefix("syncer.") for name in imports(module) if name.startswith("syncer.")}


def test_the_schedule_is_pure_logic() -> None:
    assert syncer_imports("cadence") == {"errors", "report"}
    assert syncer_imports("schedule") == {"cadence", "report"}


def test_lifecycle_and_outcomes_are_apart() -> None:
    """The lifecycle reaches metrics, health and systemd only through the outcomes."""
    assert syncer_imports("runner") == {"cadence", "errors", "outcomes", "report", "schedule"}
    assert "notify" not in syncer_imports("daemon")
    assert not {"daemon", "runner", "schedule"} & syncer_imports("outcomes")


def test_notify_uses_the_standard_library_only() -> None:
    assert {name.split(".")[0] for name in imports("notify")} <= {
        "__future__",
        "logging",
        "os",
        "socket",
        "threading",
        "time",
        "collections",
    }


@pytest.mark.parametrize(("library", "owners"), [("prometheus_client", {"metrics"})])
def test_each_library_lives_in_one_module(library: str, owners: set[str]) -> None:
    users = {m for m in MODULES if any(n.split(".")[0] == library for n in imports(m))}
    assert users == owners


def test_the_daemon_receives_the_cycle_instead_of_importing_it() -> None:
    allowed = {
        "syncer.errors",
        "syncer.report",
        "syncer.health",
        "syncer.metrics",
        "syncer.notify",
        "syncer.config",
        "syncer.cadence",
        "syncer.schedule",
        "syncer.runner",
        "syncer.outcomes",
    }
    for module in MODULES:
        ours = {name for name in imports(module) if name.split(".")[0] == "syncer"}
        assert ours <= allowed, f"syncer.{module} imports {ours - allowed}"
