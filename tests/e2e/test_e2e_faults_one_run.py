"""The field acceptance test: every storage and per-item fault at once, one run, exit 0.

Links fail twice per photo, some are left out of the answer or listed twice, every first link
is already expired, bodies are cut mid-way or stall past the timeout, the storage host answers
503 (with Retry-After) and the API 502 (without): a one-shot ``syncer sync`` still stores every
photo, verified, in a single run.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.e2e import files_under, make_world, run_ok, temp_files
from syncer.sim import Faults

FAULTS = {
    "fail_first_links": 2,  # each photo's first two link requests land in failed_urls
    "drop_ids_every": 7,  # left out of the answer
    "duplicate_links_every": 5,  # listed twice
    "expire_first_presign": True,  # the first link of every photo is already expired
    "drop_mid_body_every": 9,  # connection closed after half of the body
    "stall_mid_body_every": 13,  # half of the body, then silence past download.timeout
    "stall_seconds": 3.0,
    "storage_503_every": 11,  # 503 SlowDown ...
    "storage_retry_after": 0.1,  # ... with Retry-After
    "error_502_every": 11,  # API 502 without Retry-After
}


def test_every_fault_at_once_completes_in_one_run(tmp_path: Path) -> None:
    for world in make_world(tmp_path, photos=40, size=30_000, faults=Faults(**FAULTS)):
        # a second's timeout for the stalls; 12 tries a run: the storage faults come in a
        # fixed rhythm, and a photo the threads happen to line up with them needs more than 8
        settings = '[download]\ntimeout = "1s"\nmax_attempts = 12\n'
        text = world.config.read_text().replace("[download]\n", settings)
        world.config.write_text(text)
        result = run_ok(world, "sync", "--json", "--no-progress")
        report = json.loads(result.stdout)
        assert report["exit_code"] == 0, report
        truth = world.truth()
        assert report["downloaded"] == len(truth)
        assert report["failed"] == report["unavailable"] == 0
        assert report["retries"] > len(truth)  # every photo needed more than one try
        assert report["recovered"] == len(truth)
        stats = world.sim.stats.snapshot()
        assert stats["errors_served"].get(503, 0) > 0
        assert stats["errors_served"].get(403, 0) >= len(truth)  # expired first links
        assert {Path(rel).stem: sha for rel, sha in files_under(world.root).items()} == truth
        assert not temp_files(world.root)
        assert run_ok(world, "verify").returncode == 0
        status = json.loads(run_ok(world, "status", "--json").stdout)
        row = next(r for r in status if r["event_id"] == world.event_id)
        assert (row["downloaded"], row["pending"], row["failed"]) == (len(truth), 0, 0)
