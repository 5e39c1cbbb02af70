"""Run one child process and measure it: wall time, CPU time (user + sys) and peak RSS.

The numbers come from ``os.wait4`` on the child itself, so each measurement covers exactly one
command (and the descendants it waited for), never the whole benchmark process tree.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncer.errors import SyncerError


class BenchError(SyncerError):
    """The benchmark could not measure what it set out to (a tool failed, bytes differ...)."""

    exit_code = 1


@dataclass(frozen=True)
class Usage:
    """What one or more commands cost."""

    wall: float  # seconds
    cpu: float  # user + sys seconds
    peak_rss: int  # bytes (the largest of the measured processes)

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.wall + other.wall, self.cpu + other.cpu,
                     max(self.peak_rss, other.peak_rss))


@dataclass(frozen=True)
class Command:
    """A child to run: argv, environment, and where its stdout/stderr go."""

    argv: Sequence[str]
    log: Path  # stdout goes to ``log``, stderr to ``log`` + ".err"
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    timeout: float = 3600.0

    @property
    def stderr_path(self) -> Path:
        return self.log.with_name(self.log.name + ".err")

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name


def measure(command: Command, *, check: bool = True) -> tuple[Usage, int]:
    """Run ``command`` to completion; return its usage and exit code.

    Raises :class:`BenchError` when it cannot start, runs past its timeout, or (with ``check``)
    exits non-zero; the message ends with the last line the child wrote to stderr.
    """
    with command.log.open("wb") as out, command.stderr_path.open("wb") as err:
        started = time.perf_counter()
        try:
            child = subprocess.Popen(command.argv, stdout=out, stderr=err, env=command.env,
                                     cwd=command.cwd)
        except OSError as exc:
            raise BenchError(f"cannot start {command.name}: {exc.strerror}") from exc
        killer = threading.Timer(command.timeout, child.kill)
        killer.start()
        try:
            _, status, rusage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped here: keep Popen from waiting again
    if killer.finished.is_set() and code < 0:
        raise BenchError(f"{command.name} ran longer than {command.timeout:.0f} s and was killed")
    if check and code != 0:
        raise BenchError(f"{command.name} exited with {code}: {last_line(command.stderr_path)}")
    usage = Usage(wall, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss * 1024)
    return usage, code


def measure_then_sync(command: Command) -> Usage:
    """``command`` followed by coreutils ``sync``: both count, so every byte is on disk."""
    usage, _ = measure(command)
    flushed, _ = measure(Command(["sync"], command.log.with_name(command.log.name + ".sync")))
    return usage + flushed


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (or a note that there is none)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return lines[-1][:300] if lines else "(no output)"
