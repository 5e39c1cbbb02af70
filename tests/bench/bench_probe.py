"""Run the ``syncer`` CLI with a stopwatch around ``Ledger.record_pages``.

This measures the ledger's upsert rate inside a real sync (the planner calls ``record_pages``
once per gallery page of 100). The wrapper only adds a timer; the command is otherwise the
unchanged CLI::

    python bench_probe.py STATS.json --config syncer.toml sync --event 456 --json
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from syncer.cli import main as syncer_main
from syncer.ledger import Ledger, Listed, WalkMemo


def run_probed(stats_path: Path, argv: Sequence[str]) -> int:
    """``syncer argv...`` with record_pages timed; the totals land in ``stats_path`` (JSON)."""
    stats = {"pages": 0, "photos": 0, "seconds": 0.0}
    original = Ledger.record_pages

    def timed(
        self: Ledger,
        event_id: int,
        walk_no: int,
        pages: Sequence[tuple[int, Sequence[Listed]]],
        now: datetime,
        memo: WalkMemo | None = None,
    ) -> int:
        started = time.perf_counter()
        try:
            return original(self, event_id, walk_no, pages, now, memo)
        finally:
            stats["seconds"] += time.perf_counter() - started
            stats["pages"] += len(pages)
            stats["photos"] += sum(len(images) for _, images in pages)

    Ledger.record_pages = timed  # type: ignore[method-assign]
    try:
        return syncer_main(list(argv))
    finally:
        Ledger.record_pages = original  # type: ignore[method-assign]
        stats_path.write_text(json.dumps(stats), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("usage: bench_probe.py STATS.json SYNCER-ARGS...", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_probed(Path(sys.argv[1]), sys.argv[2:]))
