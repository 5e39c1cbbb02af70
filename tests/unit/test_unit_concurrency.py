"""The concurrency controller's decisions, on a fake clock against modelled stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from syncer.concurrency import Controller, Gate, Span

SIZE = 100_000
STEP = 0.01


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(
    controller: Controller,
    clock: Clock,
    throughput: Callable[[int], float],
    seconds: float,
    *,
    busy: Callable[[int], int] = lambda target: target,
) -> list[int]:
    """Run a store whose bytes/s at ``target`` connections is ``throughput(target)``.

    Returns the target after each step.
    """
    owed = 0.0
    seen: list[int] = []
    for _ in range(round(seconds / STEP)):
        clock.now += STEP
        controller.in_flight(busy(controller.target))
        owed += throughput(controller.target) * STEP
        while owed >= SIZE:
            owed -= SIZE
            controller.completed(SIZE)
        seen.append(controller.target)
    return seen


def latency_bound(per_connection: float) -> Callable[[int], float]:
    return lambda target: target * per_connection


def capped(per_connection: float, cap: float) -> Callable[[int], float]:
    return lambda target: min(target * per_connection, cap)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_rising_throughput_climbs_to_the_maximum(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 8), clock)
    seen = drive(controller, clock, latency_bound(2e6), 5.0)
    assert seen[0] == 8
    assert controller.target == 32
    assert seen.index(32) * STEP < 2.0  # a handful of epochs, not a slow crawl


def test_flat_throughput_settles_where_it_stops_paying(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 8), clock)
    seen = drive(controller, clock, capped(2e6, 24e6), 20.0)  # 12 connections fill the link
    assert max(seen) <= 18  # one step past the knee, then back
    assert controller.target == 12
    assert seen[len(seen) // 2 :].count(12) > 0.8 * (len(seen) // 2)  # probes are brief


def test_a_link_bound_store_stops_near_the_connections_that_fill_it(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 8), clock)
    drive(controller, clock, capped(5e6, 100e6), 20.0)  # 5 MB/s each, a 100 MB/s link
    assert 18 <= controller.target <= 27


def test_throughput_falling_past_a_peak_does_not_climb_on(clock: Clock) -> None:
    def overloaded(target: int) -> float:  # best at 10, worse with each connection beyond
        return 2e6 * (target if target <= 10 else max(1, 20 - target))

    controller = Controller(Span(4, 32, 8), clock)
    seen = drive(controller, clock, overloaded, 10.0)
    assert controller.target in (8, 10, 12)
    assert sum(target > 12 for target in seen) < 0.1 * len(seen)  # brief probes only


def test_steady_throughput_that_falls_shrinks_the_target(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 16), clock, probe_every=1000)
    drive(controller, clock, capped(2e6, 32e6), 5.0)
    settled = controller.target
    assert settled == 16
    drive(controller, clock, lambda target: 8e6, 3.0)  # the store slows down for everyone
    assert controller.target < settled


def test_a_503_storm_cuts_to_the_minimum_and_holds_off_growing(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 8), clock)
    drive(controller, clock, latency_bound(2e6), 3.0)
    assert controller.target == 32
    for _ in range(60):  # 503s, SlowDowns and resets for a second and a half
        clock.now += 0.025
        controller.pushed_back()
    assert controller.target == 4
    seen = drive(controller, clock, latency_bound(2e6), 2.0)
    assert max(seen) == 4  # no probing right after a storm


def test_one_burst_of_pushback_is_one_cut(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 20), clock)
    for _ in range(10):  # ten downloads answered 503 at the same moment
        controller.pushed_back()
    assert controller.target == 14


def test_growth_resumes_after_a_storm_passes(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 8), clock)
    controller.pushed_back()
    assert controller.target == 5
    drive(controller, clock, latency_bound(2e6), 15.0)
    assert controller.target > 8


def test_idle_slots_decide_nothing(clock: Clock) -> None:
    """A queue running dry (the walk still paging, the last photos) is not a verdict."""
    controller = Controller(Span(4, 32, 8), clock)
    seen = drive(controller, clock, latency_bound(2e6), 5.0, busy=lambda target: target // 2)
    assert set(seen) == {8}


def test_a_pinned_span_never_moves(clock: Clock) -> None:
    controller = Controller(Span.pinned(8), clock)
    seen = drive(controller, clock, latency_bound(2e6), 5.0)
    controller.pushed_back()
    assert set(seen) == {8}
    assert controller.target == 8


def test_an_empty_span_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Span(8, 4, 8)


def test_the_gate_lets_no_more_downloads_through_than_the_target() -> None:
    gate = Gate(Controller(Span.pinned(2), time.monotonic))
    lock = threading.Lock()
    running = [0]
    most = [0]

    def download() -> None:
        with gate.slot():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1
        gate.completed(SIZE)

    threads = [threading.Thread(target=download) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert most[0] == 2
    assert gate.target == 2


def test_one_slow_epoch_is_noise_not_a_reason_to_shrink(clock: Clock) -> None:
    controller = Controller(Span(4, 32, 16), clock, probe_every=1000)
    drive(controller, clock, capped(2e6, 32e6), 3.0)
    assert controller.target == 16
    drive(controller, clock, lambda target: 8e6, 0.3)  # a blip: another process took the CPU
    drive(controller, clock, capped(2e6, 32e6), 3.0)
    assert controller.target == 16
