"""The long-running service: sync cycles on a schedule, signals, health, metrics, systemd notify.

The cycle itself is injected (``cycle(settings, event_ids, stop) -> CycleReport``), so this
module never touches the API, the ledger or the disk. A scheduler tick fires every
:attr:`Plan.tick` seconds; each tick picks the events that are due (see :class:`Cadence`) and
runs one cycle over them in the scheduler's thread. Cycles never overlap.

Signals only set flags: the main thread does the work (reload, stop) in :meth:`Daemon.run`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import Generic, TypeVar

from syncer.cadence import Cadence, DaemonSettings, Due, Plan
from syncer.errors import (
    ApiUnavailableError,
    AuthError,
    StorageError,
    SyncerError,
)
from syncer.health import HealthServer, HealthState, parse_listen
from syncer.metrics import Metrics
from syncer.notify import Notifier
from syncer.report import CycleReport
from syncer.scheduler import Scheduler

log = logging.getLogger("syncer.daemon")

TICK = "sync-tick"
AUTH_BACKOFF = (300.0, 3600.0)  # first pause after the key is refused, and the longest one


S = TypeVar("S", bound=DaemonSettings)
CycleFn = Callable[[S, Sequence[int] | None, threading.Event], CycleReport]


def human(seconds: float) -> str:
    """A short duration for log lines: ``"45 s"``, ``"5 min"``, ``"2 h"``."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.3g} h"


def _scope(ids: Sequence[int] | None) -> str:
    return "all events" if ids is None else "events " + ", ".join(map(str, ids))


def _health_place(settings: DaemonSettings) -> tuple[str, bool]:
    """Where health is served: a change of either needs a new listener."""
    return settings.health.listen, settings.health.allow_remote


def _port_of(listen: str) -> int | None:
    try:
        return parse_listen(listen)[1]
    except SyncerError:
        return None


def _log_reload_failure(exc: Exception) -> None:
    if isinstance(exc, SyncerError):
        log.error("reload failed, keeping the previous settings: %s", exc.message)
    else:
        log.error("reload failed, keeping the previous settings", exc_info=exc)


class Daemon(Generic[S]):
    """One daemon process: :meth:`run` it in the main thread, end it with :meth:`request_stop`."""

    def __init__(
        self,
        load: Callable[[], S],
        cycle: CycleFn[S],
        *,
        env: Mapping[str, str],
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        stop_timeout: float = 60.0,
        auth_backoff: tuple[float, float] = AUTH_BACKOFF,
        ready: threading.Event | None = None,
    ) -> None:
        self._load, self._cycle, self._clock = load, cycle, clock
        self._notifier = Notifier.from_env(env)
        self.metrics = metrics if metrics is not None else Metrics()
        self._stop_timeout = stop_timeout
        self._auth_backoff = auth_backoff
        self._ready = ready
        self._scheduler = Scheduler(workers=1)
        self._cadence = Cadence()
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()  # reentrant: signal-safe
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._state_lock = threading.Lock()
        self._watchdog_stop = threading.Event()
        self._health: HealthServer | None = None
        self._paused_until: float | None = None
        self._auth_delay = auth_backoff[0]
        self._generation = 0
        self.cycles = 0
        self.unexpected_errors = 0
        self.settings: S | None = None
        self._plan: Plan | None = None
        self.health_state = HealthState(max_age=0.0, clock=clock)

    # -- control (safe from signal handlers and other threads) ---------------------------------

    def request_stop(self) -> None:
        self._commands.put("stop")

    def request_reload(self) -> None:
        self._commands.put("reload")

    @property
    def health_address(self) -> tuple[str, int] | None:
        return self._health.address if self._health is not None else None

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT stop, SIGHUP reloads, while inside the block (main thread only)."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        def on_reload(signum: int, frame: FrameType | None) -> None:
            self.request_reload()

        handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
        previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # -- main thread -----------------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until a stop is requested, stop cleanly; returns the exit code (0)."""
        settings = self._load()
        plan = Plan.of(settings)
        self.settings, self._plan = settings, plan
        self.health_state = HealthState(max_age=settings.health.max_age, clock=self._clock)
        self._start_health(settings)
        try:
            self._scheduler.add(TICK, self._tick, plan.tick, plan.jitter)
            self._scheduler.start()
            self._notifier.ready()
            self._notifier.status("running the first cycle")
            log.info("daemon started: %s", self._describe(plan))
            if self._ready is not None:
                self._ready.set()
            self._start_watchdog()
            self._serve()
        finally:
            self._shutdown()
        return 0

    def _serve(self) -> None:
        while True:
            try:
                command = self._commands.get(timeout=1.0)
            except queue.Empty:
                continue
            if command == "stop":
                return
            self.reload()

    def reload(self) -> bool:
        """Load the settings again and reschedule; on error keep the old settings."""
        self._notifier.reloading()
        try:
            settings = self._load()
            plan = Plan.of(settings)
        except Exception as exc:  # a bad reload must not take the running daemon down
            _log_reload_failure(exc)
            self._notifier.ready()
            return False
        old = self.settings
        with self._state_lock:
            self.settings, self._plan = settings, plan
            self._generation += 1
            self._paused_until = None
            self._auth_delay = self._auth_backoff[0]
            self.health_state.max_age = settings.health.max_age
            self.health_state.clear_problem()
            self._scheduler.reschedule(TICK, plan.tick, plan.jitter, first_in=0)
        if old is not None and _health_place(old) != _health_place(settings):
            self._move_health(old, settings)
        self._notifier.ready()
        self._notifier.status("settings reloaded")
        log.info("settings reloaded: %s", self._describe(plan))
        return True

    def _shutdown(self) -> None:
        self._notifier.stopping()
        with self._run_lock:
            self._stop.set()
        if not self._idle.is_set():
            log.info("stopping: waiting up to %s for the running cycle", human(self._stop_timeout))
        finished = self._idle.wait(self._stop_timeout)
        if not finished:
            log.warning("the running cycle did not stop within %s", human(self._stop_timeout))
        self._scheduler.shutdown(wait=finished)
        self._watchdog_stop.set()
        if self._health is not None:
            self._health.stop()
        self._notifier.close()
        log.info("daemon stopped after %d cycles", self.cycles)

    def _move_health(self, old: S, settings: S) -> None:
        """Serve health where the new settings say; if that fails, go on serving as before.

        Only a new address on the port already in use (another address of this host) needs the
        old listener gone first; should the new one still fail, the old one comes back.
        """
        previous = self._health
        problem = self._try_health(*_health_place(settings))
        if problem is None:
            if previous is not None:
                previous.stop()
            return
        if previous is None:
            log.error("health endpoint not started: %s", problem)
            return
        self._health = previous
        if _port_of(settings.health.listen) == previous.address[1]:
            bound = previous.bound
            previous.stop()
            if self._try_health(*_health_place(settings)) is None:
                return
            if (restored := self._try_health(bound, old.health.allow_remote)) is not None:
                log.error("health endpoint stopped: %s", restored)
                return
        log.error("health endpoint not moved, still as before: %s", problem)

    def _try_health(self, listen: str, allow_remote: bool) -> str | None:
        """Start serving health; the reason when that is not possible."""
        try:
            self._serve_health(listen, allow_remote)
        except SyncerError as exc:
            return exc.message
        return None

    def _start_health(self, settings: S) -> None:
        self._serve_health(*_health_place(settings))

    def _serve_health(self, listen: str, allow_remote: bool) -> None:
        """Serve health at ``listen`` (nowhere when it is empty)."""
        self._health = None
        if not listen:
            return
        server = HealthServer(
            listen, state=self.health_state, metrics=self.metrics, allow_remote=allow_remote
        )
        server.start()
        self._health = server

    def _start_watchdog(self) -> None:
        interval = self._notifier.watchdog_interval()
        if interval is None:
            return

        def ping() -> None:
            while True:
                if self._scheduler.running:
                    self._notifier.watchdog()
                if self._watchdog_stop.wait(interval):
                    return

        threading.Thread(target=ping, name="syncer-watchdog", daemon=True).start()

    @staticmethod
    def _describe(plan: Plan) -> str:
        count = 0 if plan.events is None else len(plan.events)
        events = "all events" if plan.events is None else f"{count} event{'s' * (count != 1)}"
        active = min(plan.active_interval, plan.interval)
        return (
            f"{events} every {human(plan.interval)} "
            f"({human(active)} while active), checked every {human(plan.tick)}"
        )

    # -- scheduler thread ------------------------------------------------------------------------

    def _tick(self) -> None:
        with self._run_lock:
            if self._stop.is_set():
                return
            with self._state_lock:
                settings, plan, paused_until = self.settings, self._plan, self._paused_until
                generation = self._generation
            now = self._clock()
            if settings is None or plan is None:
                return
            if paused_until is not None and now < paused_until - self._auth_delay / 100:
                return
            due = self._cadence.due(plan, now)
            if due is None:
                return
            self._idle.clear()
        try:
            self._run_cycle(settings, plan, due, generation)
        finally:
            self._idle.set()

    def _run_cycle(self, settings: S, plan: Plan, due: Due, generation: int) -> None:
        self.cycles += 1
        number, started = self.cycles, self._clock()
        ids = None if due.event_ids is None else list(due.event_ids)
        log.debug("cycle %d started: %s", number, _scope(ids))
        try:
            report = self._cycle(settings, ids, self._stop)
        except Exception as exc:  # the daemon must outlive any one bad cycle
            self._on_error(number, exc, plan, generation, started, ids)
        else:
            self._succeeded(number, report, started, ids)

    def _on_error(
        self,
        number: int,
        exc: Exception,
        plan: Plan,
        generation: int,
        started: float,
        ids: list[int] | None,
    ) -> None:
        if isinstance(exc, AuthError):
            self._on_auth_error(number, exc, plan, generation, started)
        elif isinstance(exc, ApiUnavailableError):
            log.warning(
                "cycle %d: 9Pic API unavailable, retrying at the next tick: %s", number, exc.message
            )
            self._failed(number, "failed", "9Pic API unavailable", started, ids, record=False)
        elif isinstance(exc, StorageError):
            log.error(
                "cycle %d: storage unusable, next try in %s: %s",
                number,
                human(plan.tick),
                exc.message,
            )
            self.health_state.set_failing(f"storage: {exc.message}")
            self._failed(number, "storage", "storage unusable", started, ids)
        elif isinstance(exc, SyncerError):
            log.error("cycle %d failed: %s", number, exc.message)
            self._failed(number, "failed", exc.message, started, ids)
        else:
            self.unexpected_errors += 1
            log.error("cycle %d crashed with an unexpected error", number, exc_info=exc)
            self._failed(number, "error", "unexpected error (see the log)", started, ids)

    def _succeeded(
        self, number: int, report: CycleReport, started: float, ids: list[int] | None
    ) -> None:
        ended = self._clock()
        self._cadence.ran(ids, started)
        self._cadence.saw(report, ended)
        with self._state_lock:
            self._paused_until = None
            self._auth_delay = self._auth_backoff[0]
        if not report.interrupted:
            self.health_state.record_success(ended)
        seconds = report.seconds if report.ended_at is not None else ended - started
        self.metrics.record_cycle(report, "ok", seconds=seconds)
        new, done, failed = (report.total(k) for k in ("new", "downloaded", "failed"))
        summary = f"cycle {number}: {new} new, {done} downloaded, {failed} failed"
        self._notifier.status(summary)
        broken = sum(1 for event in report.events if event.error)
        log.info(
            "%s (%s), %d bytes in %.1f s%s%s",
            summary,
            _scope(ids),
            report.total("bytes"),
            seconds,
            f", {broken} events could not be synced" if broken else "",
            " (interrupted)" if report.interrupted else "",
        )

    def _failed(
        self,
        number: int,
        result: str,
        why: str,
        started: float,
        ids: list[int] | None,
        *,
        record: bool = True,
    ) -> None:
        if record:  # else the same events are due again at the next tick
            self._cadence.ran(ids, started)
        self.metrics.record_cycle(None, result, seconds=self._clock() - started)
        self._notifier.status(f"cycle {number} failed: {why}")

    def _on_auth_error(
        self, number: int, exc: AuthError, plan: Plan, generation: int, started: float
    ) -> None:
        self.metrics.record_cycle(None, "auth", seconds=self._clock() - started)
        with self._state_lock:
            if generation != self._generation:
                log.warning(
                    "cycle %d: 9Pic refused the API key (HTTP %s); settings were "
                    "reloaded meanwhile, trying again",
                    number,
                    exc.status,
                )
                return
            delay = self._auth_delay
            self._auth_delay = min(delay * 2, self._auth_backoff[1])
            self._paused_until = self._clock() + delay
            self._scheduler.reschedule(TICK, plan.tick, plan.jitter, first_in=delay)
        log.error(
            "9Pic refused the API key (HTTP %s); pausing, next try in %s; "
            "fix the key and send SIGHUP (restart instead if it is a systemd credential)",
            exc.status,
            human(delay),
        )
        self.health_state.set_paused(f"9Pic refused the API key (HTTP {exc.status})")
        self._notifier.status(f"paused: 9Pic refused the API key; next try in {human(delay)}")


def run_daemon(
    load: Callable[[], S],
    cycle: CycleFn[S],
    *,
    env: Mapping[str, str],
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    stop_timeout: float = 60.0,
    install_signals: bool = True,
    ready: threading.Event | None = None,
    auth_backoff: tuple[float, float] = AUTH_BACKOFF,
) -> int:
    """Run the daemon until SIGTERM/SIGINT (or forever); returns the process exit code.

    Errors before the service is up (bad settings, health port busy) are raised as
    :class:`ConfigError`; after that no cycle error ends the daemon.
    """
    daemon = Daemon(
        load,
        cycle,
        env=env,
        metrics=metrics,
        clock=clock,
        stop_timeout=stop_timeout,
        auth_backoff=auth_backoff,
        ready=ready,
    )
    if not install_signals:
        return daemon.run()
    with daemon.signals():
        return daemon.run()
