"""Places this user may not enter, through the real CLI run as an unprivileged user: a config
folder met by the search is skipped, an explicit one is a one-line error (78), and a ledger
folder that cannot be entered is a one-line error (74) for every command that opens it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import World, make_world
from harness.reliability import Outcome, assert_one_line_error


@pytest.fixture
def open_world() -> Iterator[World]:
    """A world in a folder other users may enter (pytest's own tmp folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="syncer-perm-"))
    folder.chmod(0o755)
    try:
        for world in make_world(folder):
            world.config.chmod(0o644)  # readable by others whatever umask the process has now
            yield world
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def unprivileged(
    world: World, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Outcome:
    """Run ``syncer`` as a user the permission bits apply to (nobody, when tests run as root)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("tests run as root and setpriv is missing: permission bits do not bite")
        nobody = pwd.getpwnam("nobody")
        prefix = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "syncer", *args],
        env={**world.env(), "HOME": str(world.tmp), **(env or {})},
        cwd=cwd or world.tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Outcome(result, 0.0)


def test_a_ledger_folder_that_cannot_be_entered_is_one_line_exit_74(open_world: World) -> None:
    world = open_world
    assert world.run("db", "upgrade").returncode == 0  # made by its owner, in a 0700 folder
    world.ledger.parent.chmod(0o750)
    for command in (("status",), ("verify",), ("db", "upgrade"), ("sync", "--dry-run")):
        outcome = unprivileged(world, "--config", str(world.config), *command)
        line = assert_one_line_error(outcome, 74, str(world.ledger.parent), "permission denied")
        assert "cannot enter" in line
        assert "mode 0750" in line
        assert "fix:" in line


def test_a_ledger_file_of_another_user_is_one_line_exit_74(open_world: World) -> None:
    world = open_world
    assert world.run("db", "upgrade").returncode == 0
    world.ledger.parent.chmod(0o755)  # the folder may be entered, the file (0600) not read
    for command, need in ((("status",), "read and write"), (("sync", "--dry-run"), "read ")):
        outcome = unprivileged(world, "--config", str(world.config), *command)
        assert_one_line_error(outcome, 74, str(world.ledger), f"cannot {need}", "mode 0600")


def test_an_explicit_config_that_cannot_be_read_is_one_line_exit_78(open_world: World) -> None:
    world = open_world
    private = world.tmp / "etc-syncer"
    private.mkdir(mode=0o750)
    config = shutil.copy(world.config, private / "config.toml")
    outcome = unprivileged(world, "--config", str(config), "status")
    line = assert_one_line_error(outcome, 78, str(private), "permission denied", "fix:")
    assert "cannot enter" in line
    unreadable = world.tmp / "secret.toml"
    shutil.copy(world.config, unreadable)
    unreadable.chmod(0o600)
    outcome = unprivileged(world, "--config", str(unreadable), "status")
    assert_one_line_error(outcome, 78, str(unreadable), "cannot read", "mode 0600", "fix:")


def test_the_search_skips_a_config_folder_it_cannot_enter(open_world: World) -> None:
    world = open_world
    xdg = world.tmp / "xdg"
    (xdg / "syncer").mkdir(parents=True)
    shutil.copy(world.config, xdg / "syncer" / "config.toml")
    (xdg / "syncer").chmod(0o750)
    home = world.tmp / "home"  # the user's own folder, without a syncer.toml
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, pwd.getpwnam("nobody").pw_uid, -1)
    ledger = home / "state" / "ledger.sqlite3"
    env = {"XDG_CONFIG_HOME": str(xdg), "SYNCER_STORAGE__LEDGER": str(ledger)}
    outcome = unprivileged(world, "-v", "db", "upgrade", env=env, cwd=home)
    assert outcome.code == 0, outcome
    assert "Traceback" not in outcome.stderr
    skipped = [line for line in outcome.stderr.splitlines() if "skipping" in line]
    assert len(skipped) == 1, outcome
    assert " DEBUG " in skipped[0]
    assert str(xdg / "syncer") in skipped[0]
    assert "defaults and environment" in outcome.stderr  # no file was used
    assert ledger.is_file()
