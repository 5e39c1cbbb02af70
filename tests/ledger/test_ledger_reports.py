"""Runs, status per event and the counters exported as metrics."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from harness.ledger import EVENT, T0, downloaded, event_record, photo_ids, query, walk
from syncer.errors import SyncerError
from syncer.ledger import EventStatus, Ledger, PhotoResult


def test_runs_are_recorded(ledger_target: str | Path) -> None:
    with Ledger.open(ledger_target) as ledger:
        first = ledger.start_run("sync", [EVENT, 7, EVENT], T0)
        second = ledger.start_run("daemon-cycle", [7], T0)
        assert second == first + 1
        ledger.finish_run(first, T0 + timedelta(minutes=3), {"downloaded": 5, "failed": 1}, 4)
    row, _ = query(
        ledger_target, "SELECT kind, event_ids, counts, exit_code, ended_at FROM runs ORDER BY id"
    )
    assert row[0] == "sync"
    assert json.loads(row[1]) == [7, EVENT]
    assert json.loads(row[2]) == {"downloaded": 5, "failed": 1}
    assert row[3:] == (4, "2026-05-01T08:03:00.000000+00:00")


def test_run_arguments_are_checked(ledger: Ledger) -> None:
    with pytest.raises(SyncerError, match="unknown run kind 'backup'"):
        ledger.start_run("backup", [EVENT], T0)
    with pytest.raises(SyncerError, match="unknown run id 42"):
        ledger.finish_run(42, T0, {}, 0)


def test_status_counts_states_bytes_and_failures(ledger: Ledger) -> None:
    ledger.upsert_event(event_record())
    walk(ledger, EVENT, [[f"i{n}" for n in range(9)]])
    ids = photo_ids(ledger)
    ledger.record_results(
        [
            downloaded(ids["i0"], "456/i0.jpg"),
            downloaded(ids["i1"], "456/i1.jpg"),
            PhotoResult(ids["i2"], "retry", error="HTTP 503", retry_at=T0),
            PhotoResult(ids["i3"], "retry", error="HTTP 503", retry_at=T0),
            PhotoResult(ids["i4"], "retry", error="short body", retry_at=T0),
            PhotoResult(ids["i5"], "unavailable", error="HTTP 503"),
            PhotoResult(ids["i6"], "unavailable", error="absent from failed_urls"),
        ],
        T0,
    )
    ledger.mark_removed(ids["i1"], [(".trash/456/i1.jpg", None)])
    run = ledger.start_run("sync", [EVENT], T0)
    ledger.finish_run(run, T0 + timedelta(minutes=9), {}, 4)
    (status,) = ledger.status(EVENT)
    assert status == EventStatus(
        event_id=EVENT,
        name="City Marathon",
        slug="city-marathon",
        known=9,
        downloaded=1,
        pending=2,
        failed=3,
        unavailable=2,
        removed=1,
        bytes=1000 + ids["i0"],
        failures=(("HTTP 503", 3), ("absent from failed_urls", 1), ("short body", 1)),
        last_walk_completed_at=T0,
        last_run_ended_at=T0 + timedelta(minutes=9),
    )


def test_status_keeps_the_ten_most_common_failures(ledger: Ledger) -> None:
    walk(ledger, EVENT, [[f"i{n:02}" for n in range(30)]])
    ids = sorted(photo_ids(ledger).values())
    results = [
        PhotoResult(photo, "unavailable", error=f"reason {n % 12:02}")
        for n, photo in enumerate(ids)
    ]
    ledger.record_results(results, T0)
    (status,) = ledger.status(EVENT)
    assert len(status.failures) == 10
    assert status.failures[:6] == tuple((f"reason {n:02}", 3) for n in range(6))
    assert status.failures[6] == ("reason 06", 2)


def test_status_of_all_events_and_last_runs(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    walk(ledger, 7, [["b", "c"]])
    ledger.upsert_event(event_record(8, name="Empty"))
    old = ledger.start_run("sync", [7, EVENT], T0)
    ledger.finish_run(old, T0 + timedelta(minutes=1), {}, 0)
    newer = ledger.start_run("sync", [EVENT], T0 + timedelta(hours=1))
    ledger.finish_run(newer, T0 + timedelta(hours=1, minutes=1), {}, 0)
    ledger.start_run("sync", [EVENT, 7], T0 + timedelta(hours=2))  # still running
    statuses = ledger.status()
    assert [(s.event_id, s.known, s.pending) for s in statuses] == [
        (7, 2, 2),
        (8, 0, 0),
        (EVENT, 1, 1),
    ]
    last = {s.event_id: s.last_run_ended_at for s in statuses}
    assert last == {
        7: T0 + timedelta(minutes=1),
        8: None,
        EVENT: T0 + timedelta(hours=1, minutes=1),
    }
    assert ledger.status(12345) == []


def test_status_shows_the_concurrency_the_newest_run_recorded(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a"]])
    walk(ledger, 7, [["b"]])
    old = ledger.start_run("sync", [7, EVENT], T0)
    ledger.record_concurrency(old, 8)
    ledger.record_concurrency(old, 12)  # the target moved: the newest value counts
    ledger.finish_run(old, T0 + timedelta(minutes=1), {}, 0)
    running = ledger.start_run("sync", [EVENT], T0 + timedelta(hours=1))
    ledger.record_concurrency(running, 27)  # still running: status shows it as it is now
    ledger.start_run("sync", [7], T0 + timedelta(hours=2))  # nothing to download: none recorded
    assert {s.event_id: s.concurrency for s in ledger.status()} == {7: 12, EVENT: 27}
    with pytest.raises(SyncerError, match="unknown run id 99"):
        ledger.record_concurrency(99, 4)


def test_counts_for_metrics(ledger: Ledger) -> None:
    assert ledger.counts_by_state() == {
        "pending": 0,
        "downloaded": 0,
        "failed": 0,
        "unavailable": 0,
        "removed": 0,
    }
    assert ledger.bytes_downloaded() == 0
    assert not ledger.has_downloads()
    walk(ledger, EVENT, [["a", "b"]])
    walk(ledger, 7, [["c"]])
    assert not ledger.has_downloads()  # pending photos are not downloads
    ids = {**photo_ids(ledger), **photo_ids(ledger, 7)}
    ledger.record_results([downloaded(ids["a"], "456/a.jpg"), downloaded(ids["c"], "7/c.jpg")], T0)
    assert ledger.counts_by_state() == {
        "pending": 1,
        "downloaded": 2,
        "failed": 0,
        "unavailable": 0,
        "removed": 0,
    }
    assert ledger.bytes_downloaded() == 2000 + ids["a"] + ids["c"]
    assert ledger.has_downloads()
