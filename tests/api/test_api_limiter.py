"""AdaptiveLimiter: halve on 429, grow back one step after a streak of successes."""

from __future__ import annotations

import threading

import pytest

from syncer.api import AdaptiveLimiter


def test_throttled_halves_down_to_the_minimum() -> None:
    limiter = AdaptiveLimiter(initial=4, minimum=1, maximum=4)
    limits = []
    for _ in range(4):
        limiter.throttled()
        limits.append(limiter.limit)
    assert limits == [2, 1, 1, 1]


def test_minimum_is_respected() -> None:
    limiter = AdaptiveLimiter(initial=8, minimum=3, maximum=8)
    limiter.throttled()
    limiter.throttled()
    assert limiter.limit == 3


def test_grows_one_step_after_grow_after_successes() -> None:
    limiter = AdaptiveLimiter(initial=1, maximum=3, grow_after=5)
    for _ in range(4):
        limiter.succeeded()
    assert limiter.limit == 1
    limiter.succeeded()
    assert limiter.limit == 2
    for _ in range(5):
        limiter.succeeded()
    assert limiter.limit == 3
    for _ in range(50):
        limiter.succeeded()
    assert limiter.limit == 3


def test_throttle_restarts_the_success_streak() -> None:
    limiter = AdaptiveLimiter(initial=2, maximum=4, grow_after=3)
    limiter.succeeded()
    limiter.succeeded()
    limiter.throttled()
    assert limiter.limit == 1
    limiter.succeeded()
    limiter.succeeded()
    assert limiter.limit == 1
    limiter.succeeded()
    assert limiter.limit == 2


def test_initial_is_clamped() -> None:
    assert AdaptiveLimiter(initial=10, maximum=2).limit == 2
    assert AdaptiveLimiter(initial=0, minimum=1).limit == 1


@pytest.mark.parametrize(
    "kwargs", [{"minimum": 0}, {"minimum": 3, "maximum": 2}, {"grow_after": 0}]
)
def test_bad_configuration_is_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="limiter"):
        AdaptiveLimiter(**kwargs)


def test_slot_counts_calls_in_flight_and_releases_on_error() -> None:
    limiter = AdaptiveLimiter(initial=2, maximum=2)
    with limiter.slot():
        assert limiter.in_flight == 1
        with limiter.slot():
            assert limiter.in_flight == 2
    assert limiter.in_flight == 0
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("boom")
    assert limiter.in_flight == 0


def test_a_full_limiter_blocks_until_a_slot_is_released() -> None:
    limiter = AdaptiveLimiter(initial=1, maximum=1)
    entered = threading.Event()
    order: list[str] = []

    def second() -> None:
        with limiter.slot():
            order.append("second")
            entered.set()

    with limiter.slot():
        worker = threading.Thread(target=second)
        worker.start()
        # The worker cannot enter while we hold the only slot.
        assert not entered.wait(timeout=0.05)
        order.append("first done")
    worker.join(timeout=5)
    assert entered.is_set()
    assert order == ["first done", "second"]


def test_growth_wakes_a_waiting_caller() -> None:
    limiter = AdaptiveLimiter(initial=1, maximum=2, grow_after=1)
    entered = threading.Event()

    def waiter() -> None:
        with limiter.slot():
            entered.set()

    with limiter.slot():
        worker = threading.Thread(target=waiter)
        worker.start()
        assert not entered.wait(timeout=0.05)
        limiter.succeeded()
        assert entered.wait(timeout=5)
    worker.join(timeout=5)
    assert limiter.limit == 2
