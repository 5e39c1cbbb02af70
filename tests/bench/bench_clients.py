"""Compare two ways of reading photo bodies: httpx streaming vs http.client ``readinto``.

Both loops do what syncer's downloader does per photo (sha256, write, fsync) with the same
threads against the same simulator storage, alternately, so the ratio is meaningful on a noisy
machine::

    python tests/bench/bench_clients.py --photos 400 --size 2MB --threads 8 --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from syncer.sim import SimConfig, Simulator
from syncer.units import parse_size

Fetch = Callable[[str, Path], str]


def httpx_fetch(client: httpx.Client) -> Fetch:
    def fetch(url: str, dest: Path) -> str:
        digest = hashlib.sha256()
        with client.stream("GET", url) as response:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for chunk in response.iter_raw():
                digest.update(chunk)
                os.write(fd, chunk)
            os.fsync(fd)
            os.close(fd)
        return digest.hexdigest()

    return fetch


def readinto_fetch() -> Fetch:
    local = threading.local()

    def fetch(url: str, dest: Path) -> str:
        parts = urlsplit(url)
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
            local.buffer = bytearray(1024 * 1024)
        local.conn.request("GET", f"{parts.path}?{parts.query}")
        response = local.conn.getresponse()
        digest = hashlib.sha256()
        view = memoryview(local.buffer)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        while count := response.readinto(view):
            digest.update(view[:count])
            os.write(fd, view[:count])
        os.fsync(fd)
        os.close(fd)
        return digest.hexdigest()

    return fetch


def measure(fetch: Fetch, urls: list[str], folder: Path, threads: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda n: fetch(urls[n], folder / f"{n}.jpg"), range(len(urls))))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--size", default="2MB")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = SimConfig(events=1, photos_per_event=args.photos, photo_bytes=parse_size(args.size))
    with Simulator(config) as sim, tempfile.TemporaryDirectory() as tmp:
        sim.wait_files()
        event = sim.events()[1].event_id if len(sim.events()) > 1 else sim.events()[0].event_id
        ids = [p.image_id for p in sim.photos(event)]
        urls = [sim.presign(event, image_id) for image_id in ids]
        headers = {"Accept-Encoding": "identity"}
        limits = httpx.Limits(max_connections=args.threads)
        results: dict[str, list[tuple[float, float]]] = {"httpx": [], "http.client": []}
        with httpx.Client(headers=headers, limits=limits) as client:
            loops = {"httpx": httpx_fetch(client), "http.client": readinto_fetch()}
            for _ in range(args.rounds):
                for name, fetch in loops.items():
                    results[name].append(measure(fetch, urls, Path(tmp), args.threads))
        print(f"{len(urls)} photos, {args.threads} threads, {args.rounds} rounds (medians)")
        for name, runs in results.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"{name:12s} wall {wall:6.2f} s   CPU {cpu:6.2f} s")


if __name__ == "__main__":
    main()
