"""Run an iterator one step ahead in a background thread (network pages while the ledger writes)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(Generic[T]):
    """Iterates ``source`` in a daemon thread, at most ``depth`` items ahead of the consumer.

    Exceptions raised by ``source`` are re-raised in the consumer, in order. ``close()`` stops
    the producer after its current item; the consumer never blocks on a dead producer.
    """

    def __init__(self, source: Iterator[T], *, depth: int = 2, name: str = "prefetch") -> None:
        self._queue: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._ended = False
        self._failure: BaseException | None = None
        self.on_ready: Callable[[], None] | None = None  # called as each item becomes ready
        self._thread = threading.Thread(
            target=self._produce, args=(source,), name=name, daemon=True
        )
        self._thread.start()

    def _produce(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_Failure(exc))
            return
        self._put(_End())

    def _put(self, item: T | _End | _Failure) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            if self.on_ready is not None:
                self.on_ready()
            return True
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def batches(self, limit: int) -> Iterator[list[T]]:
        """Like iterating, but each step takes every item already waiting (up to ``limit``).

        A consumer that falls behind catches up in bigger steps; one that keeps up gets one
        item at a time, as soon as it is there.
        """
        while (items := self.take(limit)) is not None:
            yield items

    def take(self, limit: int, *, timeout: float | None = None) -> list[T] | None:
        """Every item already waiting, up to ``limit``, after waiting up to ``timeout`` seconds
        for the first (None: as long as it takes; 0: not at all): possibly none. None once the
        source has ended and all was taken; a failure of the source is raised after the items
        that came before it."""
        if self._failure is not None:
            raise self._failure
        if self._ended:
            return None
        items: list[T] = []
        while len(items) < limit:
            try:
                first = not items and timeout != 0
                item = self._queue.get(block=first, timeout=timeout if first else None)
            except queue.Empty:
                break
            if isinstance(item, _End):
                self._ended = True
                break
            if isinstance(item, _Failure):
                self._failure = item.exc
                break
            items.append(item)
        if items:
            return items
        if self._failure is not None:
            raise self._failure
        return None if self._ended else items

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
