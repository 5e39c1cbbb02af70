"""The demo leaves settings that work: start the simulator it names, and status/sync run."""

from __future__ import annotations

import shlex
import signal
import stat
import subprocess
import tomllib
from pathlib import Path

from harness.e2e import SYNCER, run_cli
from syncer.cli import build_parser
from syncer.sim.cli import build_parser as simulate_parser
from syncer.sim.config import DEFAULT_PORT


def test_demo_port_is_the_simulate_default() -> None:
    demo = build_parser().parse_args(["demo"])
    assert demo.port == DEFAULT_PORT == simulate_parser().parse_args([]).port


def test_after_the_demo_the_named_simulator_serves_its_settings(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo = run_cli(
        "demo", str(folder), "--photos", "12", "--port", "0", "--no-progress", cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    config = folder / "syncer.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    settings = tomllib.loads(config.read_text())
    assert settings["api"]["key"] == "demo-key-903"
    assert f"syncer --config {config} status" in demo.stdout
    command = next(line.strip() for line in demo.stdout.splitlines() if "syncer simulate" in line)
    words = shlex.split(command)
    assert words[:2] == ["syncer", "simulate"]
    assert "--photos-per-event" in words
    port = words[words.index("--port") + 1]
    assert settings["api"]["base_url"] == f"http://127.0.0.1:{port}"

    simulator = subprocess.Popen(
        [SYNCER, *words[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert simulator.stdout is not None
        first = simulator.stdout.readline()
        assert first.startswith(f"base_url=http://127.0.0.1:{port} "), first
        status = run_cli("--config", str(config), "status", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert "12 downloaded, 0 pending" in status.stdout
        again = run_cli("--config", str(config), "sync", "--no-progress", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "12 listed, 0 new, 0 downloaded, 0 failed" in again.stdout
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.communicate(timeout=10)  # reads and closes its pipes
    assert simulator.returncode == 0
