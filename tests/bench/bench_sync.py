"""Reproducible performance benchmark of ``syncer sync`` against wget2 and aria2c.

    python tests/bench/bench_sync.py [--photos 2000] [--size 2MB] [--rounds 5] [--workers N]
        [--tls] [--noop-photos 20000] [--walk-photos 100000] [--daemon-rounds 25]
        [--skip-noop] [--skip-walk] [--out results.json] [--workdir DIR]   (--help: the rest)

1. Full sync: N photos of size S in one simulated event. The bundled simulator answers the API;
   its presigned URLs point at a private nginx on 127.0.0.1 (started and stopped here) serving
   the photo files, or at the simulator's own storage route when nginx is missing. syncer
   (default settings, fresh root and ledger each run), wget2 and aria2c (same presigned URLs)
   run alternately, each followed by ``sync``. With ``--tls`` nginx serves HTTPS (as presigned
   URLs are in production) with a certificate from a throwaway CA that every tool is told to
   trust: syncer through ``SSL_CERT_FILE``, wget2 and aria2c through ``--ca-certificate``.
   Wall and CPU time (user + sys) come from ``wait4`` on each child, peak RSS from GNU time
   (or ``bench_rss.py``). Every run's files are checked against the simulator's sha256 before
   the next run starts.
2. No-op: a second sync of a complete event against the bare page walk (both whole processes);
   then ``syncer daemon`` on that ledger, each cycle between its files checks (timed by its
   /metrics) against a warm bare walk asked in the pause before it: the no-op bar.
3. Large event: the first sync of a big event of tiny photos and a no-op re-walk of it, with
   ``Ledger.record_page`` timed inside syncer; then ``record_page`` alone on a real file.

Prints a markdown report with PASS/FAIL per target. Needs nginx, wget2 and aria2c for the full
picture (``sudo apt-get install -y nginx wget2 aria2 time``); runs without them and says what it
skipped. The page cache is not dropped between runs (that needs root): the photos served are
cached for every tool alike, dirty pages are flushed (untimed) before each run, and the order
of the tools rotates every round.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_daemon import Daemon, WalkServer
from bench_ledger import upsert_rate
from bench_peers import Peer, find_peers
from bench_procs import (
    TIME_HINT,
    BenchError,
    Command,
    Usage,
    gnu_time,
    measure,
    measure_then_sync,
)
from bench_report import (
    SYNCER,
    FullResult,
    Machine,
    NoopResult,
    Probe,
    Results,
    Sample,
    WalkResult,
    render,
    targets,
)
from bench_world import BenchWorld, Say

from syncer.errors import ConfigError, SyncerError
from syncer.units import parse_size

HERE = Path(__file__).resolve().parent
EXIT_TARGET_MISSED = 3


@dataclass(frozen=True)
class Options:
    photos: int = 2000
    size: int = 2_000_000
    rounds: int = 5
    daemon_rounds: int = 25  # daemon cycles timed (each is short: many are cheap)
    workers: int | None = None  # None: syncer's default
    noop_photos: int = 20_000
    walk_photos: int = 100_000
    tiny_size: int = 2_000  # photos of the no-op and large-event scenarios
    ledger_pages: int = 1000
    skip_full: bool = False
    skip_noop: bool = False
    skip_walk: bool = False
    peers: bool = True
    nginx: bool = True
    tls: bool = False
    workdir: Path | None = None
    keep: bool = False
    out: Path | None = None
    check: bool = False


# -- one syncer run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncerRun:
    usage: Usage
    report: dict[str, Any]


def run_syncer(
    world: BenchWorld,
    run_dir: Path,
    options: Options,
    *,
    label: str,
    then_sync: bool = True,
    probe: Path | None = None,
    extra: tuple[str, ...] = (),
) -> SyncerRun:
    """``syncer sync --json`` on ``run_dir``'s root and ledger (``probe``: timed record_page)."""
    config = world.write_config(run_dir)
    launcher = [sys.executable, str(HERE / "bench_probe.py"), str(probe)] if probe else None
    command = Command(
        world.syncer_argv(config, workers=options.workers, launcher=launcher, extra=extra),
        run_dir / f"{label}.json",
        env=world.env(),
        timeout=600 + world.photos * 0.05 + world.total_bytes / 10e6,
        title="syncer sync",
    )
    usage = measure_then_sync(command) if then_sync else measure(command)
    try:
        report: dict[str, Any] = json.loads(command.log.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BenchError(f"syncer printed no JSON summary (see {command.log})") from exc
    if report.get("exit_code") != 0 or report.get("failed") or report.get("unavailable"):
        raise BenchError(f"syncer did not sync everything: {report.get('failures')}")
    return SyncerRun(usage, report)


def _sample(tool: str, round_no: int, usage: Usage, stored: int) -> Sample:
    return Sample(
        tool,
        round_no,
        usage.wall,
        usage.cpu,
        usage.user,
        usage.sys,
        usage.peak_rss,
        usage.tree_pss,
        stored,
    )


# -- 1. full sync ------------------------------------------------------------------------------


def run_full(options: Options, home: Path, say: Say) -> FullResult:
    _require_space(home, 2.3 * options.photos * options.size)
    peers = find_peers()
    present = [p for p in peers if p.binary is not None and options.peers]
    missing = {
        p.name: p.install_hint if options.peers else "left out with --no-peers"
        for p in peers
        if p not in present
    }
    kept: list[Path] = []  # finished runs whose files are still on disk, oldest first
    with BenchWorld(
        home / "world",
        options.photos,
        options.size,
        use_nginx=options.nginx,
        say=say,
        tls=options.tls,
    ) as world:
        result = FullResult(
            options.photos,
            options.size,
            world.total_bytes,
            world.storage,
            options.rounds,
            missing=missing,
        )
        for hint in missing.values():
            say(hint)
        urls = home / "urls.txt"
        if present:
            world.write_url_list(urls)
        tools: list[str | Peer] = [SYNCER, *present]
        for round_no in range(options.rounds):
            shift = round_no % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                result.settled += _make_room(kept, home, 1.3 * world.total_bytes, options, say)
                run_dir = home / f"{_name(tool)}-{round_no}"
                sample = _full_run(world, tool, urls, run_dir, round_no, options)
                kept.append(run_dir)
                os.sync()  # untimed: the next tool starts with no dirty pages of this one
                say(
                    f"round {round_no + 1}: {sample.tool} {sample.wall:.2f} s wall, "
                    f"{sample.cpu:.2f} s CPU"
                )
                result.samples.append(sample)
    if not options.keep:
        for run_dir in kept:
            shutil.rmtree(run_dir, ignore_errors=True)
    return result


def _make_room(kept: list[Path], home: Path, needed: float, options: Options, say: Say) -> int:
    """Delete the oldest finished runs until ``needed`` bytes are free; 1 if any was deleted.

    Files are deleted only when space runs short, and then the next run waits: ext4 skips
    freshly freed inodes for a minute, and every file created meanwhile pays a scan of them
    (``recently_deleted`` under ``openat`` in ``perf``: up to a fifth of a tool's CPU, for
    whichever tool comes next). A photographer's sync does not follow mass deletions.
    """
    deleted = 0
    while not options.keep and kept and shutil.disk_usage(home).free < needed:
        shutil.rmtree(kept.pop(0))
        deleted += 1
    if not deleted:
        return 0
    os.sync()
    say(f"deleted {deleted} earlier run(s) for space; waiting {SETTLE_SECONDS} s (see --help)")
    time.sleep(SETTLE_SECONDS)
    return 1


def _name(tool: str | Peer) -> str:
    return tool if isinstance(tool, str) else tool.name


def _full_run(
    world: BenchWorld, tool: str | Peer, urls: Path, run_dir: Path, round_no: int, options: Options
) -> Sample:
    if isinstance(tool, Peer):
        dest = run_dir / "photos"
        dest.mkdir(parents=True)
        usage = measure_then_sync(
            Command(
                tool.argv(urls, dest, ca=world.ca),
                run_dir / f"{tool.name}.out",
                timeout=600 + world.total_bytes / 10e6,
            )
        )
    else:
        usage = run_syncer(world, run_dir, options, label="sync").usage
    stored = world.verify(run_dir / "photos")
    return _sample(_name(tool), round_no, usage, stored.bytes)


# -- 2. no-op resync vs the bare walk ----------------------------------------------------------


def run_noop(options: Options, home: Path, say: Say) -> NoopResult:
    with BenchWorld(
        home / "world", options.noop_photos, options.tiny_size, use_nginx=options.nginx, say=say
    ) as world:
        run_dir = home / "syncer"
        say(f"first sync of the {options.noop_photos}-photo event")
        first = run_syncer(world, run_dir, options, label="first")
        world.verify(run_dir / "photos")
        result = NoopResult(
            options.noop_photos, world.storage, _sample(SYNCER, 0, first.usage, world.total_bytes)
        )
        for round_no in range(options.rounds):
            noop_first = round_no % 2 == 0  # alternate which of the two goes first
            if noop_first:
                _noop_once(world, run_dir, options, result, round_no)
            _bare_walk_once(world, home, result, round_no)
            if not noop_first:
                _noop_once(world, run_dir, options, result, round_no)
        say(
            f"no-op sync {statistics.median(result.noop_wall):.2f} s, bare walk "
            f"{statistics.median(result.walk_wall):.2f} s"
        )
        _daemon_rounds(world, run_dir, home, options, result, say)
    return result


MIN_TICK = 2.0  # seconds between two daemon cycles, at least


def _daemon_rounds(
    world: BenchWorld, run_dir: Path, home: Path, options: Options, result: NoopResult, say: Say
) -> None:
    """``syncer daemon`` on the complete ledger: after its first cycle (cold, checking the
    files), each round asks a warm bare walk in the pause, then times the next cycle. A walk
    that ran into the cycle after it spoils the round, which is dropped."""
    pair = statistics.median(result.noop_cycle) + statistics.median(result.walk_inner)
    tick = result.daemon_tick = float(max(MIN_TICK, math.ceil(3 * pair)))
    timeout = 120 + 3 * tick + world.photos * 0.05
    say(f"syncer daemon on the same ledger, a cycle every {tick:g} s")
    with (
        Daemon(world, run_dir, tick, home / "daemon.log") as daemon,
        WalkServer(world, timeout) as walker,
    ):
        result.daemon_first = daemon.next_cycle(timeout).seconds
        walker.walk()  # the first one is cold: it warms the process up
        while len(result.daemon_cycle) < options.daemon_rounds:
            walked = walker.walk()
            cycle = daemon.next_cycle(timeout)
            if walked["ended"] > cycle.started_by:
                result.daemon_overlaps += 1
                if result.daemon_overlaps > options.daemon_rounds:
                    raise BenchError("the bare walks keep running into the daemon's cycles")
                continue
            result.daemon_cycle.append(cycle.seconds)
            result.walk_warm.append(walked["seconds"])
    say(
        f"daemon cycle {statistics.median(result.daemon_cycle):.2f} s, warm bare walk "
        f"{statistics.median(result.walk_warm):.2f} s"
    )


def _noop_once(
    world: BenchWorld, run_dir: Path, options: Options, result: NoopResult, round_no: int
) -> None:
    run = run_syncer(world, run_dir, options, label=f"noop-{round_no}", then_sync=False)
    if run.report.get("downloaded"):
        raise BenchError("the no-op sync downloaded photos: the first sync was incomplete")
    result.noop_wall.append(run.usage.wall)
    result.noop_cycle.append(float(run.report["seconds"]))
    result.noop_seen = int(run.report["events"][0]["seen"])
    # what a daemon cycle does between its files checks (schedule.files_interval)
    label = f"noop-nofiles-{round_no}"
    lean = run_syncer(
        world, run_dir, options, label=label, then_sync=False, extra=("--no-check-files",)
    )
    result.noop_cycle_no_files.append(float(lean.report["seconds"]))


def _bare_walk_once(world: BenchWorld, home: Path, result: NoopResult, round_no: int) -> None:
    log = home / f"walk-{round_no}.json"
    argv = [
        sys.executable,
        str(HERE / "bench_walk.py"),
        "--base-url",
        world.sim.base_url,
        "--org",
        str(world.sim.org_id),
        "--event",
        str(world.event_id),
    ]
    timeout = 600 + world.photos * 0.05
    usage = measure(Command(argv, log, env=world.env(), timeout=timeout, title="bare walk"))
    walked = json.loads(log.read_text(encoding="utf-8"))
    if walked["photos"] != world.photos:
        raise BenchError(f"the bare walk listed {walked['photos']} of {world.photos} photos")
    result.walk_wall.append(usage.wall)
    result.walk_inner.append(float(walked["seconds"]))
    result.walk_pages = int(walked["pages"])


# -- 3. a large event: upsert rate and peak RSS -------------------------------------------------


def run_walk(options: Options, home: Path, say: Say) -> WalkResult:
    with BenchWorld(
        home / "world", options.walk_photos, options.tiny_size, use_nginx=options.nginx, say=say
    ) as world:
        run_dir = home / "syncer"
        say(f"first sync of the {options.walk_photos}-photo event")
        first = run_syncer(world, run_dir, options, label="first", probe=home / "probe1.json")
        say(f"re-walk of the {options.walk_photos}-photo event")
        again = run_syncer(
            world, run_dir, options, label="rewalk", then_sync=False, probe=home / "probe2.json"
        )
        storage = world.storage
    say(f"Ledger.record_page alone: {options.ledger_pages} pages of 100")
    ledger = upsert_rate(home / "alone.sqlite3", options.ledger_pages)
    return WalkResult(
        photos=options.walk_photos,
        storage=storage,
        first=_sample(SYNCER, 0, first.usage, int(first.report["bytes"])),
        cycle_seconds=float(first.report["seconds"]),
        seen=int(first.report["events"][0]["seen"]),
        probe_first=_probe(home / "probe1.json"),
        probe_rewalk=_probe(home / "probe2.json"),
        rewalk_cycle_seconds=float(again.report["seconds"]),
        ledger=ledger,
    )


def _probe(path: Path) -> Probe:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Probe(int(data["pages"]), int(data["photos"]), float(data["seconds"]))


# -- driver ------------------------------------------------------------------------------------


SETTLE_SECONDS = 61  # ext4 treats an inode freed within the last 60 s as "recently deleted"


def _require_space(folder: Path, needed: float) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BenchError(
            f"the benchmark needs about {needed / 1e9:.1f} GB free under {folder}, "
            f"there are {free / 1e9:.1f} GB: use --workdir or fewer/smaller photos"
        )


def run(options: Options, say: Say) -> Results:
    """Every scenario not skipped, each in its own folder of one temp dir (removed after)."""
    base = tempfile.mkdtemp(prefix="syncer-bench-", dir=options.workdir)
    home = Path(base)
    say(f"working in {home}")
    if gnu_time() is None:
        say(
            f"GNU time not found: peak RSS is measured through a small Python parent, so values "
            f"below ~8 MB read as ~8 MB ({TIME_HINT})"
        )
    machine = Machine(
        os.cpu_count() or 1, platform.python_version(), _revision(), os.getloadavg()[0]
    )
    results = Results(machine)
    if results.machine.load_start > 0.5:
        say(f"the machine is busy (load average {results.machine.load_start:.2f}): expect noise")
    try:
        if not options.skip_full:
            results.full = run_full(options, _sub(home, "full"), say)
        if not options.skip_noop:
            results.noop = run_noop(options, _sub(home, "noop"), say)
        if not options.skip_walk:
            results.walk = run_walk(options, _sub(home, "walk"), say)
    finally:
        if not options.keep:
            shutil.rmtree(home, ignore_errors=True)
    results.machine.load_end = os.getloadavg()[0]
    return results


def _revision() -> str:
    """The git commit of the code under test, "+changes" when the work tree differs from it."""
    repo = HERE.parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "syncer"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "(unknown revision)"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _sub(home: Path, name: str) -> Path:
    folder = home / name
    folder.mkdir()
    return folder


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench_sync.py", description="benchmark syncer sync against wget2 and aria2c"
    )
    parser.add_argument("--photos", type=int, default=2000, help="photos in the full-sync event")
    parser.add_argument("--size", default="2MB", help="photo size, e.g. 2MB, 500KB (default 2MB)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per tool (default 5)")
    parser.add_argument(
        "--daemon-rounds",
        type=int,
        default=25,
        help="no-op daemon cycles timed, each after a warm bare walk (default 25)",
    )
    parser.add_argument("--workers", type=int, help="syncer --workers (default: its setting)")
    parser.add_argument("--noop-photos", type=int, default=20_000)
    parser.add_argument("--walk-photos", type=int, default=100_000)
    parser.add_argument("--tiny-size", default="2KB", help="photo size of those two events")
    parser.add_argument(
        "--ledger-pages",
        type=int,
        default=1000,
        help="pages of 100 for the record_page measurement",
    )
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-noop", action="store_true")
    parser.add_argument("--skip-walk", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="measure syncer only")
    parser.add_argument(
        "--no-nginx",
        action="store_true",
        help="serve the bytes from the simulator even if nginx is installed",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="full sync: nginx serves HTTPS (throwaway CA given to every tool); needs nginx",
    )
    parser.add_argument("--workdir", type=Path, help="where the temp dir goes (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the files")
    parser.add_argument("--out", type=Path, help="also write every number to this JSON file")
    parser.add_argument(
        "--check", action="store_true", help=f"exit {EXIT_TARGET_MISSED} when a target is missed"
    )
    args = parser.parse_args(argv)
    options = Options(
        photos=args.photos,
        size=_size(args.size, "--size"),
        rounds=args.rounds,
        daemon_rounds=args.daemon_rounds,
        workers=args.workers,
        noop_photos=args.noop_photos,
        walk_photos=args.walk_photos,
        tiny_size=_size(args.tiny_size, "--tiny-size"),
        ledger_pages=args.ledger_pages,
        skip_full=args.skip_full,
        skip_noop=args.skip_noop,
        skip_walk=args.skip_walk,
        peers=not args.no_peers,
        nginx=not args.no_nginx,
        tls=args.tls,
        workdir=args.workdir,
        keep=args.keep,
        out=args.out,
        check=args.check,
    )
    _validate(options)
    return options


def _size(text: str, flag: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def _validate(options: Options) -> None:
    checks = [
        (options.photos >= 1, "--photos must be at least 1"),
        (options.noop_photos >= 1, "--noop-photos must be at least 1"),
        (options.walk_photos >= 1, "--walk-photos must be at least 1"),
        (options.rounds >= 1, "--rounds must be at least 1"),
        (options.daemon_rounds >= 1, "--daemon-rounds must be at least 1"),
        (options.ledger_pages >= 1, "--ledger-pages must be at least 1"),
        (options.workers is None or 1 <= options.workers <= 64, "--workers must be 1..64"),
        (1_000 <= options.size <= 1 << 31, "--size must be between 1KB and 2GiB"),
        (1_000 <= options.tiny_size <= 1 << 31, "--tiny-size must be between 1KB and 2GiB"),
        (options.workdir is None or options.workdir.is_dir(), "--workdir must be a folder"),
        (options.nginx or not options.tls, "--tls needs nginx: leave out --no-nginx"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def main(argv: Sequence[str] | None = None) -> int:
    def say(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    try:
        options = parse_args(argv)
        results = run(options, say)
    except SyncerError as exc:
        print(f"bench_sync: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bench_sync: interrupted", file=sys.stderr)
        return 130
    print(render(results), end="")
    if options.out is not None:
        options.out.write_text(json.dumps(_as_json(results), indent=2) + "\n", encoding="utf-8")
    missed = any(t.verdict == "FAIL" for t in targets(results))
    return EXIT_TARGET_MISSED if options.check and missed else 0


def _as_json(results: Results) -> dict[str, Any]:
    data = asdict(results)
    data["targets"] = [{**asdict(t), "verdict": t.verdict} for t in targets(results)]
    return data


if __name__ == "__main__":
    raise SystemExit(main())
