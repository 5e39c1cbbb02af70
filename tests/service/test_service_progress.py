"""The daemon's log under a service manager: progress lines during a cycle (every
log.progress_interval), and no timestamps of its own where journald stamps each line."""

from __future__ import annotations

import os
import re
import subprocess

from harness.e2e import World
from harness.service import FAST_SCHEDULE, HEALTH_ON, DaemonRun, write_config

LEVEL_FIRST = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) syncer[.\w]*: ")


def test_daemon_logs_progress_lines_unstamped_under_journald(world: World) -> None:
    sections = {"schedule": FAST_SCHEDULE, "health": HEALTH_ON, "log": {"progress_interval": 0.001}}
    write_config(world, sections=sections)
    log_path = world.tmp / "journal.log"
    with log_path.open("wb") as sink:
        info = os.fstat(sink.fileno())
        process = subprocess.Popen(
            world.command("daemon"),
            env={**world.env(), "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    daemon = DaemonRun(process, log_path)
    try:
        daemon.wait_cycles(1)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    lines = [line for line in daemon.log().splitlines() if line.strip()]
    progress = [line for line in lines if ": progress: event" in line]
    assert any(re.search(r"\d+/12 files, ", line) for line in progress), daemon.log()
    assert all(LEVEL_FIRST.match(line) for line in lines), daemon.log()  # journald stamps them
