"""Run one child process and measure it: wall time, CPU time (user + sys) and peak RSS.

Wall and CPU time come from ``os.wait4`` on the child, so each measurement covers exactly one
command (and what it waited for), never the whole benchmark process tree. Peak RSS of its
largest process comes from a small wrapper (GNU ``time -f %M``, else ``bench_rss.py``): see
``bench_rss.py`` for why the benchmark's own ``wait4`` cannot report it. The footprint of all
its processes together is sampled by ``bench_memory``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_memory import TreeMemory

from syncer.errors import SyncerError

GNU_TIME = "/usr/bin/time"
TIME_HINT = "sudo apt-get install -y time"
_RSS_HELPER = Path(__file__).resolve().with_name("bench_rss.py")


class BenchError(SyncerError):
    """The benchmark could not measure what it set out to (a tool failed, bytes differ...)."""

    exit_code = 1


@dataclass(frozen=True)
class Usage:
    """What one or more commands cost."""

    wall: float  # seconds
    user: float  # CPU seconds in user mode
    sys: float  # CPU seconds in the kernel
    peak_rss: int  # bytes: the largest single process (exact)
    tree_pss: int = 0  # bytes: all its processes together (sampled, see bench_memory)

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.wall + other.wall,
            self.user + other.user,
            self.sys + other.sys,
            max(self.peak_rss, other.peak_rss),
            max(self.tree_pss, other.tree_pss),
        )


@dataclass(frozen=True)
class Command:
    """A child to run: argv, environment, and where its stdout/stderr go."""

    argv: Sequence[str]
    log: Path  # stdout goes to ``log``, stderr to ``log`` + ".err"
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    timeout: float = 3600.0
    title: str | None = None  # for messages; default: the program's file name

    def beside(self, suffix: str) -> Path:
        return self.log.with_name(self.log.name + suffix)

    @property
    def name(self) -> str:
        return self.title or Path(self.argv[0]).name


@functools.cache
def gnu_time() -> str | None:
    """``/usr/bin/time`` when it is GNU time (it has ``-f`` and ``-o``), else None."""
    try:
        probe = subprocess.run(
            [GNU_TIME, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return GNU_TIME if "GNU" in probe.stdout + probe.stderr else None


def rss_wrapper(rss_file: Path) -> list[str]:
    """The argv prefix that writes the command's peak RSS (KiB) into ``rss_file``."""
    binary = gnu_time()
    if binary is not None:
        return [binary, "-f", "%M", "-o", str(rss_file)]
    return [sys.executable, "-I", "-S", str(_RSS_HELPER), str(rss_file)]


def measure(command: Command) -> Usage:
    """Run ``command`` to completion and return what it cost.

    Raises :class:`BenchError` when it cannot start, runs past its timeout or exits non-zero;
    the message ends with the last line the child wrote to stderr.
    """
    rss_file = command.beside(".rss")
    with command.log.open("wb") as out, command.beside(".err").open("wb") as err:
        started = time.perf_counter()
        try:
            child = subprocess.Popen(
                [*rss_wrapper(rss_file), *command.argv],
                stdout=out,
                stderr=err,
                env=command.env,
                cwd=command.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise BenchError(f"cannot start {command.name}: {exc.strerror}") from exc
        expired = threading.Event()
        timer = threading.Timer(command.timeout, _expire, (child.pid, expired))
        timer.start()
        try:
            with TreeMemory(child.pid, exclude=child.pid) as memory:
                _, status, rusage = os.wait4(child.pid, 0)
        except BaseException:  # interrupted: take the whole group down with us
            _kill_group(child.pid)
            child.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped here: keep Popen from waiting again
    if expired.is_set():
        raise BenchError(f"{command.name} ran longer than {command.timeout:g} s and was killed")
    if code != 0:
        raise BenchError(
            f"{command.name} exited with {code}: {last_line(command.beside('.err'))} "
            "(--keep keeps the logs)"
        )
    return Usage(wall, rusage.ru_utime, rusage.ru_stime, _read_rss(rss_file), memory.peak)


def measure_then_sync(command: Command) -> Usage:
    """``command`` followed by coreutils ``sync``: both count, so every byte is on disk."""
    return measure(command) + measure(Command(["sync"], command.beside(".sync")))


def _expire(pid: int, expired: threading.Event) -> None:
    expired.set()
    _kill_group(pid)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_rss(path: Path) -> int:
    """Bytes from the wrapper's KiB figure (GNU time may put a status line before it)."""
    try:
        lines = path.read_text(encoding="utf-8").split()
        return int(lines[-1]) * 1024
    except (OSError, ValueError, IndexError) as exc:
        raise BenchError(f"no peak RSS figure in {path}") from exc


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (or a note that there is none)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return lines[-1][:300] if lines else "(no output)"


def free_port() -> int:
    """A TCP port of 127.0.0.1 free now (taken by whoever binds it first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
