"""What noticing files deleted by hand costs: one ``lstat`` per placed file, per sync.

    python tests/bench/bench_gone.py [--photos 100000] [--rounds 5]

Builds a real ledger of N downloaded photos with their files on a real disk (empty files: a
stat does not read them), then times ``placement.gone_from_disk`` (the check every sync and
``syncer status`` make) against the ledger query alone, and against the same ``lstat`` loop in
plain Python, medians of the rounds. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from syncer.layout import NameRules, Template
from syncer.ledger import EventRecord, Ledger, PhotoResult, SeenImage
from syncer.placement import Placer, gone_from_disk

EVENT = 1
NOW = datetime(2026, 12, 1, tzinfo=UTC)
TEMPLATE = "{event}/{bib}/{image_id}.{ext}"


def build(folder: Path, photos: int) -> tuple[Ledger, Placer]:
    """A ledger of ``photos`` downloaded photos, and their (empty) files under ``folder``."""
    ledger = Ledger.open(folder / "ledger.sqlite3")
    record = EventRecord(EVENT, "Bench", "bench", "2026-12-01", "active")
    ledger.upsert_event(record)
    placer = Placer(folder / "root", Template.parse(TEMPLATE), NameRules(), record)
    state = ledger.begin_walk(EVENT, NOW)
    ids = [f"img-{n:07d}" for n in range(photos)]
    for page, start in enumerate(range(0, photos, 100), start=1):
        chunk = [SeenImage(i, None, None) for i in ids[start : start + 100]]
        ledger.record_page(EVENT, state.walk_no, page, chunk, NOW)
    results = []
    for photo in _all_due(ledger):
        rel = placer.placements(photo.image_id, ())[0][0]
        path = placer.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        results.append(PhotoResult(photo.photo_id, "downloaded", 0, "0" * 64, None, (rel,)))
        if len(results) == 5000:
            ledger.record_results(results, NOW)
            results = []
    ledger.record_results(results, NOW)
    return ledger, placer


def _all_due(ledger: Ledger) -> list:  # type: ignore[type-arg]
    found, after = [], 0
    while batch := ledger.due(EVENT, NOW, after_id=after, limit=5000):
        found.extend(batch)
        after = batch[-1].photo_id
    return found


def median_seconds(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_gone.py", description=__doc__)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="syncer-bench-gone-") as tmp:
        ledger, placer = build(Path(tmp), args.photos)
        with ledger:
            files = [placer.path(rel) for _, rel in ledger.downloaded_files(EVENT)]
            check = median_seconds(lambda: gone_from_disk(ledger, placer), args.rounds)
            query = median_seconds(lambda: ledger.downloaded_files(EVENT), args.rounds)
            stats = median_seconds(lambda: [os.lstat(p) for p in files], args.rounds)
            assert not gone_from_disk(ledger, placer)  # nothing is missing
    print(f"### Files deleted by hand: the check on {args.photos:,} photos (medians)\n")
    print("| measure | seconds |\n| --- | ---: |")
    print(f"| `gone_from_disk` (query + one listing per folder) | {check:.3f} |")
    print(f"| the ledger query alone | {query:.3f} |")
    print(f"| one lstat per file instead (plain Python) | {stats:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
