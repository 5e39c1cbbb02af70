"""What the world sees of the daemon: metrics, ``/healthz``, the systemd status line, the log.

:class:`Outcomes` turns each lifecycle moment (started, reloading, stopping) and each cycle's
outcome into Prometheus metrics (:mod:`syncer.metrics`), the health verdict and its endpoint
(:mod:`syncer.health`) and service notifications (:mod:`syncer.notify`). It decides nothing
about when things run; :func:`classify` names how a cycle ended, for it and for the schedule.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from syncer.cadence import DaemonSettings, human
from syncer.errors import ApiUnavailableError, AuthError, StorageError, SyncerError
from syncer.health import HealthEndpoint, HealthState
from syncer.metrics import Metrics
from syncer.notify import Notifier, Watchdog
from syncer.report import CycleReport

log = logging.getLogger("syncer.daemon")


class Failure(enum.Enum):
    """How a cycle failed."""

    UNAVAILABLE = "unavailable"  # the API stayed unavailable: the events are due at the next wake
    AUTH = "auth"  # the key was refused: the schedule pauses
    STORAGE = "storage"  # the root or ledger is unusable: unhealthy until a cycle completes
    FAILED = "failed"  # another SyncerError
    ERROR = "error"  # a bug

    @property
    def result(self) -> str:
        """The ``syncer_cycles_total`` result label."""
        return "failed" if self is Failure.UNAVAILABLE else self.value

    @property
    def waits_for_next_turn(self) -> bool:
        """Whether the events wait for their next interval (else they are due again sooner)."""
        return self not in (Failure.UNAVAILABLE, Failure.AUTH)


def classify(exc: Exception) -> Failure:
    if isinstance(exc, AuthError):
        return Failure.AUTH
    if isinstance(exc, ApiUnavailableError):
        return Failure.UNAVAILABLE
    if isinstance(exc, StorageError):
        return Failure.STORAGE
    if isinstance(exc, SyncerError):
        return Failure.FAILED
    return Failure.ERROR


def scope(ids: Sequence[int] | None) -> str:
    return "all events" if ids is None else "events " + ", ".join(map(str, ids))


class Outcomes:
    """Records what the daemon did where operators look; thread-safe where the parts are."""

    def __init__(self, *, env: Mapping[str, str], metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self.health_state = HealthState(max_age=0.0)
        self.unexpected_errors = 0
        self._endpoint = HealthEndpoint(self.health_state, self.metrics)
        self._notifier = Notifier.from_env(env)
        self._watchdog: Watchdog | None = None
        self._lock = threading.Lock()

    @property
    def health_address(self) -> tuple[str, int] | None:
        return self._endpoint.address

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self, settings: DaemonSettings) -> None:
        """Serve health as ``settings`` say; raises :class:`ConfigError` when it cannot."""
        self.health_state = HealthState(max_age=settings.health.max_age)
        self._endpoint = HealthEndpoint(self.health_state, self.metrics)
        self._endpoint.start(settings.health.listen, settings.health.allow_remote)

    def started(self, alive: Callable[[], bool]) -> None:
        """The service is up: tell systemd, and keep its watchdog fed while ``alive()``."""
        self._notifier.ready()
        self._notifier.status("running the first cycle")
        self._watchdog = Watchdog(self._notifier, alive)
        self._watchdog.start()

    def reloading(self) -> None:
        self._notifier.reloading()

    def reload_failed(self) -> None:
        self._notifier.ready()

    def reloaded(self, settings: DaemonSettings) -> None:
        """New settings apply: a fresh verdict, health served where they say."""
        self.health_state.max_age = settings.health.max_age
        self.health_state.clear_problem()
        self._endpoint.move(settings.health.listen, settings.health.allow_remote)
        self._notifier.ready()
        self._notifier.status("settings reloaded")

    def stopping(self) -> None:
        self._notifier.stopping()

    def stopped(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
        self._endpoint.stop()
        self._notifier.close()

    # -- cycles ----------------------------------------------------------------------------------

    def starting(self, number: int, ids: Sequence[int] | None) -> None:
        log.debug("cycle %d started: %s", number, scope(ids))

    def succeeded(
        self, number: int, report: CycleReport, seconds: float, ids: Sequence[int] | None
    ) -> None:
        if not report.interrupted:
            self.health_state.record_success()
        if report.ended_at is not None:
            seconds = report.seconds
        self.metrics.record_cycle(report, "ok", seconds=seconds)
        new, done, failed = (report.total(k) for k in ("new", "downloaded", "failed"))
        summary = f"cycle {number}: {new} new, {done} downloaded, {failed} failed"
        self._notifier.status(summary)
        broken = sum(1 for event in report.events if event.error)
        log.info(
            "%s (%s), %d bytes in %.1f s%s%s",
            summary,
            scope(ids),
            report.total("bytes"),
            seconds,
            f", {broken} events could not be synced" if broken else "",
            " (interrupted)" if report.interrupted else "",
        )

    def failed(
        self,
        number: int,
        exc: Exception,
        failure: Failure,
        seconds: float,
        *,
        next_try: float,
    ) -> None:
        """A cycle raised; ``next_try`` is when its events are tried again (seconds from now)."""
        self.metrics.record_cycle(None, failure.result, seconds=seconds)
        message = exc.message if isinstance(exc, SyncerError) else ""
        if failure is Failure.UNAVAILABLE:
            log.warning(
                "cycle %d: 9Pic API unavailable, retrying at the next tick: %s", number, message
            )
            why = "9Pic API unavailable"
        elif failure is Failure.STORAGE:
            log.error(
                "cycle %d: storage unusable, next try in %s: %s", number, human(next_try), message
            )
            self.health_state.set_failing(f"storage: {message}")
            why = "storage unusable"
        elif failure is Failure.FAILED:
            log.error("cycle %d failed: %s", number, message)
            why = message
        else:
            with self._lock:
                self.unexpected_errors += 1
            log.error("cycle %d crashed with an unexpected error", number, exc_info=exc)
            why = "unexpected error (see the log)"
        self._notifier.status(f"cycle {number} failed: {why}")

    def refused(self, number: int, exc: AuthError, seconds: float, pause: float | None) -> None:
        """The API key was refused; ``pause`` None: the settings changed meanwhile, no pause."""
        self.metrics.record_cycle(None, Failure.AUTH.result, seconds=seconds)
        if pause is None:
            log.warning(
                "cycle %d: 9Pic refused the API key (HTTP %s); settings were "
                "reloaded meanwhile, trying again",
                number,
                exc.status,
            )
            return
        log.error(
            "9Pic refused the API key (HTTP %s); pausing, next try in %s; "
            "fix the key and send SIGHUP (restart instead if it is a systemd credential)",
            exc.status,
            human(pause),
        )
        self.health_state.set_paused(f"9Pic refused the API key (HTTP {exc.status})")
        self._notifier.status(f"paused: 9Pic refused the API key; next try in {human(pause)}")

    def verify_failed(self, exc: Exception) -> None:
        """A scheduled verify raised: logged; the next one comes a ``verify_interval`` later."""
        if isinstance(exc, SyncerError):
            log.error("scheduled verify failed: %s", exc.message)
            return
        with self._lock:
            self.unexpected_errors += 1
        log.error("scheduled verify crashed with an unexpected error", exc_info=exc)
