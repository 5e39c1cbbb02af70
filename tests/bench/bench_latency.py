"""How many downloads at once syncer settles on, and what it buys, against a distant store.

    python tests/bench/bench_latency.py [--photos 2000] [--size 100KB] [--rounds 3]
        [--api-delay 0.08] [--storage-delay 0.05] [--cap-photos 400] [--cap-size 1MB]
        [--skip-distant] [--skip-cap] [--no-peers] [--tls] [--out results.json] [--workdir DIR]

1. Distant store: the bundled simulator answers every API call ``--api-delay`` late and sends
   the first byte of every photo ``--storage-delay`` late. ``syncer sync`` with its default
   settings (adaptive) and with ``--workers 8`` run alternately, each on a fresh root and
   ledger. The latency floor at c downloads at once is photos x storage delay / c: what the
   bodies' waits alone cost at that concurrency. The concurrency syncer settled on is the one
   its ledger recorded last (what ``syncer status`` shows). A third run per round takes the
   same photos with the delays off: what this machine's CPU and disk allow at all (on a small
   machine, with the simulator beside syncer, that bound can lie above the latency floor).
   wget2 and aria2c (when installed) then fetch the same photos' presigned URLs with as many
   connections as syncer settled on, followed by ``sync``: what a plain downloader gets from
   the same distant store on the same machine. A last table gives each mode's CPU seconds: the
   client's user and system time, and the simulator's (the benchmark process) meanwhile.
   With ``--tls`` the simulator serves the API and the photos over HTTPS with a throwaway CA
   (syncer trusts it through ``SSL_CERT_FILE``, wget2 and aria2c through ``--ca-certificate``),
   as 9Pic's presigned URLs are in production.
2. Capped connections: every body at most 5 MB/s, all bodies together at most 100 MB/s (a
   link): the concurrency that fills the link is 20.

Prints a markdown table with PASS/FAIL per target and, with ``--out``, every number as JSON.
Wall times come from the benchmark's clock around each whole ``syncer`` process; every run's
files are checked against the simulator's sha256 before the next run starts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench_peers import Peer, find_peers
from bench_world import verify_tree
from tls_ca import make_ca  # bench_world puts tests/ on the path

from syncer.sim import Faults, SimConfig, SimPhoto, Simulator
from syncer.units import parse_size

PRESIGN_TTL = 7 * 24 * 3600.0
PER_CONNECTION = 5_000_000  # bytes/s of one body in the capped case
LINK = 100_000_000  # bytes/s of all bodies together in the capped case
NO_LATENCY = "adaptive, no latency"
PEERS = ("wget2", "aria2c")


@dataclass
class Run:
    mode: str  # "adaptive" or "fixed N"
    seconds: float
    concurrency: int | None  # what the ledger recorded last
    cpu: Cpu | None = None


@dataclass(frozen=True)
class Cpu:
    """CPU seconds of one run: the client process's, and the simulator's meanwhile."""

    user: float
    system: float
    simulator: float


class CpuClock:
    """Child (client) and own (simulator) CPU time around one run."""

    def __enter__(self) -> CpuClock:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        user, system, own = (b - a for a, b in zip(self._start, end, strict=True))
        self.cpu = Cpu(user, system, own)

    @staticmethod
    def _now() -> tuple[float, float, float]:
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return child.ru_utime, child.ru_stime, own.ru_utime + own.ru_stime


@dataclass
class Case:
    name: str
    photos: int
    photo_bytes: int
    runs: list[Run] = field(default_factory=list)

    def walls(self, mode: str) -> list[float]:
        return [run.seconds for run in self.runs if run.mode == mode]

    def settled(self) -> list[int]:
        return [run.concurrency or 0 for run in self.runs if run.mode == "adaptive"]


class Bench:
    """One simulator with its photo files written, and fresh syncer runs against it."""

    def __init__(
        self, home: Path, photos: int, photo_bytes: int, faults: Faults, *, tls: bool = False
    ) -> None:
        keys = make_ca(home / "ca") if tls else None
        self.ca = None if keys is None else keys.ca  # every client trusts it (HTTPS)
        config = SimConfig(
            events=1,
            photos_per_event=photos,
            photo_bytes=photo_bytes,
            presign_ttl=PRESIGN_TTL,
            data_dir=home / "data",
            tls_cert=None if keys is None else keys.cert,
            tls_key=None if keys is None else keys.key,
        )
        self.home = home
        self.sim = Simulator(config, faults=faults).start()
        self.sim.wait_files()  # served from files: the simulator's CPU stays out of the way
        self.event_id = next(e.event_id for e in self.sim.events() if e.configured)
        self.truth: dict[str, SimPhoto] = {p.image_id: p for p in self.sim.photos(self.event_id)}
        self.count = 0

    def close(self) -> None:
        self.sim.stop()

    def run_peer(self, peer: Peer, connections: int) -> Run:
        """``peer`` fetches every photo's presigned URL, ``connections`` at once, then ``sync``:
        the same bodies with the same delays, and no API calls, ledger or folders."""
        self.count += 1
        run_dir = self.home / f"run{self.count}"
        run_dir.mkdir()
        urls = run_dir / "urls.txt"
        links = (self.sim.presign(self.event_id, image_id) for image_id in self.truth)
        urls.write_text("".join(f"{link}\n" for link in links), encoding="utf-8")
        dest = run_dir / "photos"
        argv = peer.argv(urls, dest, ca=self.ca, connections=connections)
        started = time.perf_counter()
        with CpuClock() as clock:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        os.sync()
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{peer.name} exited {done.returncode}: {done.stderr[-2000:]}")
        verify_tree(dest, self.truth)
        return Run(f"{peer.name} at {connections}", seconds, connections, clock.cpu)

    def run(self, workers: int | None, *, near: bool = False) -> Run:
        """One fresh ``syncer sync``: adaptive, or pinned at ``workers``; ``near``: with the
        simulator's delays off for this run."""
        if near:
            delays = self.sim.faults.slow_api_seconds, self.sim.faults.slow_storage_seconds
            self.sim.faults.slow_api_seconds = self.sim.faults.slow_storage_seconds = 0.0
            try:
                return replace(self.run(workers), mode=NO_LATENCY)
            finally:
                self.sim.faults.slow_api_seconds, self.sim.faults.slow_storage_seconds = delays
        self.count += 1
        run_dir = self.home / f"run{self.count}"
        run_dir.mkdir()
        config = run_dir / "syncer.toml"
        ledger = run_dir / "ledger.sqlite3"
        config.write_text(
            "\n".join(
                [
                    "[api]",
                    f"base_url = {json.dumps(self.sim.base_url)}",
                    f"org_id = {self.sim.org_id}",
                    "[storage]",
                    f"root = {json.dumps(str(run_dir / 'photos'))}",
                    f"ledger = {json.dumps(str(ledger))}",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        argv = [sys.executable, "-m", "syncer", "--config", str(config), "sync"]
        argv += ["--event", str(self.event_id), "--json", "--no-progress"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
        env["SYNCER_API_KEY"] = self.sim.api_key
        if self.ca is not None:
            env["SSL_CERT_FILE"] = str(self.ca)
        started = time.perf_counter()
        with CpuClock() as clock:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"syncer exited {done.returncode}: {done.stderr[-2000:]}")
        verify_tree(run_dir / "photos", self.truth)
        mode = "adaptive" if workers is None else f"fixed {workers}"
        return Run(mode, seconds, _recorded_concurrency(ledger), clock.cpu)


def _recorded_concurrency(ledger: Path) -> int | None:
    with sqlite3.connect(ledger) as conn:
        row = conn.execute("SELECT concurrency FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def measure(
    name: str,
    args: argparse.Namespace,
    photos: int,
    size: int,
    faults: Faults,
    peers: list[int],
    *,
    near: bool = False,
    tools: Sequence[Peer] = (),
) -> Case:
    case = Case(name, photos, size)
    with tempfile.TemporaryDirectory(prefix="bench-latency-", dir=args.workdir) as tmp:
        bench = Bench(Path(tmp), photos, size, faults, tls=getattr(args, "tls", False))
        try:
            for round_no in range(args.rounds):
                modes: list[tuple[int | None, bool]] = [(None, False)]
                modes += [(peer, False) for peer in peers] + ([(None, True)] if near else [])
                if round_no % 2:
                    modes.reverse()  # none always first
                for workers, quiet in modes:
                    _note(name, round_no, case, bench.run(workers, near=quiet))
                level = case.settled()[-1]  # the peers get what syncer settled on this round
                for tool in tools:
                    _note(name, round_no, case, bench.run_peer(tool, level))
        finally:
            bench.close()
    return case


def _note(name: str, round_no: int, case: Case, run: Run) -> None:
    case.runs.append(run)
    settled = f" (settled on {run.concurrency})" if run.mode == "adaptive" else ""
    print(
        f"  {name} round {round_no + 1}: {run.mode}: {run.seconds:.2f} s{settled}",
        file=sys.stderr,
        flush=True,
    )


def report_distant(case: Case, storage_delay: float) -> tuple[list[str], bool]:
    lines = [
        "| round | adaptive (s) | settled on | latency floor there (s) | vs floor "
        "| fixed 8 (s) | fixed 8 / adaptive | no latency (s) | vs no latency |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    adaptive, fixed, settled = case.walls("adaptive"), case.walls("fixed 8"), case.settled()
    near = case.walls(NO_LATENCY) or [0.0] * len(adaptive)  # 0: not measured
    rows = zip(adaptive, fixed, settled, near, strict=True)
    for n, (wall, peer, level, bound) in enumerate(rows, 1):
        floor = case.photos * storage_delay / max(level, 1)
        lines.append(
            f"| {n} | {wall:.2f} | {level} | {floor:.2f} | {_ratio(wall, floor)} | {peer:.2f} "
            f"| {peer / wall:.2f}x | {bound:.2f} | {_ratio(wall, bound)} |"
        )
    wall, peer, bound = (
        statistics.median(adaptive),
        statistics.median(fixed),
        statistics.median(near),
    )
    level = int(statistics.median(settled))
    floor = case.photos * storage_delay / max(level, 1)
    close = floor > 0 and wall / floor <= 1.3
    faster = peer / wall >= 1.8
    lines += [
        "",
        f"- within 1.3x of the latency floor at the concurrency it settles on: "
        f"{'PASS' if close else 'FAIL'} (median {wall:.2f} s, floor at {level}: {floor:.2f} s, "
        f"{_ratio(wall, floor)})",
        f"- at least 1.8x faster than fixed 8 workers: {'PASS' if faster else 'FAIL'} "
        f"(median {peer:.2f} s / {wall:.2f} s = {peer / wall:.2f}x)",
        f"- not judged: the same sync with no latency at all takes {bound:.2f} s here (this "
        f"machine's own bound); the distant one is {_ratio(wall, bound)} that",
    ]
    lines += _peer_lines(case, storage_delay, wall)
    lines += _cpu_lines(case)
    return lines, close and faster


def _cpu_lines(case: Case) -> list[str]:
    """Median CPU seconds per mode: where a CPU-bound run's time goes."""
    lines = [
        "",
        "| mode (medians) | wall (s) | client user (s) | client system (s) | simulator (s) |",
        "|---|---|---|---|---|",
    ]
    for mode in dict.fromkeys(run.mode for run in case.runs):
        runs = [run for run in case.runs if run.mode == mode and run.cpu is not None]
        if not runs:
            continue
        cpus = [run.cpu for run in runs if run.cpu is not None]
        lines.append(
            f"| {mode} | {statistics.median(r.seconds for r in runs):.2f} "
            f"| {statistics.median(c.user for c in cpus):.2f} "
            f"| {statistics.median(c.system for c in cpus):.2f} "
            f"| {statistics.median(c.simulator for c in cpus):.2f} |"
        )
    return lines


def _peer_lines(case: Case, storage_delay: float, wall: float) -> list[str]:
    """What wget2 and aria2c make of the same bodies at the concurrency syncer settled on."""
    lines = []
    for mode in sorted({run.mode for run in case.runs if run.mode.split()[0] in PEERS}):
        runs = [run for run in case.runs if run.mode == mode]
        peer = statistics.median(run.seconds for run in runs)
        level = int(statistics.median(run.concurrency or 1 for run in runs))
        floor = case.photos * storage_delay / level
        lines.append(
            f"- not judged: {mode} connections (bodies only: no API, ledger or folders, then "
            f"`sync`): median {peer:.2f} s, {_ratio(peer, floor)} the latency floor; syncer / "
            f"{mode.split()[0]} = {wall / peer:.2f}x"
        )
    return lines


def _ratio(wall: float, floor: float) -> str:
    return f"{wall / floor:.2f}x" if floor > 0 else "-"


def report_cap(case: Case) -> tuple[list[str], bool]:
    fills = LINK // PER_CONNECTION
    link_floor = case.photos * case.photo_bytes / LINK
    lines = ["| round | adaptive (s) | settled on | link floor (s) |", "|---|---|---|---|"]
    for n, (wall, level) in enumerate(zip(case.walls("adaptive"), case.settled(), strict=True), 1):
        lines.append(f"| {n} | {wall:.2f} | {level} | {link_floor:.2f} |")
    level = int(statistics.median(case.settled()))
    near = 0.7 * fills <= level <= 1.4 * fills
    lines += [
        "",
        f"- settles near the {fills} connections that fill the link: {'PASS' if near else 'FAIL'} "
        f"(median {level})",
    ]
    return lines, near


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--size", default="100KB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--api-delay", type=float, default=0.08)
    parser.add_argument("--storage-delay", type=float, default=0.05)
    parser.add_argument("--cap-photos", type=int, default=400)
    parser.add_argument("--cap-size", default="1MB")
    parser.add_argument("--skip-distant", action="store_true")
    parser.add_argument("--skip-cap", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="leave out wget2 and aria2c")
    parser.add_argument("--tls", action="store_true", help="API and photos over HTTPS")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    ok = True
    results: dict[str, object] = {}
    out: list[str] = []
    if not args.skip_distant:
        faults = Faults(slow_api_seconds=args.api_delay, slow_storage_seconds=args.storage_delay)
        size = parse_size(args.size)
        tools = [] if args.no_peers else [p for p in find_peers(PEERS) if p.binary is not None]
        case = measure("distant", args, args.photos, size, faults, [8], near=True, tools=tools)
        lines, passed = report_distant(case, args.storage_delay)
        ok &= passed
        results["distant"] = asdict(case)
        out += [
            f"### Distant store{' over HTTPS' if args.tls else ''}: API +"
            f"{args.api_delay * 1000:g} ms, storage +"
            f"{args.storage_delay * 1000:g} ms before the first byte, {case.photos:,} photos x "
            f"{args.size}",
            "",
            *lines,
            "",
        ]
    if not args.skip_cap:
        faults = Faults(storage_bytes_per_second=PER_CONNECTION, storage_link_bytes_per_second=LINK)
        case = measure("capped", args, args.cap_photos, parse_size(args.cap_size), faults, [])
        lines, passed = report_cap(case)
        ok &= passed
        results["capped"] = asdict(case)
        out += [
            f"### Capped connections: 5 MB/s per body, 100 MB/s link, {case.photos:,} photos x "
            f"{args.cap_size}",
            "",
            *lines,
            "",
        ]
    print("\n".join(out))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
