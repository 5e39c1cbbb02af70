"""The other commands through the real CLI: events, status, db upgrade, config check, demo."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from harness.e2e import SYNCER, World, run_cli, run_ok


def test_events_lists_the_organisation(world: World) -> None:
    listed = json.loads(run_ok(world, "events", "--json").stdout)
    assert {e["event_id"] for e in listed} == {e.event_id for e in world.sim.events()}
    text = run_ok(world, "events").stdout
    assert "Mumbai Marathon 2026" in text


def test_db_upgrade_creates_then_reports_current(world: World) -> None:
    first = run_ok(world, "db", "upgrade").stdout
    assert "migrated" in first
    assert world.ledger.is_file()
    assert "newest schema" in run_ok(world, "db", "upgrade").stdout


def test_config_check_masks_the_key(world: World) -> None:
    world.extra_env["SYNCER_DOWNLOAD__WORKERS"] = "3"
    result = run_ok(world, "config", "check", "--json")
    data = json.loads(result.stdout)
    assert data["download"]["workers"] == 3
    assert data["api"]["key"] == "********"
    assert world.sim.api_key not in result.stdout + result.stderr


def test_status_before_any_sync_is_empty_not_an_error(world: World) -> None:
    assert json.loads(run_ok(world, "status", "--json").stdout) == []


def test_missing_key_is_a_one_line_config_error(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    result = subprocess.run(
        [SYNCER, "--config", str(world.config), "sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert "no API key" in result.stderr
    assert not world.ledger.exists()
    assert not world.root.exists()


def test_wrong_key_exits_77(world: World) -> None:
    world.extra_env["SYNCER_API_KEY"] = "not-a-valid-key"
    result = world.run("sync")
    assert result.returncode == 77, result.stderr
    assert "not-a-valid-key" not in result.stderr


def test_a_reader_that_stops_early_is_no_error(world: World) -> None:
    """``syncer events | head -0``: exit 141 as a shell reports SIGPIPE, no internal error."""
    command = subprocess.Popen(
        world.command("events"),
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stdout is not None
    command.stdout.close()  # before syncer prints anything: it starts in a fraction of a second
    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 141, stderr
    assert stderr == ""


def test_demo_runs_in_one_command(tmp_path: Path) -> None:
    result = run_cli(
        "demo", str(tmp_path / "demo"), "--photos", "40", "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "40 downloaded" in result.stdout
    assert (tmp_path / "demo" / "syncer.toml").is_file()
    photos = [p for p in (tmp_path / "demo" / "photos").rglob("*.jpg")]
    assert len({p.name for p in photos}) == 40
