"""The API key stays secret; private files stay private; the simulator stays on loopback."""

from __future__ import annotations

import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.e2e import SYNCER
from harness.reliability import Gate, World, assert_complete, build_world, configure, sync
from syncer.sim import Faults, Simulator

KEY = "k903-Sup3rSecretKeyValue-7c41"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, photos=24, api_key=KEY)


def ledger_files(world: World) -> list[Path]:
    """The ledger, its WAL/SHM companions when present, and the lock file."""
    folder = world.ledger.parent
    return [p for p in folder.iterdir() if p.name.startswith(world.ledger.name)]


def assert_key_absent(world: World, *texts: str) -> None:
    for text in texts:
        assert KEY not in text
    for path in ledger_files(world):
        assert KEY.encode() not in path.read_bytes(), path
    assert world.sim.stats.storage_requests_with_api_key == 0


@pytest.mark.slow
def test_key_never_printed_at_debug_level_with_and_without_faults(world: World) -> None:
    clean = sync(world, options=("--log-level", "debug"))
    assert_key_absent(world, clean.stdout, clean.stderr)

    world.sim.add_photos(world.event_id, 12)
    world.sim.faults.retry_after = 0.1
    world.sim.faults.throttle_every = 4
    world.sim.faults.error_502_every = 6
    world.sim.faults.expire_first_presign = True
    world.sim.faults.drop_ids_every = 5
    world.sim.faults.corrupt_storage = "html200"
    world.sim.faults.corrupt_every = 4
    configure(world, api={"max_attempts": 6}, event={"bibs": "1-4"})
    faulty = sync(world, options=("--log-level", "debug", "--log-format", "json"), expect=(0, 4))
    assert world.sim.stats.throttled > 0
    assert world.sim.stats.errors_served.get(403)
    assert '"level": "debug"' in faulty.stderr  # the debug lines were really written
    assert_key_absent(world, faulty.stdout, faulty.stderr)

    world.sim.faults.reset()
    world.sim.revoke_key(KEY)
    refused = sync(world, options=("--log-level", "debug"), expect=(77,))
    checked = world.run("--log-level", "debug", "config", "check")
    assert checked.returncode == 0, checked.stderr
    assert "********" in checked.stdout
    assert_key_absent(world, refused.stdout, refused.stderr, checked.stdout, checked.stderr)


def test_key_absent_from_cmdline_and_private_files_while_syncing(tmp_path: Path) -> None:
    gate = Gate()
    faults = Faults(slow_storage_seconds=0.01)
    for world in build_world(tmp_path, photos=24, api_key=KEY, faults=faults, sleep=gate):
        process = world.start("--log-level", "debug", "sync", "--no-progress")
        seen: list[bytes] = []
        modes: dict[str, int] = {}
        try:
            assert gate.reached(), "no download started"  # the CLI is parked mid-download
            seen.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
            for path in ledger_files(world):
                seen.append(path.read_bytes())
                modes[path.name] = stat.S_IMODE(path.stat().st_mode)
        finally:
            gate.opened.set()
            out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert all(KEY.encode() not in blob for blob in seen)
        assert world.ledger.name + "-wal" in modes  # the WAL was looked at while it existed
        assert set(modes.values()) == {0o600}, modes
        assert KEY not in out + err
        assert_key_absent(world)
        after = {p.name: stat.S_IMODE(p.stat().st_mode) for p in ledger_files(world)}
        assert after[world.ledger.name] == after[world.ledger.name + ".lock"] == 0o600
        assert stat.S_IMODE(world.ledger.parent.stat().st_mode) == 0o700
        assert_complete(world)


def test_config_file_with_the_key_readable_by_others_is_warned_about(world: World) -> None:
    configure(world, api={"key": KEY})
    env = {k: v for k, v in world.env().items() if k != "SYNCER_API_KEY"}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SYNCER, "--config", str(world.config), "config", "check"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    world.config.chmod(0o644)
    exposed = check()
    assert exposed.returncode == 0, exposed.stderr
    assert "readable by other users" in exposed.stderr
    assert "chmod 600" in exposed.stderr
    world.config.chmod(0o600)
    private = check()
    assert private.returncode == 0, private.stderr
    assert "readable by other users" not in private.stderr
    for result in (exposed, private):
        assert KEY not in result.stdout + result.stderr


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_simulator_listens_on_loopback_only_by_default() -> None:
    with Simulator() as sim:
        url = urlsplit(sim.base_url)
        assert url.hostname == "127.0.0.1"
        assert url.port is not None
        assert _listening(url.port) == {"0100007F"}  # 127.0.0.1, nothing else

    process = subprocess.Popen(
        [SYNCER, "simulate", "--port", "0", "--photos-per-event", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        fields = dict(item.split("=", 1) for item in first.split())
        cli_url = urlsplit(fields["base_url"])
        assert cli_url.hostname == "127.0.0.1"
        assert cli_url.port is not None
        assert _listening(cli_url.port) == {"0100007F"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
