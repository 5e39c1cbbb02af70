"""Scale-out: one node against three on one PostgreSQL ledger, and the cost of a claim.

    python tests/bench/bench_nodes.py [--photos 240] [--size 50KB] [--rate 25KB]
        [--workers 8] [--rounds 3] [--claims 5000]

1. Nodes: the bundled simulator serves one event of ``--photos`` photos, each body paced to
   ``--rate`` bytes/s (``storage_bytes_per_second``), so one node is bound by what its
   ``--workers`` connections can carry, as on a real uplink. ``syncer sync`` runs as 1 node,
   then as 3 nodes at once (each its own process and ``node.name``), each time on an empty
   database of a throwaway PostgreSQL cluster and an empty root. Wall time runs from the first
   start to the last exit; every photo is checked on disk and the simulator must have served
   each body exactly once. Rounds alternate the order (1 then 3, 3 then 1). The peer: one
   node with three times the workers (as many connections as the three nodes together) shows
   what the machine and the simulator deliver to that many connections at all.
2. Claims: ``Ledger.claim`` (8 photos a batch, as a node with 8 workers takes them) until
   ``--claims`` pending photos are all taken, and ``record_results`` for each batch, timed per
   photo on the same PostgreSQL cluster; ``Ledger.due`` on an SQLite file over the same
   photos is the peer.

Prints one line per measurement and a summary with the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the tests folder: postgres_server

from postgres_server import PostgresServer, start_cluster  # noqa: E402

from syncer.ledger import Ledger, PhotoResult, SeenImage  # noqa: E402
from syncer.sim import SimConfig, Simulator  # noqa: E402
from syncer.units import parse_size  # noqa: E402

SYNCER = str(Path(sys.executable).with_name("syncer"))
NAMES = ("node-a", "node-b", "node-c")
EVENT = 1
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class NodesRun:
    nodes: int
    workers: int
    seconds: float  # first process started to last process ended
    cycles: float  # first cycle started to last cycle ended (process start-up left out)
    photos: int


@dataclass(frozen=True)
class ClaimCost:
    photos: int
    claim_ms_per_photo: float  # PostgreSQL, claim only
    claim_record_ms_per_photo: float  # PostgreSQL, claim and record the batch
    sqlite_due_ms_per_photo: float  # the peer: SQLite due pages of the same size


@contextmanager
def cluster() -> Iterator[PostgresServer]:
    folder = Path(tempfile.mkdtemp(prefix="syncer-pg-"))
    server = start_cluster(folder)
    yield next(server)
    server.close()


def _config(tmp: Path, sim: Simulator, event_id: int, url: str, workers: int) -> Path:
    config = tmp / "syncer.toml"
    config.write_text(
        "[api]\n"
        f'base_url = "{sim.base_url}"\norg_id = {sim.org_id}\n'
        "[storage]\n"
        f'root = "{tmp / "photos"}"\nledger = "{url}"\nmin_free = "1MiB"\n'
        "[download]\n"
        f"workers = {workers}\n"
        "[[events]]\n"
        f"id = {event_id}\n",
        encoding="utf-8",
    )
    return config


def run_nodes(
    server: PostgresServer, sim: Simulator, event_id: int, count: int, workers: int, tag: str
) -> NodesRun:
    """``count`` nodes sync the event to a fresh root and database; the wall time of all."""
    url = server.create_database(tag)
    with tempfile.TemporaryDirectory(prefix="syncer-nodes-") as tmp_name:
        tmp = Path(tmp_name)
        config = _config(tmp, sim, event_id, url, workers)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
        env["SYNCER_API_KEY"] = sim.api_key
        subprocess.run([SYNCER, "--config", str(config), "db", "upgrade"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        sim.stats.reset()
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [SYNCER, "--config", str(config), "sync", "--json"],
                env={**env, "SYNCER_NODE__NAME": name},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in NAMES[:count]
        ]
        outputs = [process.communicate(timeout=900) for process in processes]
        seconds = time.perf_counter() - started
        for process, (_, err) in zip(processes, outputs, strict=True):
            if process.returncode != 0:
                raise SystemExit(f"a node failed ({process.returncode}): {err.strip()[-500:]}")
        _check(tmp / "photos", sim, event_id)
    server.execute(f'DROP DATABASE "{tag}" WITH (FORCE)')
    reports = [json.loads(out) for out, _ in outputs]
    starts = [datetime.fromisoformat(r["started_at"]) for r in reports]
    ends = [datetime.fromisoformat(r["ended_at"]) for r in reports]
    cycles = (max(ends) - min(starts)).total_seconds()
    return NodesRun(count, workers, seconds, cycles, len(sim.photos(event_id)))


def _check(root: Path, sim: Simulator, event_id: int) -> None:
    truth = {p.image_id: p.sha256 for p in sim.photos(event_id)}
    found = {
        p.stem: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.jpg")
        if ".syncer-tmp" not in p.parts
    }
    if found != truth:
        raise SystemExit(f"wrong files: {len(found)} on disk for {len(truth)} photos")
    served = sim.stats.snapshot()["full_downloads"]
    if sum(served.values()) != len(truth) or set(served) != set(truth):
        raise SystemExit(f"bodies served {sum(served.values())} times for {len(truth)} photos")


def claim_cost(server: PostgresServer, photos: int, tmp: Path, batch: int = 8) -> ClaimCost:
    """Per photo: claims (and records) on PostgreSQL; SQLite due pages as the peer."""
    url = server.create_database("claims")
    pages = [
        [SeenImage(f"{page:05}-{n:03}", 100, 100) for n in range(100)]
        for page in range(photos // 100)
    ]
    try:
        claim_only, claim_record = _claim_loop(url, pages, batch, record=False), 0.0
        server.execute('DROP DATABASE "claims" WITH (FORCE)')
        server.create_database("claims")
        claim_record = _claim_loop(url, pages, batch, record=True)
    finally:
        server.execute('DROP DATABASE "claims" WITH (FORCE)')
    due = _due_loop(tmp / "peer.sqlite3", pages, batch)
    total = len(pages) * 100
    return ClaimCost(
        total, 1000 * claim_only / total, 1000 * claim_record / total, 1000 * due / total
    )


def _fill(ledger: Ledger, pages: list[list[SeenImage]]) -> None:
    state = ledger.begin_walk(EVENT, T0)
    for number, page in enumerate(pages, start=1):
        ledger.record_page(EVENT, state.walk_no, number, page, T0)


def _claim_loop(url: str, pages: list[list[SeenImage]], batch: int, *, record: bool) -> float:
    with Ledger.open(url) as ledger:
        _fill(ledger, pages)
        with ledger.joined("bench", timedelta(minutes=1), T0):
            started, after = time.perf_counter(), 0
            while taken := ledger.claim(EVENT, T0, after_id=after, limit=batch).photos:
                after = taken[-1].photo_id
                if record:
                    later = T0 + timedelta(days=1)
                    failed = [
                        PhotoResult(p.photo_id, "retry", error="x", retry_at=later) for p in taken
                    ]
                    ledger.record_results(failed, T0)
            return time.perf_counter() - started


def _due_loop(path: Path, pages: list[list[SeenImage]], batch: int) -> float:
    with Ledger.open(path) as ledger:
        _fill(ledger, pages)
        started, after = time.perf_counter(), 0
        while due := ledger.due(EVENT, T0, after_id=after, limit=batch):
            after = due[-1].photo_id
        return time.perf_counter() - started


def measure(
    *, photos: int, size: int, rate: int, workers: int, rounds: int, claims: int, peer: bool = True
) -> dict[str, object]:
    runs: list[NodesRun] = []
    config = SimConfig(events=4, photos_per_event=photos, photo_bytes=size)
    with cluster() as server, Simulator(config) as sim, tempfile.TemporaryDirectory() as tmp:
        sim.faults.storage_bytes_per_second = rate
        event_id = next(e.event_id for e in sim.events() if e.configured and e.status == "active")
        for number in range(rounds):
            order = [(1, workers), (3, workers)] + ([(1, 3 * workers)] if peer else [])
            for count, each in order if number % 2 == 0 else order[::-1]:
                run = run_nodes(server, sim, event_id, count, each, f"r{number}n{count}w{each}")
                print(
                    f"bench: round {number + 1}: {count} node(s) x {each} workers "
                    f"{run.seconds:.2f} s (cycles {run.cycles:.2f} s)",
                    flush=True,
                )
                runs.append(run)
        cost = claim_cost(server, claims, Path(tmp)) if claims else None
    one = [r for r in runs if r.nodes == 1 and r.workers == workers]
    three = [r for r in runs if r.nodes == 3]
    wide = [r for r in runs if r.nodes == 1 and r.workers != workers]
    ratios = [a.seconds / b.seconds for a, b in zip(one, three, strict=True)]
    cycle_ratios = [a.cycles / b.cycles for a, b in zip(one, three, strict=True)]
    return {
        "photos": photos,
        "size": size,
        "rate": rate,
        "workers": workers,
        "one_node_s": [r.seconds for r in one],
        "three_nodes_s": [r.seconds for r in three],
        "one_node_cycles_s": [r.cycles for r in one],
        "three_nodes_cycles_s": [r.cycles for r in three],
        "speedup_per_round": ratios,
        "speedup_median": statistics.median(ratios),
        "cycle_speedup_per_round": cycle_ratios,
        "cycle_speedup_median": statistics.median(cycle_ratios),
        "peer_one_node_3x_workers_cycles_s": [r.cycles for r in wide],
        "peer_speedup_per_round": [a.cycles / b.cycles for a, b in zip(one, wide, strict=False)],
        "claims": asdict(cost) if cost else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--size", default="50KB", help="photo size (default 50KB)")
    parser.add_argument("--rate", default="25KB", help="bytes/s per body (default 25KB: 2 s)")
    parser.add_argument("--workers", type=int, default=8, help="download.workers per node")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--claims", type=int, default=5000, help="photos in the claim test")
    parser.add_argument("--no-peer", action="store_true", help="skip 1 node x 3 x workers")
    parser.add_argument("--out", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    result = measure(
        photos=args.photos,
        size=parse_size(args.size),
        rate=parse_size(args.rate),
        workers=args.workers,
        rounds=args.rounds,
        claims=args.claims,
        peer=not args.no_peer,
    )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
