"""People in the ledger: searches, matches that only grow, clip jobs, clips, per-person counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from harness.ledger import EVENT, T0, downloaded, photo_ids, walk
from syncer.ledger import Ledger, PersonSearch, PersonStatus, StoredClip
from syncer.ledger.migrate import alembic_config

SHA = "a" * 64


def test_a_search_waits_for_its_answer_then_covers_the_mark(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    ledger.begin_person_search(EVENT, "Ana", SHA, "req-1")
    pending = ledger.person_search(EVENT, "Ana", SHA)
    assert pending is not None
    assert (pending.request_id, pending.covered_mark) == ("req-1", None)
    assert ledger.record_person_matches(pending, ["a", "new"], T0, request_id="req-2") == 2
    done = ledger.person_search(EVENT, "Ana", SHA)
    assert done is not None
    assert done.request_id == "req-2"
    assert done.covered_mark == ledger.photo_mark(EVENT)  # its own new photo included
    assert ledger.person_search(EVENT, "Ana", "b" * 64) is None  # another selfie: no search yet


def test_matches_only_grow_and_downloaded_ones_are_placed_again(ledger: Ledger) -> None:
    walk(ledger, EVENT, [["a", "b", "c"]])
    ids = photo_ids(ledger)
    ledger.record_results([downloaded(ids["a"], "e/_no_bib/a.jpg")], T0)
    ledger.begin_person_search(EVENT, "Ana", SHA, "r1")
    search = ledger.person_search(EVENT, "Ana", SHA)
    assert search is not None
    assert ledger.record_person_matches(search, ["a", "b"], T0, request_id="r1") == 2
    assert [p.image_id for p in ledger.dirty(EVENT)] == ["a"]
    assert ledger.record_person_matches(search, ["c"], T0, request_id="r1") == 1
    assert ledger.people_members(EVENT) == {"a": ("Ana",), "b": ("Ana",), "c": ("Ana",)}
    assert ledger.people_status(EVENT) == [PersonStatus("Ana", 3, 0, 3, 0)]
    ledger.set_placements(ids["a"], [("e/_no_bib/a.jpg", None), ("e/_people/Ana/a.jpg", None)])
    assert ledger.people_status(EVENT) == [PersonStatus("Ana", 3, 1, 2, 0)]


def test_clip_jobs_and_clips(ledger: Ledger) -> None:
    _running_clip_job(ledger)
    job = ledger.person_search(EVENT, "Ana", SHA)
    assert job is not None
    assert (job.clip_request_id, job.clip_source, job.clip_state) == ("job-1", "r1", "running")
    ledger.record_clip(EVENT, "Ana", "c1.mp4", "e/_people/Ana/clips/c1.mp4", 10, "f" * 64, T0)
    ledger.record_clip(EVENT, "Ana", "c1.mp4", "e/_people/Ana/clips/c1.mp4", 12, "e" * 64, T0)
    assert ledger.clip_files(EVENT, "Ana") == {"c1.mp4": "e/_people/Ana/clips/c1.mp4"}
    assert ledger.people_status(EVENT) == [PersonStatus("Ana", 0, 0, 0, 1)]
    rel = "e/_people/Ana/clips/c1.mp4"
    assert ledger.stored_clips() == [StoredClip(EVENT, "Ana", "c1.mp4", rel, 12, "e" * 64)]
    assert ledger.stored_clips(EVENT + 1) == []


def test_only_a_finished_clip_job_is_checked_again(ledger: Ledger) -> None:
    search = _running_clip_job(ledger)
    ledger.recheck_clips(EVENT, "Ana")
    assert _clip_state(ledger) == "running"  # a running job is polled anyway
    ledger.set_clip_job(search, request_id="job-1", source="r1", state="done")
    ledger.recheck_clips(EVENT, "Ana")
    assert _clip_state(ledger) == "recheck"


def _running_clip_job(ledger: Ledger) -> PersonSearch:
    """Ana's search of a one-photo event, with clipping job ``job-1`` running."""
    walk(ledger, EVENT, [["a"]])
    ledger.begin_person_search(EVENT, "Ana", SHA, "r1")
    search = ledger.person_search(EVENT, "Ana", SHA)
    assert search is not None
    ledger.set_clip_job(search, request_id="job-1", source="r1", state="running")
    return search


def _clip_state(ledger: Ledger) -> str | None:
    search = ledger.person_search(EVENT, "Ana", SHA)
    assert search is not None
    return search.clip_state


def test_a_0002_ledger_upgrades_to_people(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "0002")
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO events (event_id, name, walk_no) VALUES (456, 'Old Run', 3)")
    with Ledger.open(path) as ledger:
        assert ledger.people_status(456) == []
        ledger.begin_person_search(456, "Ana", SHA, "r1")
        assert ledger.person_search(456, "Ana", SHA) is not None
