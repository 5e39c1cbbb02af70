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
