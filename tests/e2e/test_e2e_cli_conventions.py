"""Command-line conventions through the real CLI: global flags on either side of the command,
log levels and timestamps, --json output on success and failure, BIB and environment typos."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

from harness.e2e import SYNCER, World, files_under, run_cli, run_ok

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _log_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("syncer: ")]


def test_global_options_work_after_the_command(world: World) -> None:
    after = subprocess.run(
        [
            SYNCER,
            "config",
            "check",
            "--json",
            "--config",
            str(world.config),
            "--log-level",
            "debug",
        ],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["api"]["org_id"] == world.sim.org_id
    assert json.loads(after.stdout)["log"]["level"] == "debug"
    both = run_ok(world, "-q", "db", "upgrade", "--log-format", "json", "-v")
    assert both.stdout.startswith("ledger ")
    lines = _log_lines(both.stderr)
    assert lines
    assert all(json.loads(line)["time"] for line in lines)
    assert any(json.loads(line)["level"] == "debug" for line in lines)  # -v after -q wins


def test_log_level_from_the_file_and_the_environment(world: World) -> None:
    world.write_config(extra='[log]\nlevel = "warning"\nprogress_interval = "0.001s"\n')
    quiet = run_ok(world, "sync", "--no-progress")
    assert not [line for line in _log_lines(quiet.stderr) if " INFO " in line], quiet.stderr
    world.extra_env["SYNCER_LOG__LEVEL"] = "debug"
    loud = run_ok(world, "sync", "--no-progress")
    assert any(" DEBUG " in line for line in _log_lines(loud.stderr)), loud.stderr
    flagged = run_ok(world, "sync", "--no-progress", "--log-level", "critical")
    assert _log_lines(flagged.stderr) == []


def test_verbose_and_quiet_shorthands(world: World) -> None:
    world.write_config(extra='[log]\nprogress_interval = "0.001s"\n')  # INFO lines to hide
    verbose = run_ok(world, "-v", "db", "upgrade")
    assert any(" DEBUG " in line for line in _log_lines(verbose.stderr)), verbose.stderr
    normal = run_ok(world, "sync", "--no-progress")
    assert any(" INFO " in line for line in _log_lines(normal.stderr)), normal.stderr
    quiet = run_ok(world, "sync", "-q", "--no-progress")
    assert not [line for line in _log_lines(quiet.stderr) if " INFO " in line], quiet.stderr


def test_text_log_lines_carry_a_timestamp_unless_journald_stamps_them(
    world: World, tmp_path: Path
) -> None:
    stamped = run_ok(world, "-v", "db", "upgrade")
    lines = _log_lines(stamped.stderr)
    assert lines
    assert all(STAMP.match(line) for line in lines), lines
    journal = tmp_path / "journal.log"
    with journal.open("w") as stream:
        info = os.fstat(stream.fileno())
        env = {**world.env(), "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        subprocess.run(
            world.command("-v", "db", "upgrade"), env=env, stderr=stream, timeout=60, check=True
        )
    lines = _log_lines(journal.read_text())
    assert lines
    assert all(line.startswith(("DEBUG ", "INFO ")) for line in lines), lines
    # a JOURNAL_STREAM inherited from elsewhere (not our stderr) does not remove the stamp
    world.extra_env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino + 1}"
    lines = _log_lines(run_ok(world, "-v", "db", "upgrade").stderr)
    assert lines
    assert all(STAMP.match(line) for line in lines), lines


def test_sync_json_prints_the_summary_with_the_error_when_the_run_fails(world: World) -> None:
    world.extra_env["SYNCER_API_KEY"] = "not-a-valid-key"
    result = world.run("sync", "--json")
    assert result.returncode == 77, result.stderr
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 77
    assert "key" in summary["error"]
    assert summary["downloaded"] == 0
    assert summary["events"] == []
    assert "not-a-valid-key" not in result.stdout + result.stderr
    world.extra_env.pop("SYNCER_API_KEY")
    bad = world.run("sync", "--json", "--bibs", "")  # a bad flag: 78, still a summary object
    assert bad.returncode == 78
    assert json.loads(bad.stdout)["error"].startswith("--bibs: empty")


def test_sync_json_success_has_no_error_field(world: World) -> None:
    summary = json.loads(run_ok(world, "sync", "--json").stdout)
    assert summary["exit_code"] == 0
    assert "error" not in summary


def test_demo_json_prints_only_json(tmp_path: Path) -> None:
    result = run_cli("demo", str(tmp_path / "demo"), "--photos", "6", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert summary["downloaded"] >= 6


def test_empty_bib_spec_is_an_error_and_none_means_no_bibs(world: World) -> None:
    world.write_config(bibs="1-40")
    empty = world.run("sync", "--bibs", "")
    assert empty.returncode == 78, empty.stderr
    errors = [line for line in empty.stderr.splitlines() if line.startswith("syncer: error:")]
    assert len(errors) == 1, empty.stderr
    assert "--bibs none" in errors[0]
    assert not world.root.exists()
    blank = world.run("sync", "--bibs", "  ")
    assert blank.returncode == 78
    run_ok(world, "sync", "--bibs", "none", "--no-progress")
    folders = {Path(rel).parent.name for rel in files_under(world.root)}
    assert folders == {"_no_bib"}, folders
    assert world.sim.stats.api_by_route["bibs"] == 0  # no BIB searched at all


def test_a_typo_in_an_environment_section_is_an_error(world: World) -> None:
    world.extra_env["SYNCER_DOWNLOADS__WORKERS"] = "3"
    result = world.run("config", "check")
    assert result.returncode == 78
    assert result.stderr.count("\n") == 1, result.stderr
    assert "SYNCER_DOWNLOADS__WORKERS" in result.stderr
    assert "did you mean SYNCER_DOWNLOAD__WORKERS" in result.stderr
    world.extra_env.pop("SYNCER_DOWNLOADS__WORKERS")
    world.extra_env["SYNCER_LOG_LEVEL"] = "debug"
    single = world.run("config", "check")
    assert single.returncode == 78
    assert "did you mean SYNCER_LOG__LEVEL" in single.stderr


def test_config_check_says_where_each_value_came_from(world: World) -> None:
    world.extra_env["SYNCER_DOWNLOAD__WORKERS"] = "3"
    result = run_ok(world, "config", "check", "--log-level", "warning")
    lines = result.stdout.splitlines()
    assert f"org_id = {world.sim.org_id}  # file {world.config}" in lines
    assert "workers = 3  # environment SYNCER_DOWNLOAD__WORKERS" in lines
    assert 'key = "********"  # environment SYNCER_API_KEY' in lines
    assert 'level = "warning"  # flag' in lines
    assert "fsync = true  # default" in lines
    assert "# a sync has what it needs (organisation, key, root, events)" in lines
    data = json.loads(run_ok(world, "config", "check", "--json").stdout)
    assert data["origins"]["download.workers"] == "environment SYNCER_DOWNLOAD__WORKERS"
    assert data["missing"] == []


def test_config_check_of_the_example_names_what_a_sync_still_needs(
    world: World, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    env = {k: v for k, v in world.env().items() if k != "SYNCER_API_KEY"}
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        [SYNCER, "config", "check", "--config", str(example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78, result.stderr
    needs = result.stdout[result.stdout.index("# a sync still needs:") :]
    assert "no organisation: set api.org_id" in needs
    assert "no API key" in needs
    assert "no storage root" not in needs
    assert f'ledger = "{tmp_path}/.local/state/syncer/ledger.sqlite3"  # default' in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncer: error:")]
    assert len(errors) == 1, result.stderr
    assert "a sync cannot run yet" in errors[0]


def test_off_a_terminal_a_sync_logs_progress_lines(world: World) -> None:
    world.write_config(extra='[log]\nprogress_interval = "0.001s"\n')
    result = run_ok(world, "sync")
    progress = [line for line in result.stderr.splitlines() if "progress: event" in line]
    assert any("walked" in line and "pages" in line for line in progress), result.stderr
    files = [line for line in progress if "/30 files, " in line]
    assert files, result.stderr
    assert re.search(
        r"/30 files, [\d.]+ (kB|MB) of ~[\d.]+ (kB|MB), [\d.]+ (B|kB|MB)/s, ETA \d+s", files[-1]
    ), files[-1]
    assert all(STAMP.match(line) for line in progress)
    world.write_config()  # the default 30 s: a short sync logs no progress line
    world.sim.add_photos(world.event_id, 5)
    quiet = run_ok(world, "sync", "-v")
    assert "5 files to download" in quiet.stderr
    assert ": progress: " not in quiet.stderr


def test_on_a_terminal_bars_use_decimal_units_and_the_summary_has_its_own_line(
    world: World,
) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(
        world.command("sync"),
        env={**world.env(), "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 0
    screen = b"".join(chunks).decode()
    assert re.search(r"event \d+: +\d+%", screen), screen  # the files bar was drawn
    assert "iB" not in screen  # decimal units only (MB = 10^6), like the summary
    lines = screen.split("\r\n")  # the terminal turns each "\n" into "\r\n"
    summary = next(line for line in lines if "downloaded (" in line)
    assert re.match(r"(\x1b\[A)*\d+ downloaded \(\d", summary.split("\r")[-1]), repr(summary)
