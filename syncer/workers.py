"""Where downloads run: a pool of threads of this process, one storage client shared by all.

Streaming, hashing (``hashlib`` releases the GIL) and writing (``O_DIRECT``, see sink.py) keep
one process near disk speed; the coordinator stays the only writer of the ledger.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal, Protocol

from syncer.concurrency import Gate
from syncer.downloader import Downloader, Job, Stored
from syncer.errors import TransferError

Kind = Literal["fetch", "adopt"]


class Workers(Protocol):
    """Runs downloads and adoptions somewhere; results come back as futures."""

    def submit(self, kind: Kind, job: Job) -> Future[Stored]: ...
    def close(self) -> None: ...


def run_job(downloader: Downloader, kind: Kind, job: Job, gate: Gate | None = None) -> Stored:
    """One unit of work: fetch a URL, or adopt a file an interrupted run left in place.

    A fetch holds one of ``gate``'s slots and tells it what it moved or that the host pushed
    back; an adoption only reads the disk and takes no slot.
    """
    if kind == "fetch":
        return downloader.fetch(job) if gate is None else _gated_fetch(downloader, job, gate)
    stored = downloader.adopt(job)
    if stored is None:
        raise TransferError("existing file is not a photo; fetching it again")
    return stored


def _gated_fetch(downloader: Downloader, job: Job, gate: Gate) -> Stored:
    with gate.slot():
        try:
            stored = downloader.fetch(job)
        except TransferError as exc:
            if exc.pushback:
                gate.pushed_back()
            raise
    gate.completed(stored.bytes)
    return stored


class ThreadWorkers:
    """Downloads in a thread pool of this process, as many at once as ``gate`` allows."""

    def __init__(self, downloader: Downloader, gate: Gate) -> None:
        self._downloader = downloader
        self._gate = gate
        self._pool = ThreadPoolExecutor(gate.span.maximum, thread_name_prefix="download")

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        return self._pool.submit(run_job, self._downloader, kind, job, self._gate)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
