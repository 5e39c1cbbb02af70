"""Helpers for the service tests: full config files, a real `syncer daemon` process, status."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.e2e import World, run_ok, toml_value
from harness.waiting import wait_until
from syncer.layout import NameRules, event_dirname
from syncer.ledger import Ledger

Value = str | int | float | bool
Section = Mapping[str, Value]

FAST_SCHEDULE: dict[str, Value] = {"interval": "1s", "jitter": "0"}
HEALTH_ON: dict[str, Value] = {"listen": "127.0.0.1:0"}
HEALTH_LINE = re.compile(r"health endpoint on http://127\.0\.0\.1:(\d+)/healthz")


@dataclass(frozen=True)
class EventSpec:
    event_id: int
    bibs: str | None = None


def write_config(
    world: World,
    *,
    events: Sequence[EventSpec] | None = None,
    storage: Section | None = None,
    download: Section | None = None,
    sections: Mapping[str, Section] | None = None,
) -> Path:
    """A whole config file: the World's base settings, ``storage``/``download`` merged in."""
    base_storage: dict[str, Value] = {
        "root": str(world.root),
        "ledger": str(world.ledger),
        "min_free": "1MiB",
    }
    tables: dict[str, Section] = {
        "api": {"base_url": world.sim.base_url, "org_id": world.sim.org_id, "max_attempts": 3},
        "storage": {**base_storage, **(storage or {})},
        "download": {
            "workers": 4,
            "retry_base": "1s",
            "backoff_base": "20ms",
            "backoff_cap": "200ms",
            **(download or {}),
        },
        **(sections or {}),
    }
    lines: list[str] = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
    for event in events if events is not None else [EventSpec(world.event_id)]:
        lines += ["[[events]]", f"id = {event.event_id}"]
        if event.bibs is not None:
            lines.append(f"bibs = {toml_value(event.bibs)}")
    world.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return world.config


def event_folder(world: World, event_id: int | None = None) -> str:
    """The top folder of an event, as the default layout names it."""
    wanted = world.event_id if event_id is None else event_id
    event = next(e for e in world.sim.events() if e.event_id == wanted)
    return event_dirname(event.event_id, event.slug, NameRules())


def event_status(world: World, event_id: int | None = None) -> dict[str, Any]:
    """The `syncer status --json` row of one event."""
    wanted = world.event_id if event_id is None else event_id
    rows: list[dict[str, Any]] = json.loads(run_ok(world, "status", "--json").stdout)
    return next(row for row in rows if row["event_id"] == wanted)


def ledger_status(world: World) -> dict[str, Any]:
    """The event's status row read in-process (quicker than `syncer status`; same numbers)."""
    with Ledger.open(world.ledger, create=False) as ledger:
        (row,) = ledger.status(world.event_id)
    return asdict(row)


def other_event(world: World) -> int:
    """A second configured, active event of the simulated organisation."""
    return next(
        e.event_id
        for e in world.sim.events()
        if e.configured and e.status == "active" and e.event_id != world.event_id
    )


@dataclass
class DaemonRun:
    """A real `syncer daemon` process; its output goes to files so it can never block."""

    process: subprocess.Popen[bytes]
    log_path: Path
    _port: int | None = field(default=None, init=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def port(self) -> int:
        if self._port is None:
            match = wait_until(
                lambda: HEALTH_LINE.search(self.log()) or self._gone(), what="the health endpoint"
            )
            assert isinstance(match, re.Match), self.log()
            self._port = int(match.group(1))
        return self._port

    def _gone(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
        return False

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of GET http://127.0.0.1:<port><path>."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/healthz")
        return status, json.loads(body)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        status, body = self.get("/metrics")
        assert status == 200, body
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def cycles(self, result: str = "ok") -> int:
        self._gone()
        return int(self.metrics()[("syncer_cycles_total", (("result", result),))])

    def wait_cycles(self, count: int, *, result: str = "ok", timeout: float = 20.0) -> int:
        """Wait until at least ``count`` cycles ended with ``result``."""
        return wait_until(
            lambda: (n := self.cycles(result)) >= count and n,
            timeout=timeout,
            what=f"{count} cycles with result {result}",
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_daemon(world: World, *, env: Mapping[str, str] | None = None) -> DaemonRun:
    log_path = world.tmp / f"daemon-{time.monotonic_ns()}.log"
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            world.command("daemon"),
            env={**world.env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return DaemonRun(process, log_path)
