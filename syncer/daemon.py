"""The long-running service's lifecycle: start, signals, reload, stop.

:class:`Daemon` loads the settings, starts the working thread (:class:`~syncer.runner.Runner`,
which runs the injected cycle on the schedule) and serves stop and reload requests in the main
thread; signals only queue those requests. What operators see (metrics, ``/healthz``, systemd
status, the log of each cycle) is :class:`~syncer.outcomes.Outcomes`' job.

A cycle that does not stop within ``stop_timeout`` is abandoned: :meth:`Daemon.run` returns,
and :func:`run_daemon` ends the process without waiting for it (its files appear atomically or
not at all, and the ledger commits in transactions, so the next start resumes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Generic

from syncer.cadence import Plan, human
from syncer.errors import SyncerError
from syncer.health import HealthState
from syncer.metrics import Metrics
from syncer.outcomes import Outcomes
from syncer.runner import Clock, CycleFn, Runner, S, VerifyFn
from syncer.schedule import AUTH_BACKOFF, Jitter, uniform_jitter

log = logging.getLogger("syncer.daemon")


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
        verify: VerifyFn[S] | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        stop_timeout: float = 60.0,
        auth_backoff: tuple[float, float] = AUTH_BACKOFF,
        jitter: Jitter = uniform_jitter,
        ready: threading.Event | None = None,
    ) -> None:
        self._load, self._cycle, self._verify = load, cycle, verify
        self._clock, self._backoff, self._jitter = clock, auth_backoff, jitter
        self.outcomes = Outcomes(env=env, metrics=metrics)
        self._stop_timeout = stop_timeout
        self._ready = ready
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()  # reentrant: signal-safe
        self._stop = threading.Event()
        self._runner: Runner[S] | None = None
        self._thread: threading.Thread | None = None
        self.settings: S | None = None
        self.abandoned = False  # a cycle outlived stop_timeout

    # -- what tests and operators read -------------------------------------------------------------

    @property
    def metrics(self) -> Metrics:
        return self.outcomes.metrics

    @property
    def health_state(self) -> HealthState:
        return self.outcomes.health_state

    @property
    def health_address(self) -> tuple[str, int] | None:
        return self.outcomes.health_address

    @property
    def cycles(self) -> int:
        return self._runner.cycles if self._runner is not None else 0

    @property
    def unexpected_errors(self) -> int:
        return self.outcomes.unexpected_errors

    # -- control (safe from signal handlers and other threads) ---------------------------------

    def request_stop(self) -> None:
        self._commands.put("stop")

    def request_reload(self) -> None:
        self._commands.put("reload")

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
        """Start, serve until a stop is requested, stop cleanly; returns the exit code (0).

        Errors before the service is up (bad settings, health port busy) are raised.
        """
        settings = self._load()
        plan = Plan.of(settings)
        self.settings = settings
        self.outcomes.open(settings)
        try:
            self._start(settings, plan)
            log.info("daemon started: %s", plan.describe())
            if self._ready is not None:
                self._ready.set()
            self._serve()
        finally:
            self._shutdown()
        return 0

    def _start(self, settings: S, plan: Plan) -> None:
        runner = Runner(
            settings,
            plan,
            self._cycle,
            self.outcomes,
            stop=self._stop,
            verify=self._verify,
            clock=self._clock,
            backoff=self._backoff,
            jitter=self._jitter,
        )
        # a daemon thread: a cycle stuck past stop_timeout must not keep the process alive
        thread = threading.Thread(target=runner.run, name="syncer-cycles", daemon=True)
        self._runner, self._thread = runner, thread
        thread.start()
        self.outcomes.started(alive=thread.is_alive)

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
        self.outcomes.reloading()
        try:
            settings = self._load()
            plan = Plan.of(settings)
        except Exception as exc:  # a bad reload must not take the running daemon down
            _log_reload_failure(exc)
            self.outcomes.reload_failed()
            return False
        self.settings = settings
        if self._runner is not None:
            self._runner.replan(settings, plan)
        self.outcomes.reloaded(settings)
        log.info("settings reloaded: %s", plan.describe())
        return True

    def _shutdown(self) -> None:
        self.outcomes.stopping()
        self._stop.set()
        if self._runner is not None:
            self._runner.wake()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(0.05)
            if thread.is_alive():
                wait = human(self._stop_timeout)
                log.info("stopping: waiting up to %s for the running cycle", wait)
                thread.join(self._stop_timeout)
            if thread.is_alive():
                self.abandoned = True
                log.warning("the running cycle did not stop within %s", human(self._stop_timeout))
        self.outcomes.stopped()
        log.info("daemon stopped after %d cycles", self.cycles)


def run_daemon(
    load: Callable[[], S],
    cycle: CycleFn[S],
    *,
    env: Mapping[str, str],
    verify: VerifyFn[S] | None = None,
    metrics: Metrics | None = None,
    stop_timeout: float = 60.0,
    install_signals: bool = True,
    ready: threading.Event | None = None,
    auth_backoff: tuple[float, float] = AUTH_BACKOFF,
) -> int:
    """Run the daemon until SIGTERM/SIGINT (or forever); returns the process exit code.

    Errors before the service is up (bad settings, health port busy) are raised as
    :class:`ConfigError`; after that no cycle error ends the daemon. When a cycle outlives
    ``stop_timeout`` the process exits here, without waiting for that cycle's threads.
    """
    daemon = Daemon(
        load,
        cycle,
        env=env,
        verify=verify,
        metrics=metrics,
        stop_timeout=stop_timeout,
        auth_backoff=auth_backoff,
        ready=ready,
    )
    with daemon.signals() if install_signals else contextlib.nullcontext():
        code = daemon.run()
    if daemon.abandoned:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End the process at once: Python would otherwise wait for the abandoned cycle's threads."""
    log.warning("exiting without waiting for the running cycle")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
