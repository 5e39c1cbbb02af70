"""A real ``syncer daemon`` on a complete event, its cycles timed through its own /metrics.

The no-op bar is about a daemon's cycle: warm (imports done, statements compiled, a CA bundle
loaded), between two of its files checks. :class:`Daemon` starts ``syncer daemon`` on the
benchmark's ledger and root with a short schedule and reads each cycle's duration from
``syncer_cycle_duration_seconds`` (the histogram's sum grows by each cycle's seconds), as an
operator's Prometheus would. :class:`WalkServer` keeps the bare walk warm the same way: one
process walking once per request (``bench_walk.py --serve``), asked between two cycles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from bench_procs import BenchError, free_port, last_line
from bench_world import BenchWorld

HERE = Path(__file__).resolve().parent
POLL = 0.25  # seconds between two reads of /metrics (each costs the daemon a little CPU)
_SUM = "syncer_cycle_duration_seconds_sum"
_COUNT = "syncer_cycle_duration_seconds_count"
_OK = 'syncer_cycles_total{result="ok"}'
_DOWNLOADED = "syncer_photos_downloaded_total"


@dataclass(frozen=True)
class CycleSeen:
    seconds: float  # the cycle's duration, as the daemon measured it
    seen_at: float  # time.time() when /metrics first showed it over (at most POLL late)

    @property
    def started_by(self) -> float:
        """A time by which the cycle had surely started."""
        return self.seen_at - POLL - self.seconds


class Daemon:
    """``with Daemon(world, run_dir, event tick) as daemon: daemon.next_cycle(timeout)``."""

    def __init__(self, world: BenchWorld, run_dir: Path, tick: float, log: Path) -> None:
        self._world = world
        self._run_dir = run_dir
        self._tick = tick
        self._log = log
        self._child: subprocess.Popen[bytes] | None = None
        self._url = ""
        self._count = 0
        self._sum = 0.0

    def __enter__(self) -> Daemon:
        port = free_port()
        self._url = f"http://127.0.0.1:{port}/metrics"
        config = self._write_config(port)
        argv = [sys.executable, "-m", "syncer", "--config", str(config), "daemon"]
        with self._log.open("wb") as out:
            self._child = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._world.env(),
                start_new_session=True,
            )
        return self

    def _write_config(self, port: int) -> Path:
        """The sync's config (same ledger and root), this event only, on a short schedule."""
        config = self._world.write_config(self._run_dir)
        daemon = config.with_name("daemon.toml")
        lines = [
            config.read_text(encoding="utf-8"),
            "[schedule]",
            f"interval = {self._tick}",
            f"active_interval = {self._tick}",
            "jitter = 0",
            'files_interval = "1h"',  # the first cycle checks the files; the next ones do not
            "[health]",
            f'listen = "127.0.0.1:{port}"',
            "[[events]]",
            f"id = {self._world.event_id}",
        ]
        daemon.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return daemon

    def next_cycle(self, timeout: float) -> CycleSeen:
        """Wait for the next cycle to end; it must have synced nothing new (a no-op)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            metrics = _scrape(self._url)
            count = int(metrics.get(_COUNT, 0))
            if count > self._count:
                return self._seen(metrics, count)
            time.sleep(POLL)
        raise BenchError(f"syncer daemon ended no cycle within {timeout:.0f} s (see {self._log})")

    def _seen(self, metrics: dict[str, float], count: int) -> CycleSeen:
        if count > self._count + 1:
            raise BenchError("two daemon cycles ended between two reads of /metrics")
        if int(metrics.get(_OK, 0)) != count:
            raise BenchError(f"a daemon cycle did not end well (see {self._log})")
        if metrics.get(_DOWNLOADED, 0):
            raise BenchError("the no-op daemon downloaded photos: the first sync was incomplete")
        seconds = metrics[_SUM] - self._sum
        self._count, self._sum = count, metrics[_SUM]
        return CycleSeen(seconds, time.time())

    def _check_alive(self) -> None:
        if self._child is not None and self._child.poll() is not None:
            last = last_line(self._log)
            raise BenchError(f"syncer daemon exited with {self._child.returncode}: {last}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._child is None:
            return
        self._child.send_signal(signal.SIGTERM)
        try:
            self._child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self._child.pid, signal.SIGKILL)
            self._child.wait()


class WalkServer:
    """``bench_walk.py --serve``: the bare walk, kept warm in one process."""

    def __init__(self, world: BenchWorld, timeout: float) -> None:
        self._world = world
        self._timeout = timeout
        self._child: subprocess.Popen[str] | None = None

    def __enter__(self) -> WalkServer:
        sim = self._world.sim
        argv = [
            sys.executable,
            str(HERE / "bench_walk.py"),
            "--base-url",
            sim.base_url,
            "--org",
            str(sim.org_id),
            "--event",
            str(self._world.event_id),
            "--serve",
        ]
        self._child = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self._world.env(),
            start_new_session=True,
        )
        return self

    def walk(self) -> dict[str, float]:
        """One walk of every page: ``pages``, ``photos``, ``seconds`` and ``ended`` (time())."""
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            raise BenchError("the walk server is not running")
        timer = threading.Timer(self._timeout, child.kill)
        timer.start()
        try:
            child.stdin.write("\n")
            child.stdin.flush()
            line = child.stdout.readline()
        finally:
            timer.cancel()
        if not line:
            raise BenchError(f"the walk server exited with {child.poll()} before answering")
        walked: dict[str, float] = json.loads(line)
        if walked["photos"] != self._world.photos:
            raise BenchError(f"the bare walk listed {walked['photos']} of {self._world.photos}")
        return walked

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        child = self._child
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        finally:
            if child.stdout is not None:
                child.stdout.close()


def _scrape(url: str) -> dict[str, float]:
    """The samples of /metrics (none while the listener is not up yet)."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
