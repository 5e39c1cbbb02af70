"""Peak memory of a whole process tree, sampled: the sum of PSS over its processes.

``ru_maxrss`` is the peak of the largest single process, which understates a command that
spreads its work over several processes. The proportional set size (PSS) counts pages shared
between processes (e.g. after ``fork``) once in total, so the sum over a tree is its real
footprint. Sampling misses peaks shorter than the interval.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


class TreeMemory:
    """``with TreeMemory(session, exclude=pid) as memory:``; then ``memory.peak`` (bytes)."""

    def __init__(self, session: int, *, exclude: int | None = None, interval: float = 0.1):
        self.session = session
        self.exclude = exclude
        self.interval = interval
        self.peak = 0  # bytes
        self.most_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """Add up the PSS of every process of the session now."""
        pids = [p for p in session_pids(self.session) if p != self.exclude]
        self.peak = max(self.peak, sum(pss(pid) for pid in pids))
        self.most_processes = max(self.most_processes, len(pids))


def session_pids(session: int) -> list[int]:
    """Processes whose session id is ``session`` (all descendants of a ``setsid`` child)."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == session:  # fields: state ppid pgrp session ...
                found.append(int(entry.name))
    return found


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (0 when it is gone or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def available() -> bool:
    """Whether this system exposes what the sampler reads."""
    return (PROC / str(os.getpid()) / "smaps_rollup").exists()
