"""Selection-only syncs (`--only`), timeline windows and `syncer timeline`, end to end: the real
CLI in a subprocess against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.e2e import (
    World,
    expected_tree,
    files_under,
    make_world,
    photos_on_disk,
    run_ok,
    temp_files,
)
from harness.service import write_config
from syncer.sim.world import SimPhoto

IST = timezone(timedelta(hours=5, minutes=30))


def sync_json(world: World, *args: str, expect: tuple[int, ...] = (0,)) -> dict[str, object]:
    result = run_ok(world, "sync", "--json", *args, expect=expect)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def two_bibs(world: World) -> list[str]:
    """Two BIBs of the event with a photo in common and photos of their own."""
    counts: dict[str, int] = {}
    for photo in world.sim.photos(world.event_id):
        for bib in photo.bibs:
            counts[bib] = counts.get(bib, 0) + 1
    for photo in world.sim.photos(world.event_id):
        if len(photo.bibs) >= 2 and all(counts[b] >= 2 for b in photo.bibs[:2]):
            return list(photo.bibs[:2])
    raise AssertionError("the simulated event should have a photo with two BIBs")


def tagged(world: World, bibs: list[str]) -> set[str]:
    wanted = {b.casefold() for b in bibs}
    return {
        p.image_id
        for p in world.sim.photos(world.event_id)
        if wanted & {b.casefold() for b in p.bibs}
    }


def gallery_calls(world: World) -> int:
    return world.sim.stats.snapshot()["api_by_route"].get("images", 0)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_only_bibs_walks_no_gallery_and_gets_exactly_their_photos(world: World) -> None:
    bibs = two_bibs(world)
    chosen = tagged(world, bibs)
    data = sync_json(world, "--bibs", ",".join(bibs), "--only")
    stats = world.sim.stats.snapshot()
    assert gallery_calls(world) == 0
    assert stats["originals_by_method"].get("bib", 0) >= len(bibs)
    assert "image_ids" not in stats["originals_by_method"]  # every link came from method bib
    assert data["downloaded"] == len(chosen)
    tree = {rel: sha for rel, sha in expected_tree(world, bibs).items() if "/_no_bib/" not in rel}
    assert files_under(world.root) == tree
    assert set(stats["full_downloads"]) == chosen
    assert not world.sim.stats.downloaded_more_than_once()
    assert not temp_files(world.root)

    again = sync_json(world, "--bibs", ",".join(bibs), "--only")
    assert again["downloaded"] == 0
    assert world.sim.stats.snapshot()["full_downloads"] == stats["full_downloads"]

    full = sync_json(world, "--bibs", ",".join(bibs))  # a later full sync: the rest only
    assert full["downloaded"] == len(world.truth()) - len(chosen)
    assert not world.sim.stats.downloaded_more_than_once()
    assert files_under(world.root) == expected_tree(world, bibs)


@pytest.mark.slow
def test_only_never_trashes(world: World) -> None:
    write_config(world, storage={"on_remote_delete": "trash", "trash_max_share": 0.5})
    bibs = ",".join(two_bibs(world))
    sync_json(world, "--bibs", bibs)
    gone = next(
        p for p in world.sim.photos(world.event_id) if p.image_id not in tagged(world, [bibs])
    )
    world.sim.remove_photo(world.event_id, gone.image_id)
    assert sync_json(world, "--bibs", bibs)["trashed"] == 0  # one walk without it: kept
    before = files_under(world.root)
    data = sync_json(world, "--bibs", bibs, "--only")  # no walk: never a second missing walk
    assert data["trashed"] == 0
    assert data["unavailable"] == 0
    assert files_under(world.root) == before
    assert sync_json(world, "--bibs", bibs)["trashed"] == 1  # the second complete walk trashes


@pytest.mark.slow
def test_only_without_a_selection_is_one_line_and_exit_2(world: World) -> None:
    for args in (
        ["--only"],
        ["--only", "--bibs", "none"],
        ["--bibs", "7", "--only", "--from", "2026-01-19"],
    ):
        result = world.run("sync", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert one_line(result.stderr).startswith("syncer: error: --only")
        assert not world.root.exists()
    assert world.sim.stats.api_requests == 0


def timed(world: World) -> list[SimPhoto]:
    return sorted(
        (p for p in world.sim.photos(world.event_id) if p.captured_at is not None),
        key=lambda p: (p.captured_at, p.image_id),
    )


def boundary_window(world: World) -> tuple[float, float]:
    """A window whose both bounds are capture times shared by two photos (ties on the edges)."""
    photos = timed(world)
    times = [p.captured_at for p in photos]
    tied = sorted({t for t in times if t is not None and times.count(t) > 1})
    assert len(tied) >= 2, "the simulated event should have tied capture times"
    start, end = tied[0], tied[-1]
    assert start is not None
    assert end is not None
    return start, end


def captured_in(world: World, start: float, end: float) -> set[str]:
    return {
        p.image_id
        for p in timed(world)
        if p.captured_at is not None and start <= p.captured_at < end
    }


def iso(epoch: float, zone: timezone = IST) -> str:
    return datetime.fromtimestamp(epoch, zone).isoformat()


def test_window_gets_exactly_the_photos_captured_inside_it(world: World) -> None:
    start, end = boundary_window(world)
    inside = captured_in(world, start, end)
    assert inside
    assert inside != set(world.truth())
    data = sync_json(world, "--from", iso(start), "--until", iso(end, UTC))
    assert gallery_calls(world) == 0
    assert world.sim.stats.snapshot()["api_by_route"].get("timeline_images", 0) >= 1
    assert set(photos_on_disk(world.root)) == inside
    assert data["downloaded"] == len(inside)
    on_edge = {p.image_id for p in timed(world) if p.captured_at in (start, end)}
    assert on_edge & inside
    assert on_edge - inside

    again = sync_json(world, "--from", iso(start), "--until", iso(end, UTC))
    assert again["downloaded"] == 0
    full = sync_json(world)
    assert full["downloaded"] == len(world.truth()) - len(inside)
    assert not world.sim.stats.downloaded_more_than_once()


@pytest.mark.slow
def test_configured_window_is_walked(world: World) -> None:
    start, end = boundary_window(world)
    world.write_config(extra=f"window = [{json.dumps(iso(start))}, {json.dumps(iso(end))}]\n")
    data = sync_json(world)
    assert set(photos_on_disk(world.root)) == captured_in(world, start, end)
    assert data["trashed"] == 0
    assert gallery_calls(world) == 0


@pytest.mark.slow
def test_windows_never_trash_nor_count_as_walks(world: World) -> None:
    write_config(world, storage={"on_remote_delete": "trash", "trash_max_share": 0.5})
    start, end = boundary_window(world)
    window = ("--from", iso(start), "--until", iso(end))
    sync_json(world)
    gone = next(p for p in timed(world) if p.captured_at is not None and p.captured_at >= end)
    world.sim.remove_photo(world.event_id, gone.image_id)
    before = files_under(world.root)
    for _ in range(2):
        assert sync_json(world, *window)["trashed"] == 0
    assert files_under(world.root) == before
    assert sync_json(world)["trashed"] == 0  # the first complete walk without it
    assert sync_json(world)["trashed"] == 1  # the second one


@pytest.mark.slow
def test_whole_utc_day_from_a_date(world: World) -> None:
    first = timed(world)[0].captured_at
    assert first is not None
    day = datetime.fromtimestamp(first, UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    sync_json(world, "--from", day.isoformat(), "--until", day.isoformat())
    assert set(photos_on_disk(world.root)) == captured_in(world, midnight, midnight + 86400)


@pytest.mark.slow
def test_bad_dates_are_one_line_and_exit_2(world: World) -> None:
    cases = {
        ("--from", "yesterday"): "--from: 'yesterday' is not an ISO 8601",
        ("--from", "2026-01-19T06:00:00"): "--from: '2026-01-19T06:00:00' has no UTC offset",
        ("--until", "2026-02-30"): "--until: '2026-02-30' is not a calendar date",
        ("--from", "2026-01-20", "--until", "2026-01-19T23:00Z"): "--from/--until: the window",
    }
    for args, start in cases.items():
        result = world.run("sync", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert one_line(result.stderr).startswith(f"syncer: error: {start}"), result.stderr
    assert world.sim.stats.api_requests == 0
    assert not world.root.exists()


@pytest.mark.slow
def test_bad_configured_window_is_exit_78(world: World) -> None:
    world.write_config(extra='window = ["2026-01-19T06:00:00", "2026-01-19T09:00:00+05:30"]\n')
    result = world.run("sync")
    assert result.returncode == 78
    assert "no UTC offset" in one_line(result.stderr)


@pytest.mark.slow
def test_window_on_an_event_without_timeline_search_is_skipped(world: World) -> None:
    world.sim.set_flag(world.event_id, "timeline_search", False)
    result = world.run("sync", "--from", "2026-01-01")
    assert result.returncode == 4
    assert "timeline search is disabled for this event" in result.stdout + result.stderr
    assert gallery_calls(world) == 0
    assert not photos_on_disk(world.root)


def buckets(world: World) -> list[dict[str, object]]:
    days: dict[str, dict[int, int]] = {}
    for photo in timed(world):
        assert photo.captured_at is not None
        moment = datetime.fromtimestamp(photo.captured_at, UTC)
        hours = days.setdefault(moment.date().isoformat(), {})
        hours[moment.hour] = hours.get(moment.hour, 0) + 1
    return [
        {
            "date": day,
            "total": sum(hours.values()),
            "hours": [{"hour": h, "count": hours[h]} for h in sorted(hours)],
        }
        for day, hours in sorted(days.items())
    ]


def test_timeline_prints_day_and_hour_buckets(world: World) -> None:
    expected = buckets(world)
    raw = run_ok(world, "timeline", "--event", str(world.event_id), "--json")
    assert json.loads(raw.stdout) == expected
    text = run_ok(world, "timeline", "--event", str(world.event_id)).stdout.splitlines()
    first = expected[0]
    assert text[0] == f"{first['date']}  {first['total']} photos (UTC)"
    hours = first["hours"]
    assert isinstance(hours, list)
    busiest = max(h["count"] for day in expected for h in day["hours"])  # type: ignore[attr-defined]
    row = text[1].split()
    assert row[0] == f"{hours[0]['hour']:02d}:00"
    assert row[-1] == str(hours[0]["count"])
    assert len(row[1]) == max(1, round(hours[0]["count"] * 40 / busiest))
    assert sum(1 for line in text if not line.startswith(" ")) == len(expected)


@pytest.mark.slow
def test_timeline_of_an_event_without_timeline_search_is_one_line(world: World) -> None:
    world.sim.set_flag(world.event_id, "timeline_search", False)
    result = world.run("timeline", "--event", str(world.event_id))
    assert result.returncode == 78
    assert "timeline search is disabled" in one_line(result.stderr)


def test_timeline_of_another_organisations_event_is_exit_78(world: World) -> None:
    result = world.run("timeline", "--event", "999")  # not the organisation's (403 upstream)
    assert result.returncode == 78, result.stderr
    error, hint = result.stderr.strip().splitlines()
    assert (
        error == f"syncer: error: event 999 is not one of organisation {world.sim.org_id}'s events"
    )
    assert hint.startswith("syncer: hint: `syncer events`")
    assert "API key" not in result.stderr


def test_usage_errors_are_one_line_and_exit_2(world: World) -> None:
    for args, start in (
        (["--only"], "--only needs a selection"),
        (["--from", "2026-01-19T06:00:00"], "--from: '2026-01-19T06:00:00' has no UTC offset"),
        (["--person", "Bob"], "--person names the person of a --selfie"),
    ):
        result = world.run("sync", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert one_line(result.stderr).startswith(f"syncer: error: {start}")
    assert world.sim.stats.api_requests == 0
    assert not world.root.exists()


@pytest.mark.slow
def test_photos_the_bib_answer_leaves_out_are_linked_by_id(world: World) -> None:
    world.sim.faults.drop_ids_every = 3  # every third link of any answer is silently missing
    bibs = two_bibs(world)
    data = sync_json(world, "--bibs", ",".join(bibs), "--only")
    stats = world.sim.stats.snapshot()
    assert data["downloaded"] == len(tagged(world, bibs))
    assert set(photos_on_disk(world.root)) == tagged(world, bibs)
    assert stats["originals_by_method"].get("image_ids", 0) >= 1
    assert gallery_calls(world) == 0


@pytest.mark.slow
def test_window_survives_a_smaller_timeline_page_maximum(tmp_path: Path) -> None:
    for world in make_world(tmp_path, timeline_page_max=50):
        start, end = boundary_window(world)
        sync_json(world, "--from", iso(start), "--until", iso(end))
        assert set(photos_on_disk(world.root)) == captured_in(world, start, end)
        assert world.sim.stats.snapshot()["errors_served"] == {422: 1}


def test_a_window_9pic_does_not_take_downloads_nothing(tmp_path: Path) -> None:
    """Open question: the bounds' names. A server that ignores ``from``/``to`` would list the
    whole gallery; syncer sees more photos than the timeline counts there and stops."""
    for world in make_world(tmp_path, photos=120, timeline_window_params=("start", "end")):
        first = timed(world)[0].captured_at
        assert first is not None
        start = first - first % 3600  # the first hour with photos; later hours have more
        end = start + 3600
        inside = len(captured_in(world, start, end))
        assert inside > 0
        assert inside + max(10, inside // 10) < len(timed(world))  # beyond syncer's slack
        result = world.run("sync", "--from", iso(start), "--until", iso(end))
        assert result.returncode == 4, result.stdout + result.stderr
        assert "seems not to take the window's bounds" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert photos_on_disk(world.root) == {}
        assert world.sim.stats.snapshot()["api_by_route"].get("timeline_days", 0) == 2
