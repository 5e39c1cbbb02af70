"""Helpers for the reliability tests: small simulated worlds, config files, archive checks.

Every check runs the real ``syncer`` CLI in a subprocess against the simulator on 127.0.0.1
(see harness/e2e.py for the :class:`World` it builds on).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.e2e import World, all_files, files_under, sha256_of, temp_files, toml_value
from syncer.sim import Faults, SimConfig, Simulator

__all__ = [
    "Gate",
    "Outcome",
    "TimedFaults",
    "World",
    "all_files",
    "assert_complete",
    "assert_no_bad_photo",
    "assert_one_line_error",
    "build_world",
    "configure",
    "file_size_limit",
    "files_under",
    "in_parallel",
    "status_row",
    "sync",
    "temp_files",
]

TOML = Mapping[str, object]


def build_world(
    tmp: Path,
    *,
    photos: int = 20,
    size: int = 12_000,
    faults: Faults | None = None,
    sleep: Callable[[float], None] = time.sleep,
    event_id: int | None = None,
    **sim_config: Any,
) -> Iterator[World]:
    """A running simulator with a small world, and a config file for one of its events."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = SimConfig(events=4, photos_per_event=photos, photo_bytes=size, **sim_config)
    with Simulator(config, faults=faults, sleep=sleep) as sim:
        chosen = event_id or next(
            e.event_id
            for e in sim.events()
            if e.configured and e.status == "active" and e.flags.get("bib_search")
        )
        world = World(sim=sim, tmp=tmp, event_id=chosen)
        configure(world)
        yield world


class Gate:
    """A simulator ``sleep`` that holds every slowed answer until the test opens the gate.

    With a slow knob set (e.g. ``slow_api_seconds=0.01``) the CLI under test is parked at a
    known point for as long as the test needs, however loaded the machine is.
    """

    def __init__(self, limit: float = 60.0) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Semaphore(0)
        self._limit = limit

    def __call__(self, seconds: float) -> None:
        self.waiting.release()
        self.opened.wait(self._limit)

    def reached(self, timeout: float = 60.0) -> bool:
        """True once a request is held at the gate."""
        return self.waiting.acquire(timeout=timeout)


class TimedFaults(Faults):
    """Fault knobs that also note when each API request arrived (``stamps``, monotonic)."""

    stamps: list[float]

    def __init__(self, **knobs: Any) -> None:
        object.__setattr__(self, "stamps", [])
        super().__init__(**knobs)

    def api_fault(self) -> Any:
        self.stamps.append(time.monotonic())
        return super().api_fault()


def configure(
    world: World,
    *,
    api: TOML | None = None,
    storage: TOML | None = None,
    download: TOML | None = None,
    event: TOML | None = None,
    top: TOML | None = None,
    path: Path | None = None,
) -> Path:
    """Write the world's config file; each mapping overrides or adds keys of its section.

    A value of None removes a key. Sections: small retries (``retry_base = "10ms"``) so that a
    photo parked by one run is due again in the next one.
    """
    sections: dict[str, dict[str, object]] = {
        "api": {"base_url": world.sim.base_url, "org_id": world.sim.org_id, "max_attempts": 3},
        "storage": {"root": str(world.root), "ledger": str(world.ledger), "min_free": "1MiB"},
        "download": {
            "workers": 4,
            "retry_base": "10ms",
            "backoff_base": "10ms",
            "backoff_cap": "100ms",
        },
    }
    for name, extra in (("api", api), ("storage", storage), ("download", download)):
        for key, value in (extra or {}).items():
            if value is None:
                sections[name].pop(key, None)
            else:
                sections[name][key] = value
    lines = [f"{key} = {toml_value(value)}" for key, value in (top or {}).items()]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
    lines.append("[[events]]")
    entry: dict[str, object] = {"id": world.event_id, **(event or {})}
    lines.extend(f"{key} = {toml_value(value)}" for key, value in entry.items())
    target = path or world.config
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target.chmod(0o600)
    return target


def file_size_limit(limit: int) -> tuple[str, ...]:
    """A launcher that runs the command with ``RLIMIT_FSIZE`` set (no file may grow past it).

    A tiny exec wrapper instead of ``preexec_fn``, which is unsafe while the simulator's
    threads run in this process.
    """
    code = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return (sys.executable, "-c", code)


class Outcome:
    """A finished CLI run: exit code, output and wall time."""

    def __init__(self, result: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.code = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Outcome(code={self.code}, stderr={self.stderr[-2000:]!r})"

    def json(self) -> Any:
        return json.loads(self.stdout)

    @classmethod
    def of(cls, process: subprocess.Popen[str], timeout: float = 60) -> Outcome:
        """Wait for a started process and collect its outcome."""
        stdout, stderr = process.communicate(timeout=timeout)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        return cls(result, 0.0)


def sync(
    world: World,
    *args: str,
    expect: tuple[int, ...] = (0,),
    options: tuple[str, ...] = (),
    launcher: tuple[str, ...] = (),
) -> Outcome:
    """``syncer [options] sync --json [args]``; asserts the exit code is one of ``expect``.

    ``launcher`` prefixes the command (see :func:`file_size_limit`).
    """
    started = time.monotonic()
    result = subprocess.run(
        [*launcher, *world.command(*options, "sync", "--json", *args)],
        env=world.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outcome = Outcome(result, time.monotonic() - started)
    assert outcome.code in expect, outcome
    assert "Traceback" not in outcome.stderr, outcome
    return outcome


def status_row(world: World) -> dict[str, Any]:
    """The world's event in ``syncer status --json`` (all zero while the ledger has none)."""
    result = world.run("status", "--json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    empty = {"event_id": world.event_id, "downloaded": 0, "pending": 0, "failed": 0}
    return next((r for r in rows if r["event_id"] == world.event_id), empty)


def assert_complete(world: World) -> None:
    """The archive is exactly the simulator's truth: every photo once, right bytes, no temp."""
    stored = files_under(world.root)
    by_stem = {Path(rel).stem: sha for rel, sha in stored.items()}
    assert len(by_stem) == len(stored), "a photo is stored twice"
    assert by_stem == world.truth()
    assert not temp_files(world.root)
    assert ledger_counts(world.ledger) == {"downloaded": len(by_stem)}


def assert_no_bad_photo(world: World) -> int:
    """Every file anywhere under the root holds its photo's true bytes; returns how many."""
    truth = world.truth()
    count = 0
    for path in all_files(world.root):
        if path.name == ".syncer-root":
            continue
        assert not path.name.endswith(".part"), f"temp file left: {path}"
        assert truth.get(path.stem) == sha256_of(path), f"{path} does not hold photo {path.stem}"
        count += 1
    return count


ROOT_CREATED = "INFO syncer.root: created the storage root "  # after a timestamp


def assert_one_line_error(outcome: Outcome, code: int, *words: str) -> str:
    """Exit ``code``, no traceback, exactly one ``syncer: error:`` line naming ``words``."""
    assert outcome.code == code, outcome
    assert "Traceback" not in outcome.stderr, outcome
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("syncer: error:")]
    assert len(errors) == 1, outcome
    others = [
        line
        for line in outcome.stderr.splitlines()
        if line.strip()
        and not line.startswith(("syncer: error:", "syncer: hint:"))
        and ROOT_CREATED not in line  # the one notice of a first run, before it failed
    ]
    assert not others, outcome
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def ledger_counts(ledger: Path) -> dict[str, int]:
    """Photo rows per state, read straight from the SQLite file (read-only)."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT state, COUNT(*) FROM photos GROUP BY state").fetchall()
    finally:
        connection.close()
    return {str(state): int(n) for state, n in rows}


def in_parallel(cases: Mapping[str, Callable[[], None]]) -> None:
    """Run independent scenarios (each with its own simulator) at once; report every failure.

    The scenarios mostly wait for CLI subprocesses, so running them together saves wall time.
    """
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        futures = {name: pool.submit(case) for name, case in cases.items()}
    failures = {name: f.exception() for name, f in futures.items() if f.exception() is not None}
    if failures:
        lines = "\n".join(f"{name}: {exc!r}" for name, exc in failures.items())
        raise AssertionError(f"{len(failures)} scenario(s) failed:\n{lines}") from next(
            iter(failures.values())
        )
