"""run_daemon in a real process: SIGHUP reloads, SIGTERM stops cleanly with exit status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.daemon import NotifyListener

SCRIPT = textwrap.dedent(
    """
    import sys
    from harness.daemon import FakeCycle, FakeSchedule, FakeSettings
    from syncer.daemon import run_daemon
    import os

    loads = []

    def load():
        loads.append(1)
        print(f"load {len(loads)}", flush=True)
        return FakeSettings(schedule=FakeSchedule(interval=0.05, active_interval=0.05))

    code = run_daemon(load, FakeCycle(), env=os.environ)
    print(f"exit {code}", flush=True)
    sys.exit(code)
    """
)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signals_in_a_real_process(tmp_path: Path, stop_signal: signal.Signals) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(listener.path),
        "PYTHONPATH": str(Path(__file__).parents[1]),  # tests/: the harness package
    }
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        listener.receive_until(lambda m: m == "READY=1", timeout=20)
        listener.receive_until(lambda m: m.startswith("STATUS=cycle 1:"))
        proc.send_signal(signal.SIGHUP)
        listener.receive_until(lambda m: m.startswith("RELOADING=1"))
        listener.receive_until(lambda m: m == "STATUS=settings reloaded")
        proc.send_signal(stop_signal)
        listener.receive_until(lambda m: m == "STOPPING=1")
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
        listener.close()
    assert proc.returncode == 0
    assert out.splitlines() == ["load 1", "load 2", "exit 0"]


STUCK = textwrap.dedent(
    """
    import os, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from harness.daemon import FakeCycle, FakeSchedule, FakeSettings, make_report
    from syncer.daemon import run_daemon

    never = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)  # like the download workers of a real cycle

    def stuck(call):
        print("cycle", flush=True)
        pool.submit(never.wait, 60).result()  # ignores the stop event, e.g. a hung NFS write
        return make_report()

    settings = FakeSettings(schedule=FakeSchedule(interval=60, active_interval=60))
    code = run_daemon(lambda: settings, FakeCycle(stuck), env=os.environ, stop_timeout=0.3)
    print(f"exit {code}", flush=True)
    sys.exit(code)
    """
)


def test_a_cycle_stuck_past_the_stop_timeout_does_not_keep_the_process(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}  # tests/: the harness
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "cycle\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)  # the stuck cycle would take 60 s
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out == ""  # run_daemon ended the process itself: nothing after it ran
    assert "the running cycle did not stop within 0.3 s" in err
    assert "exiting without waiting for the running cycle" in err
