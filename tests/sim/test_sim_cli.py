"""``python -m syncer.sim.cli``: prints where it listens, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tls_ca import ThrowawayCA

from syncer.sim.cli import build_parser, main


def test_subprocess_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "syncer.sim.cli", "--port", "0", "--photos-per-event", "3"]
    command += ["--photo-bytes", "5000", "--throttle-every", "1000", "--retry-after", "date"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline().split()
            fields = dict(part.split("=", 1) for part in first)
            assert list(fields) == ["base_url", "org_id", "api_key"]
            assert fields["base_url"].startswith("http://127.0.0.1:")
            url = f"{fields['base_url']}/api/v1/ext/{fields['org_id']}/event/456/ping"
            curl = subprocess.run(
                ["curl", "-sS", "-H", f"X-API-Key: {fields['api_key']}", url],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            assert '"status":"ok"' in curl.stdout
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


SMALL = ["--port", "0", "--events", "2", "--photos-per-event", "2", "--photo-bytes", "1000"]


@contextmanager
def running(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Iterator[str]:
    """``syncer simulate argv`` in a thread of this process: its base URL; it must stop with
    exit 0 when the block ends."""
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(argv, stop=stop)))
    thread.start()
    deadline = time.monotonic() + 10
    while "base_url=" not in (out := capsys.readouterr().out) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield out.split()[0].removeprefix("base_url=")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [0]


def test_main_in_process_stops_on_event(capsys: pytest.CaptureFixture[str]) -> None:
    with running(SMALL, capsys) as base_url:
        ping = httpx.get(
            f"{base_url}/api/v1/ext/903/event/457/ping", headers={"X-API-Key": "demo-key-903"}
        )
        assert ping.status_code == 200


def test_bad_settings_exit_78_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--events", "-3"]) == 78
    err = capsys.readouterr().err
    assert err.strip() == "error: simulator: events must be 0..400"
    assert main(["--port", "0", "--throttle-every", "0"]) == 78
    assert "throttle_every must be an integer >= 1" in capsys.readouterr().err


def test_every_fault_knob_has_a_flag() -> None:
    from syncer.sim.faults import Faults

    flags = {a.dest for a in build_parser()._actions}
    assert set(Faults().as_dict()) <= flags
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--retry-after", "soon"])


def test_simulate_command_rebuilds_the_same_world() -> None:
    from syncer.sim.cli import _config, simulate_command
    from syncer.sim.config import SimConfig

    assert simulate_command(SimConfig(port=8903)) == "syncer simulate"
    config = SimConfig(seed=7, events=2, photos_per_event=12, photo_bytes=9_000, port=4321)
    config.clip_bytes = 5_000
    command = simulate_command(config)
    assert command.startswith("syncer simulate ")
    rebuilt = _config(build_parser().parse_args(command.split()[2:]))
    assert rebuilt == config


def test_latency_bandwidth_and_clip_flags() -> None:
    from syncer.sim.cli import _faults

    argv = ["--slow-api-seconds", "0.08", "--slow-storage-seconds", "0.05"]
    argv += ["--storage-bytes-per-second", "5000000", "--clip-never-finishes", "--clip-404-once"]
    faults = _faults(build_parser().parse_args(argv))
    assert faults.slow_api_seconds == 0.08
    assert faults.slow_storage_seconds == 0.05
    assert faults.storage_bytes_per_second == 5_000_000
    assert faults.clip_never_finishes
    assert faults.clip_404_once
    assert main(["--port", "0", "--storage-bytes-per-second", "0"]) == 78


def test_tls_flags_serve_https_with_the_given_certificate(
    capsys: pytest.CaptureFixture[str], test_ca: ThrowawayCA
) -> None:
    argv = [*SMALL, "--tls-cert", str(test_ca.cert), "--tls-key", str(test_ca.key)]
    with running(argv, capsys) as base_url:
        assert base_url.startswith("https://127.0.0.1:")
        ping = f"{base_url}/api/v1/ext/903/event/457/ping"
        headers = {"X-API-Key": "demo-key-903"}
        answer = httpx.get(ping, headers=headers, verify=test_ca.client_context())
        assert answer.status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(ping, headers=headers)  # the CA is not a public one


def test_tls_needs_both_a_readable_certificate_and_its_key(
    capsys: pytest.CaptureFixture[str], test_ca: ThrowawayCA, tmp_path: Path
) -> None:
    assert main(["--port", "0", "--tls-cert", str(test_ca.cert)]) == 78
    assert "tls_cert and tls_key go together" in capsys.readouterr().err
    missing = tmp_path / "missing.pem"
    assert main(["--port", "0", "--tls-cert", str(missing), "--tls-key", str(test_ca.key)]) == 78
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: simulator: cannot load the TLS certificate")
    assert "\n" not in err
