"""The walk's read-ahead: order, errors and early close."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncer.prefetch import Prefetcher


def test_yields_every_item_in_order() -> None:
    with Prefetcher(iter(range(50)), depth=2) as ahead:
        assert list(ahead) == list(range(50))


def test_reraises_the_source_error_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    seen: list[int] = []
    with Prefetcher(source()) as ahead, pytest.raises(RuntimeError, match="page 3 failed"):
        seen.extend(ahead)
    assert seen == [1, 2]


def test_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []
    gate = threading.Event()

    def source() -> Iterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    with Prefetcher(source(), depth=2) as ahead:
        iterator = iter(ahead)
        assert next(iterator) == 0
        gate.wait(0.2)  # give the producer time to run ahead as far as it may
        assert len(produced) <= 4  # one consumed, two queued, one waiting to be queued


def test_close_stops_the_producer() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    ahead = Prefetcher(endless(), depth=1)
    assert next(iter(ahead)) == 0
    ahead.close()
    assert not ahead._thread.is_alive()


def test_batches_take_what_is_waiting_in_order_and_never_more_than_the_limit() -> None:
    queued, gate = threading.Event(), threading.Event()

    def source() -> Iterator[int]:
        yield from range(6)
        queued.set()  # asked for a seventh: the first six are in the queue
        gate.wait(5)
        yield from range(6, 9)

    with Prefetcher(source(), depth=8) as ahead:
        assert queued.wait(5)
        batches = ahead.batches(limit=4)
        first = next(batches)
        gate.set()
        rest = [item for batch in batches for item in batch]
    assert first == [0, 1, 2, 3]
    assert rest == [4, 5, 6, 7, 8]


def test_batches_hand_over_the_items_before_a_failure_then_raise() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    seen: list[int] = []
    with Prefetcher(source(), depth=4) as ahead, pytest.raises(RuntimeError, match="page 3"):
        seen.extend(item for batch in ahead.batches(limit=10) for item in batch)
    assert seen == [1, 2]


def test_take_without_waiting_gives_what_arrived_then_none_at_the_end() -> None:
    release = threading.Event()
    ready: list[int] = []

    def source() -> Iterator[int]:
        yield 1
        release.wait(5)
        yield 2

    ahead = Prefetcher(source(), depth=4)
    ahead.on_ready = lambda: ready.append(1)
    with ahead:
        assert ahead.take(10) == [1]  # waits for the first
        assert ahead.take(10, timeout=0) == []  # nothing more yet: no wait
        release.set()
        assert ahead.take(10) == [2]
        assert ahead.take(10) is None  # waits for the end
        assert ahead.take(10, timeout=0) is None  # the end, once seen, stays the end
    assert len(ready) >= 2  # told as each item became ready (and at the end)


def test_take_raises_the_failure_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise RuntimeError("page 2 failed")

    with Prefetcher(source(), depth=4) as ahead:
        threading.Event().wait(0.2)  # both queued
        assert ahead.take(10) == [1]
        with pytest.raises(RuntimeError, match="page 2 failed"):
            ahead.take(10, timeout=0)
        with pytest.raises(RuntimeError, match="page 2 failed"):
            ahead.take(10)
