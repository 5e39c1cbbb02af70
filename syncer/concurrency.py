"""How many downloads run at once: found by measuring throughput, not guessed.

:class:`Controller` makes the decisions, on an injected clock and nothing else. Time is cut
into epochs (at least ``window`` seconds and one completion per allowed download). At the end
of an epoch in which the downloads kept their slots busy it compares the bytes per second with
the previous level's:

* climbing: grow by ``growth`` (doubling) while each step still pays (at least half of the
  proportional gain, so a latency-bound store climbs and a disk- or link-bound one stops);
* a step that does not pay: settle at the knee, the level whose share of the throughput
  matches what one download moved at the climb's first level, and hold it (steady);
* steady: throughput falling well below the level's reference two epochs in a row shrinks
  the target (and a step up soon checks that it was right); every ``probe_every`` epochs a
  small step up checks whether more now pays;
* a storage host pushing back (503, SlowDown, Retry-After, a reset connection) shrinks the
  target at once (at most once an epoch) and holds off probing for a while.

Epochs in which the downloads did not use their slots (the queue ran dry: a walk still paging,
the event's last photos) decide nothing. :class:`Gate` is the thread-safe side: download
threads hold one of its ``target`` slots while they fetch and report what they moved.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

Clock = Callable[[], float]
log = logging.getLogger("syncer.concurrency")

BUSY = 0.8  # share of the slot-seconds in use for an epoch to count
FALLING = 0.7  # steady throughput below this share of the reference shrinks the target
SHRINK = 0.7  # what the target is multiplied by on pushback or falling throughput
PROBE = 1.25  # a steady level's step up, to check whether more now pays


@dataclass(frozen=True)
class Span:
    """The range the target moves in, and where it starts (``minimum == maximum``: pinned)."""

    minimum: int = 4
    maximum: int = 32
    initial: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"concurrency range {self.minimum}..{self.maximum} is empty")

    @classmethod
    def pinned(cls, workers: int) -> Span:
        return cls(workers, workers, workers)

    @property
    def start(self) -> int:
        return min(max(self.initial, self.minimum), self.maximum)


@dataclass
class _Epoch:
    started: float
    target: int
    bytes: int = 0
    completions: int = 0
    busy: float = 0.0  # slot-seconds in use


class Controller:
    """The download concurrency target, decided from throughput and pushback. Not thread-safe."""

    def __init__(
        self,
        span: Span,
        clock: Clock,
        *,
        window: float = 0.25,
        growth: float = 2.0,
        probe_every: int = 8,
    ) -> None:
        self.span = span
        self._clock = clock
        self._window = window
        self._step = growth  # the climb's factor: ``growth`` at first, PROBE from a steady level
        self._probe_every = probe_every
        self.target = span.start
        self._climbing = span.minimum < span.maximum
        self._below: tuple[int, float] | None = None  # (level, rate) the climb stepped from
        self._base: tuple[int, float] = (self.target, 0.0)  # (level, rate) the climb began at
        self._reference: float | None = None  # steady: the current level's rate
        self._steady_epochs = 0
        self._low = 0  # steady epochs in a row well below the reference
        self._in_flight = 0
        self._changed_at = clock()
        self._last_cut = -math.inf
        self._epoch = _Epoch(self._changed_at, self.target)

    # -- what happens ---------------------------------------------------------------------------

    def in_flight(self, count: int) -> None:
        """The number of downloads holding a slot changed to ``count``."""
        self._account()
        self._in_flight = count

    def completed(self, nbytes: int) -> None:
        """One download finished with ``nbytes`` of body."""
        self._account()
        self._epoch.bytes += nbytes
        self._epoch.completions += 1
        self._maybe_decide()

    def pushed_back(self) -> None:
        """The storage host asked for less (503, SlowDown, Retry-After, a reset connection)."""
        self._account()
        now = self._clock()
        if now - self._last_cut < self._window:  # one cut a window: a storm is one signal
            return
        self._last_cut = now
        self._set(max(self.span.minimum, math.floor(self.target * SHRINK)))
        self._climbing = False
        self._below = None
        self._reference = None
        self._steady_epochs = -2 * self._probe_every  # a while before probing again

    # -- deciding -------------------------------------------------------------------------------

    def _account(self) -> None:
        now = self._clock()
        self._epoch.busy += self._in_flight * max(0.0, now - self._changed_at)
        self._changed_at = now

    def _maybe_decide(self) -> None:
        epoch = self._epoch
        elapsed = self._clock() - epoch.started
        if elapsed < self._window or epoch.completions < epoch.target:
            return
        rate = epoch.bytes / elapsed
        if epoch.busy >= BUSY * epoch.target * elapsed:
            if self._climbing:
                self._climb(rate)
            else:
                self._hold(rate)
        self._epoch = _Epoch(self._clock(), self.target)

    def _climb(self, rate: float) -> None:
        level = self.target
        if self._below is None:
            self._base = (level, rate)
            self._step_up(level, rate)
            return
        below, below_rate = self._below
        wanted = below_rate * (1 + 0.5 * (level / below - 1))
        if rate >= wanted:
            self._step_up(level, rate)
            return
        self._settle(self._knee(rate, level))

    def _knee(self, rate: float, level: int) -> int:
        """Where the climb stopped paying: the level whose share of ``rate`` matches what one
        download moved at the climb's first level (within that level and ``level``)."""
        base, base_rate = self._base
        if base_rate <= 0:
            return base
        return min(level, max(base, round(rate * base / base_rate)))

    def _step_up(self, level: int, rate: float) -> None:
        if level >= self.span.maximum:
            self._settle(level)
            return
        self._below = (level, rate)
        self._set(min(self.span.maximum, max(level + 1, math.floor(level * self._step))))

    def _settle(self, level: int) -> None:
        self._climbing = False
        self._below = None
        self._reference = None
        self._steady_epochs = 0
        self._set(level)

    def _hold(self, rate: float) -> None:
        if self._reference is None:
            self._reference = rate
            return
        if rate < FALLING * self._reference and self.target > self.span.minimum:
            self._low += 1
            if self._low >= 2:  # twice in a row: one slow epoch is noise, not a verdict
                self._set(max(self.span.minimum, math.floor(self.target * SHRINK)))
                self._reference = None
                self._low = 0
                self._steady_epochs = self._probe_every - 2  # check soon whether it was right
            return
        self._low = 0
        self._reference = 0.75 * self._reference + 0.25 * rate
        self._steady_epochs += 1
        if self._steady_epochs >= self._probe_every and self.target < self.span.maximum:
            self._climbing = True
            self._step = PROBE
            self._base = (self.target, self._reference)
            self._step_up(self.target, self._reference)

    def _set(self, target: int) -> None:
        self.target = target
        self._epoch = _Epoch(self._clock(), target)


class Gate:
    """Thread-safe slots for downloads, as many as the controller's current target."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._in_flight = 0
        self._cond = threading.Condition()

    @property
    def target(self) -> int:
        with self._cond:
            return self._controller.target

    @property
    def span(self) -> Span:
        return self._controller.span

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block; waits while every slot is taken."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self._controller.target)
            self._in_flight += 1
            self._controller.in_flight(self._in_flight)
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._controller.in_flight(self._in_flight)
                self._cond.notify()  # one slot freed: one waiter (all of them when it grows)

    def completed(self, nbytes: int) -> None:
        with self._cond:
            before = self._controller.target
            self._controller.completed(nbytes)
            self._changed(before, "throughput")

    def pushed_back(self) -> None:
        with self._cond:
            before = self._controller.target
            self._controller.pushed_back()
            self._changed(before, "the storage host pushed back")

    def _changed(self, before: int, why: str) -> None:
        after = self._controller.target
        if after != before:
            log.debug("downloads at once: %d -> %d (%s)", before, after, why)
            self._cond.notify_all()
