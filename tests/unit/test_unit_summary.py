"""The summary a sync prints: one line per event, counted in words that agree with the count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncer.cli.output import print_cycle
from syncer.report import CycleReport, EventReport, PersonReport

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seen", "words"), [(1, "1 photo listed"), (3, "3 photos listed")])
def test_a_dry_run_counts_the_photos_listed(
    seen: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = EventReport(event_id=456, name="City Marathon", seen=seen, new=seen, due=seen)
    print_cycle(CycleReport(started_at=NOW, ended_at=NOW, events=[event], dry_run=True))
    line = capsys.readouterr().out.splitlines()[-1]
    assert line == f"event 456 City Marathon: {words}, {seen} new, {seen} would be downloaded"


@pytest.mark.parametrize(
    ("matches", "clips", "words"),
    [(1, 1, "1 new match, 1 clip"), (2, 3, "2 new matches, 3 clips"), (0, 0, "0 new matches")],
)
def test_a_person_is_counted_in_words_that_agree(
    matches: int, clips: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    person = PersonReport("Ana", searched=True, matches=matches, clips=clips)
    event = EventReport(event_id=456, name="City Marathon", people=[person])
    print_cycle(CycleReport(started_at=NOW, ended_at=NOW, events=[event]))
    assert f"  person Ana: {words}" in capsys.readouterr().out.splitlines()
