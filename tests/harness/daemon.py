"""Fakes shared by the daemon tests: settings, a scripted cycle, a fake clock, a daemon runner."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from syncer.daemon import Daemon
from syncer.report import CycleReport, EventReport


@dataclass(frozen=True)
class FakeSchedule:
    interval: float = 0.05
    jitter: float = 0.0
    active_interval: float = 0.05
    active_window: float = 60.0
    verify_interval: float = 0.0
    files_interval: float = 3600.0


@dataclass(frozen=True)
class FakeHealth:
    listen: str = ""
    max_age: float = 60.0
    allow_remote: bool = False


@dataclass(frozen=True)
class FakeEvent:
    id: int
    interval: float | None = None


@dataclass(frozen=True)
class FakeSettings:
    schedule: FakeSchedule = field(default_factory=FakeSchedule)
    health: FakeHealth = field(default_factory=FakeHealth)
    events: tuple[FakeEvent, ...] | str = "all"
    label: str = "first"


def make_report(event_id: int = 1, **counts: int) -> CycleReport:
    """A finished report with one event and the given counters (``new``, ``downloaded``...)."""
    event = EventReport(event_id)
    for name, value in counts.items():
        assert isinstance(getattr(event, name), int)
        setattr(event, name, value)
    now = datetime.now(UTC)
    return CycleReport(started_at=now, ended_at=now, events=[event])


@dataclass
class Call:
    settings: FakeSettings
    event_ids: list[int] | None
    stop: threading.Event
    at: float
    files: bool = True  # the cycle was asked to check the files on disk


Outcome = Callable[[Call], CycleReport]


class FakeCycle:
    """Records every call; each call's behaviour comes from ``outcomes`` (the last one repeats)."""

    def __init__(self, *outcomes: Outcome, clock: Callable[[], float] = time.monotonic) -> None:
        self.outcomes = list(outcomes) or [lambda call: make_report()]
        self.clock = clock
        self.calls: list[Call] = []
        self.running = 0
        self.max_running = 0
        self.threads: set[int | None] = set()
        self._cond = threading.Condition()

    def __call__(
        self,
        settings: FakeSettings,
        event_ids: Sequence[int] | None,
        stop: threading.Event,
        files: bool = True,
    ) -> CycleReport:
        ids = None if event_ids is None else list(event_ids)
        call = Call(settings, ids, stop, self.clock(), files)
        with self._cond:
            self.calls.append(call)
            self.threads.add(threading.get_ident())
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
            self._cond.notify_all()
        try:
            return outcome(call)
        finally:
            with self._cond:
                self.running -= 1

    def wait_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.calls) >= count, timeout)
        assert ok, f"expected {count} cycle calls within {timeout} s, got {len(self.calls)}"
        return list(self.calls)


class FakeClock:
    """Fake monotonic time for :class:`syncer.runner.Runner`, run in the test's own thread.

    A wait moves time forward at once; :meth:`at` fires an action when time reaches it (during a
    wait, or during :meth:`advance`, which a fake cycle calls to take time). Once time would
    pass ``end`` the clock sets ``stop``, which ends ``Runner.run``.
    """

    def __init__(self, stop: threading.Event, *, end: float = 10_000.0) -> None:
        self.t = 0.0
        self.stop = stop
        self.end = end
        self._actions: list[tuple[float, Callable[[], object]]] = []

    def now(self) -> float:
        return self.t

    def at(self, when: float, action: Callable[[], object]) -> None:
        self._actions.append((when, action))
        self._actions.sort(key=lambda pair: pair[0])

    def advance(self, seconds: float) -> None:
        target = self.t + seconds
        while self._actions and self._actions[0][0] <= target:
            when, action = self._actions.pop(0)
            self.t = max(self.t, when)
            action()
        self.t = target
        if target > self.end:
            self.stop.set()

    def wait(self, wake: threading.Event, seconds: float) -> None:
        if wake.is_set():
            return
        target = self.t + seconds
        if self._actions and self._actions[0][0] <= target:
            when, action = self._actions.pop(0)
            self.t = max(self.t, when)
            action()
        elif target > self.end:
            self.t = self.end
            self.stop.set()
        else:
            self.t = target


class SettingsSource:
    """A ``load()`` that returns the current settings, or raises the current error."""

    def __init__(self, settings: FakeSettings) -> None:
        self.settings = settings
        self.error: Exception | None = None
        self.loads = 0

    def __call__(self) -> FakeSettings:
        self.loads += 1
        if self.error is not None:
            raise self.error
        return self.settings


def idle(seconds: float) -> None:
    """Let the daemon's threads run for ``seconds`` (to observe that nothing happens)."""
    threading.Event().wait(seconds)


@contextmanager
def running(daemon: Daemon[FakeSettings], ready: threading.Event) -> Iterator[threading.Thread]:
    """Run ``daemon`` in a thread until the block ends, then stop it and check it stopped."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
    thread.start()
    assert ready.wait(5), "daemon did not become ready"
    try:
        yield thread
    finally:
        daemon.request_stop()
        thread.join(10)
    assert not thread.is_alive(), "daemon did not stop"
    assert result == [0]


class NotifyListener:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    def receive_until(self, predicate: Callable[[str], bool], timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(predicate(m) for m in self.messages):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no matching notification; got {self.messages}"
            self.sock.settimeout(remaining)
            self.messages.append(self.sock.recv(4096).decode())
        return self.messages

    def close(self) -> None:
        self.sock.close()
