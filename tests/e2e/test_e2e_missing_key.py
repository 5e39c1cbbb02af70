"""A missing API key is a configuration error (exit 78, as the README's table says) for every
command that needs it, the daemon included: systemd does not restart a 78."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.e2e import SYNCER, World


@pytest.mark.parametrize("command", [["sync"], ["events"], ["daemon"]])
def test_a_missing_key_exits_78_at_once(world: World, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    result = subprocess.run(
        [SYNCER, "--config", str(world.config), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 78, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncer: error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("syncer: error: no API key: set SYNCER_API_KEY")
    assert "Traceback" not in result.stderr
    assert not world.ledger.exists()
    assert not world.root.exists()


def test_a_failed_json_sync_into_a_closed_pipe_keeps_its_exit_code(world: World) -> None:
    """``syncer sync --json | head -0`` without a key: the error line, exit 78, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    command = subprocess.Popen(
        [SYNCER, "--config", str(world.config), "sync", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stdout is not None
    command.stdout.close()  # the reader is gone before the summary object is printed
    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 78, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("syncer: error: no API key")
