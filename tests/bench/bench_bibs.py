"""BIB lists at marathon scale: ``syncer sync --bibs 1-30000`` on a 5,000-photo event.

    python tests/bench/bench_bibs.py [--bibs 30000] [--photos 5000] [--rounds 5]
        [--latency 0.05] [--latency-bibs 30000] [--concurrency N] [--out results.json]
        [--no-nginx] [--workdir DIR] [--keep] [--check]

1. Without latency: a first sync of the event without BIBs (folder A) and one with the BIB
   list (folder B, the first BIB pass); then, alternately, no-op syncs of A (no BIBs) and of B
   (the BIB list, no new photos). The second and later runs of B must make no BIB call (counted
   by the simulator) and take no longer than the runs of A plus 10 % (medians of wall time).
2. With ``--latency`` seconds added by the simulator to every API call: folder A, complete and
   without BIBs, synced with ``--latency-bibs`` BIBs: the walk finds nothing new, so the run is
   the first BIB pass. Its rate (searches over the time between the first and the last search
   the simulator received) must reach 15 per second per ``api.max_concurrency`` slot.

syncer runs as a child process (``python -m syncer sync --json --no-progress``), the simulator
(and nginx for the bytes, when installed) in this process. Prints a markdown report with
PASS/FAIL per target; with ``--check``, exits 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_procs import BenchError, Command, Usage, measure
from bench_world import BenchWorld, Say

EXIT_TARGET_MISSED = 3
PER_SLOT = 15.0  # searches per second per api.max_concurrency slot, with latency
NOOP_SLACK = 1.10
DEFAULT_CONCURRENCY = 4  # syncer's api.max_concurrency default


@dataclass(frozen=True)
class Options:
    bibs: int = 30_000
    photos: int = 5_000
    rounds: int = 5
    latency: float = 0.05
    latency_bibs: int = 30_000
    concurrency: int | None = None  # None: syncer's default
    photo_bytes: int = 2_000
    nginx: bool = True
    workdir: Path | None = None
    keep: bool = False
    out: Path | None = None
    check: bool = False


@dataclass(frozen=True)
class Run:
    """One ``syncer sync`` and what the simulator saw of it."""

    label: str
    wall: float
    cpu: float
    bib_calls: int
    bib_seconds: float  # first to last BIB search received
    downloaded: int

    @property
    def rate(self) -> float:
        """BIB searches per second while the pass ran."""
        if self.bib_calls < 2 or self.bib_seconds <= 0:
            return 0.0
        return (self.bib_calls - 1) / self.bib_seconds


@dataclass
class Results:
    options: dict[str, Any]
    concurrency: int
    first_plain: Run | None = None
    first_bibs: Run | None = None
    noop_plain: list[Run] = field(default_factory=list)
    noop_bibs: list[Run] = field(default_factory=list)
    latency_pass: Run | None = None


class Bench:
    """The simulated event and the syncer runs against it."""

    def __init__(self, world: BenchWorld, home: Path, options: Options) -> None:
        self.world = world
        self.home = home
        self.options = options

    def config(self, folder: str) -> Path:
        """A config for ``folder``'s root and ledger, with the chosen ``api.max_concurrency``."""
        config = self.world.write_config(self.home / folder)
        if self.options.concurrency is not None:
            text = config.read_text(encoding="utf-8")
            line = f"max_concurrency = {self.options.concurrency}\n"
            config.write_text(text.replace("[api]\n", "[api]\n" + line, 1), encoding="utf-8")
        return config

    def sync(self, folder: str, label: str, bibs: int) -> Run:
        """One ``syncer sync`` of ``folder`` with BIBs 1..``bibs`` (none when 0)."""
        argv = self.world.syncer_argv(self.config(folder), workers=None)
        if bibs:
            argv += ["--bibs", f"1-{bibs}"]
        stats = self.world.sim.stats
        before = stats.api_by_route["bibs"]
        stats.api_window.pop("bibs", None)
        log = self.home / folder / f"{label}.json"
        usage: Usage = measure(
            Command(argv, log, env=self.world.env(), timeout=3600, title=f"syncer sync ({label})")
        )
        report = json.loads(log.read_text(encoding="utf-8"))
        if report.get("exit_code") != 0 or report.get("failed"):
            raise BenchError(f"syncer did not sync everything in {label}: see {log}")
        first, last = stats.api_window.get("bibs", (0.0, 0.0))
        return Run(
            label,
            usage.wall,
            usage.cpu,
            stats.api_by_route["bibs"] - before,
            last - first,
            int(report.get("downloaded", 0)),
        )


def run(options: Options, say: Say) -> Results:
    home = Path(tempfile.mkdtemp(prefix="syncer-bench-bibs-", dir=options.workdir))
    say(f"working in {home}")
    results = Results(asdict(options), options.concurrency or DEFAULT_CONCURRENCY)
    try:
        _scenarios(options, home, results, say)
    finally:
        if not options.keep:
            shutil.rmtree(home, ignore_errors=True)
    return results


def _scenarios(options: Options, home: Path, results: Results, say: Say) -> None:
    with BenchWorld(
        home / "world", options.photos, options.photo_bytes, use_nginx=options.nginx, say=say
    ) as world:
        bench = Bench(world, home, options)
        say("first sync without BIBs (A) and with the BIB list (B)")
        results.first_plain = bench.sync("A", "first-plain", 0)
        results.first_bibs = bench.sync("B", "first-bibs", options.bibs)
        say(f"B's first BIB pass: {results.first_bibs.bib_calls} searches")
        for round_no in range(options.rounds):
            order = [("A", 0), ("B", options.bibs)]
            for folder, bibs in order if round_no % 2 == 0 else order[::-1]:
                done = bench.sync(folder, f"noop-{folder}-{round_no}", bibs)
                (results.noop_bibs if bibs else results.noop_plain).append(done)
        if options.latency > 0:
            world.sim.faults.slow_api_seconds = options.latency
            say(f"first BIB pass of A with {options.latency * 1000:g} ms per API call")
            results.latency_pass = bench.sync("A", "latency-pass", options.latency_bibs)
            world.sim.faults.slow_api_seconds = 0.0


# -- report ------------------------------------------------------------------------------------


def _median(runs: Sequence[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs) if runs else 0.0


def targets(results: Results) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    calls = [r.bib_calls for r in results.noop_bibs]
    checks.append((bool(calls) and not any(calls), f"no-op runs with BIBs made {calls} BIB calls"))
    plain, bibs = _median(results.noop_plain, "wall"), _median(results.noop_bibs, "wall")
    cpu_plain, cpu_bibs = _median(results.noop_plain, "cpu"), _median(results.noop_bibs, "cpu")
    if plain and cpu_plain:
        checks.append(
            (
                bibs <= plain * NOOP_SLACK,
                f"no-op with BIBs {bibs:.2f} s vs without {plain:.2f} s "
                f"(x{bibs / plain:.3f}; target <= x{NOOP_SLACK:.2f}; "
                f"CPU {cpu_bibs:.2f} s vs {cpu_plain:.2f} s, x{cpu_bibs / cpu_plain:.3f})",
            )
        )
    if results.latency_pass is not None:
        wanted = PER_SLOT * results.concurrency
        rate = results.latency_pass.rate
        checks.append(
            (
                rate >= wanted,
                f"first BIB pass with latency: {rate:.1f} searches/s "
                f"(target >= {wanted:g} = {PER_SLOT:g} x max_concurrency {results.concurrency})",
            )
        )
    return checks


def render(results: Results) -> str:
    opts = results.options
    lines = [
        f"BIB lists: {opts['bibs']:,} BIBs x {opts['photos']:,} photos, "
        f"api.max_concurrency {results.concurrency}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}",
        "",
        "| run | BIB calls | wall s | CPU s | searches/s | downloaded |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [results.first_plain, results.first_bibs, results.latency_pass]
    for row in [r for r in rows if r is not None]:
        lines.append(_row(row.label, row))
    for name, runs in (("no-op, no BIBs", results.noop_plain), ("no-op, BIBs", results.noop_bibs)):
        if runs:
            median = Run(
                f"{name} (median of {len(runs)})",
                _median(runs, "wall"),
                _median(runs, "cpu"),
                max(r.bib_calls for r in runs),
                0.0,
                max(r.downloaded for r in runs),
            )
            lines.append(_row(median.label, median))
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'} {text}" for ok, text in targets(results)]
    return "\n".join(lines)


def _row(label: str, run: Run) -> str:
    rate = f"{run.rate:.1f}" if run.rate else "-"
    return (
        f"| {label} | {run.bib_calls:,} | {run.wall:.2f} | {run.cpu:.2f} | {rate} "
        f"| {run.downloaded:,} |"
    )


# -- command line ------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bibs", type=int, default=Options.bibs)
    parser.add_argument("--photos", type=int, default=Options.photos)
    parser.add_argument("--rounds", type=int, default=Options.rounds)
    parser.add_argument("--latency", type=float, default=Options.latency, help="seconds")
    parser.add_argument("--latency-bibs", type=int, default=Options.latency_bibs)
    parser.add_argument("--concurrency", type=int, help="api.max_concurrency (default: syncer's)")
    parser.add_argument("--no-nginx", action="store_true", help="the simulator serves the bytes")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--check", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    return Options(
        bibs=args.bibs,
        photos=args.photos,
        rounds=max(1, args.rounds),
        latency=args.latency,
        latency_bibs=args.latency_bibs,
        concurrency=args.concurrency,
        nginx=not args.no_nginx,
        workdir=args.workdir,
        keep=args.keep,
        out=args.out,
        check=args.check,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)

    def say(text: str) -> None:
        print(f"bench_bibs: {text}", file=sys.stderr, flush=True)

    try:
        results = run(options, say)
    except BenchError as exc:
        print(f"bench_bibs: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(render(results))
    if options.out is not None:
        options.out.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
    missed = not all(ok for ok, _ in targets(results))
    return EXIT_TARGET_MISSED if options.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
