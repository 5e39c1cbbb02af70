"""Where downloads run: threads of this process, or threads in several worker processes.

Streaming, hashing and writing photos costs CPU in Python code (HTTP parsing, buffer copies)
that holds the GIL, so one process tops out at one core. On a multi-core machine big syncs
spread the downloads over worker processes, each with its own threads and its own storage
client; the coordinator stays the only writer of the ledger. Workers die with their parent
(``PR_SET_PDEATHSIG``), so a killed sync never leaves a process writing behind its back.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, Literal, Protocol

from syncer.api.storage import StorageClient
from syncer.downloader import Downloader, Job, Stored
from syncer.errors import TransferError

log = logging.getLogger("syncer.workers")

Kind = Literal["fetch", "adopt"]
_PR_SET_PDEATHSIG = 1


class Workers(Protocol):
    """Runs downloads and adoptions somewhere; results come back as futures."""

    def submit(self, kind: Kind, job: Job) -> Future[Stored]: ...
    def close(self) -> None: ...


def run_job(downloader: Downloader, kind: Kind, job: Job) -> Stored:
    """One unit of work: fetch a URL, or adopt a file an interrupted run left in place."""
    if kind == "fetch":
        return downloader.fetch(job)
    stored = downloader.adopt(job)
    if stored is None:
        raise TransferError("existing file is not a photo; fetching it again")
    return stored


class ThreadWorkers:
    """Downloads in a thread pool of this process."""

    def __init__(self, downloader: Downloader, threads: int) -> None:
        self._downloader = downloader
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="download")

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        return self._pool.submit(run_job, self._downloader, kind, job)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to build its own downloader."""

    threads: int
    temp_dir: Path
    fsync: bool
    direct: bool
    links: str
    timeout: float


class ProcessWorkers:
    """Downloads in ``processes`` worker processes with ``spec.threads`` threads each."""

    def __init__(self, spec: WorkerSpec, processes: int, stop: threading.Event) -> None:
        context = multiprocessing.get_context("spawn")
        self._jobs: multiprocessing.Queue[tuple[int, Kind, Job] | None] = context.Queue()
        self._results: multiprocessing.Queue[tuple[int, bool, Any] | None] = context.Queue()
        self._stop = context.Event()
        self._pending: dict[int, Future[Stored]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = threading.Event()
        self._spec = spec
        self._processes = [
            context.Process(
                target=_worker_main,
                name=f"syncer-download-{n}",
                daemon=True,
                args=(spec, os.getpid(), self._jobs, self._results, self._stop),
            )
            for n in range(processes)
        ]
        for process in self._processes:
            process.start()
        self._threads = [
            threading.Thread(target=self._collect, name="download-results", daemon=True),
            threading.Thread(target=self._watch, args=(stop,), name="download-stop", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, kind: Kind, job: Job) -> Future[Stored]:
        future: Future[Stored] = Future()
        job_id = next(self._ids)
        with self._lock:
            self._pending[job_id] = future
        self._jobs.put((job_id, kind, job))
        return future

    def close(self) -> None:
        for _ in range(len(self._processes) * self._spec.threads):
            self._jobs.put(None)
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        self._closed.set()
        self._results.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._fail_pending("the download workers stopped")

    def _collect(self) -> None:
        while True:
            try:
                item = self._results.get(timeout=1.0)
            except queue.Empty:
                if not self._closed.is_set() and not any(p.is_alive() for p in self._processes):
                    self._fail_pending("every download worker died")
                continue
            if item is None:
                return
            job_id, ok, payload = item
            with self._lock:
                future = self._pending.pop(job_id, None)
            if future is None:
                continue
            if ok:
                future.set_result(payload)
            else:
                future.set_exception(payload)

    def _watch(self, stop: threading.Event) -> None:
        while not self._closed.is_set():
            if stop.wait(0.1):
                self._stop.set()
                return

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(TransferError(reason))


def _worker_main(
    spec: WorkerSpec,
    parent: int,
    jobs: multiprocessing.Queue[tuple[int, Kind, Job] | None],
    results: multiprocessing.Queue[tuple[int, bool, Any] | None],
    stop: MpEvent,
) -> None:
    """Entry point of a worker process: threads pulling jobs until told to finish."""
    _die_with_parent(parent)
    storage = StorageClient(timeout=spec.timeout, max_connections=spec.threads)
    downloader = Downloader(
        storage,
        spec.temp_dir,
        fsync=spec.fsync,
        direct=spec.direct,
        links=spec.links,
        stop=_StopFlag(stop),
    )
    threads = [
        threading.Thread(target=_work, args=(downloader, jobs, results), daemon=True)
        for _ in range(spec.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    storage.close()


def _work(
    downloader: Downloader,
    jobs: multiprocessing.Queue[tuple[int, Kind, Job] | None],
    results: multiprocessing.Queue[tuple[int, bool, Any] | None],
) -> None:
    while (item := jobs.get()) is not None:
        job_id, kind, job = item
        try:
            results.put((job_id, True, run_job(downloader, kind, job)))
        except Exception as exc:  # handed back to the coordinator, which decides
            results.put((job_id, False, _portable(exc)))


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a TransferError describing it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes, this very process)
    except Exception:
        return TransferError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with_parent(parent: int) -> None:
    """Signals are the coordinator's business; if it dies, so does this worker."""
    for name in ("SIGINT", "SIGTERM", "SIGXFSZ", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


class _StopFlag(threading.Event):
    """A threading.Event view of the coordinator's cross-process stop flag."""

    def __init__(self, flag: MpEvent) -> None:
        super().__init__()
        self._flag = flag

    def is_set(self) -> bool:
        return self._flag.is_set()
