"""Faults of the 9Pic API end to end: the real CLI against the simulator's fault knobs."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from harness.reliability import (
    TimedFaults,
    World,
    assert_complete,
    assert_one_line_error,
    build_world,
    configure,
    files_under,
    in_parallel,
    ledger_counts,
    status_row,
    sync,
)
from syncer.sim import Faults

BIBS = "1-8"  # 8 BIB searches: enough API traffic for "every Nth request" knobs


def clean_calls(world: World, *, bibs: int = 0) -> int:
    """API requests of a first, fault-free sync: ping, details, pages, BIB searches, presigns."""
    photos = len(world.truth())
    return 2 + math.ceil(photos / 100) + bibs + math.ceil(photos / 60)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, photos=30)


def test_429_storm_with_retry_after_waits_as_told(tmp_path: Path) -> None:
    # 1 s is above the first backoff ceiling (1 s), so only the header can explain the gaps
    faults = TimedFaults(retry_after=1.0)
    for world in build_world(tmp_path, faults=faults):
        faults.throttle_burst = 2  # the next 2 API requests (ping and its retry) get 429
        sync(world)
        assert world.sim.stats.throttled == 2
        gaps = [b - a for a, b in zip(faults.stamps[:2], faults.stamps[1:3], strict=True)]
        assert all(1.0 <= gap < 3.0 for gap in gaps), gaps
        assert world.sim.stats.api_requests <= 2 + clean_calls(world)
        assert_complete(world)


def test_429_storm_without_retry_after_backs_off_and_completes(world: World) -> None:
    configure(world, event={"bibs": BIBS})
    world.sim.faults.throttle_every = 3  # every third API request is throttled
    sync(world)
    stats = world.sim.stats
    assert stats.throttled >= 5
    assert stats.api_requests <= clean_calls(world, bibs=8) * 3 // 2 + 2
    assert_complete(world)


@pytest.mark.slow
def test_endless_429_gives_up_within_the_deadline_then_resumes(world: World) -> None:
    configure(world, api={"throttle_deadline": "2s"})
    world.sim.faults.retry_after = 0.5
    world.sim.faults.throttle_every = 1  # every request, for as long as the knob is on
    out = sync(world, expect=(75,))
    assert_one_line_error(out, 75, "429")
    assert world.sim.stats.api_requests <= 6  # 2 s of 0.5 s waits, not a storm
    assert out.seconds < 15
    assert not files_under(world.root)
    world.sim.faults.reset()
    sync(world)
    assert_complete(world)


@pytest.mark.slow
def test_5xx_and_html_gateway_pages_are_retried(world: World) -> None:
    # one call at a time, so the simulator's request counters map onto each call's attempts
    configure(world, api={"max_concurrency": 1}, event={"bibs": BIBS})
    faults = world.sim.faults
    # never three failures in a row (api.max_attempts = 3), and each status gets its turn
    faults.error_500_every = 6
    faults.error_502_every = 7
    faults.error_503_every = 9
    faults.error_504_every = 3
    sync(world)
    served = world.sim.stats.errors_served
    assert world.sim.stats.api_requests <= 2 * clean_calls(world, bibs=8)
    assert all(served.get(status, 0) >= 1 for status in (500, 502, 503, 504)), served
    assert_complete(world)


class SlowFirst:
    """The simulator's sleep: real for the first ``count`` delays, then none (no more slowness)."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self.lock:
            slow = self.left > 0
            self.left -= 1
        if slow:
            time.sleep(seconds)


def test_slow_answers_time_out_and_are_retried(tmp_path: Path) -> None:
    sleeper = SlowFirst(2)  # the first two API answers take 8 s; the client waits 0.3 s
    faults = Faults(slow_api_seconds=8.0)
    for world in build_world(tmp_path, faults=faults, sleep=sleeper):
        configure(world, api={"timeout": "0.3s"})
        out = sync(world)
        assert sleeper.left < 0  # both slow answers were served (and a fast one after them)
        assert world.sim.stats.api_requests >= clean_calls(world) + 2  # two calls repeated
        assert out.seconds < 12  # it did not sit through the 16 s of slow answers
        assert_complete(world)


def test_drift_while_walking_misses_nothing_after_the_next_cycle(tmp_path: Path) -> None:
    for world in build_world(tmp_path, photos=150, size=4_000):
        # after each page: 3 photos inserted before the current offset, 1 removed
        world.sim.faults.drift_insert_per_page = 3
        world.sim.faults.drift_remove_per_page = 1
        sync(world, expect=(0, 4))  # removed photos get no link: exit 4 is fine
        world.sim.faults.reset()
        second = sync(world, expect=(0, 4)).json()
        assert second["new"] > 0  # the shifting pages did hide photos from the first walk
        truth = world.truth()
        stored = {Path(rel).stem: sha for rel, sha in files_under(world.root).items()}
        assert {image_id: stored.get(image_id) for image_id in truth} == truth
        assert status_row(world)["pending"] == 0


def _quirk(tmp: Path, knobs: dict[str, bool], *, non_hex_ids: bool = False) -> None:
    for world in build_world(tmp, faults=Faults(**knobs), non_hex_ids=non_hex_ids):
        sync(world)
        assert_complete(world)
        if non_hex_ids:
            assert not all(_is_hex_uuid(image_id) for image_id in world.truth())


def _is_hex_uuid(text: str) -> bool:
    return all(c in "0123456789abcdef-" for c in text.lower())


def test_compat_quirks_sync_completely(tmp_path: Path) -> None:
    """Flat (un-enveloped) Ping/Details, misspelled image keys, non-hex image ids."""
    cases = {
        "flat": partial(_quirk, tmp_path / "flat", {"compat_flat": True}),
        "misspelled": partial(_quirk, tmp_path / "misspelled", {"compat_misspelled": True}),
        "non-hex": partial(_quirk, tmp_path / "non-hex", {}, non_hex_ids=True),
    }
    in_parallel(cases)


def test_key_revoked_mid_run_stops_with_77_and_keeps_the_ledger(tmp_path: Path) -> None:
    for world in build_world(tmp_path, photos=150, size=6_000):
        # ping, details, 2 pages, presign #1 (60 photos): the key dies before presign #2
        limit = 5
        world.sim.faults.revoke_after_requests = limit
        out = sync(world, expect=(77,))
        assert_one_line_error(out, 77)
        after_revocation = world.sim.stats.api_requests - limit
        assert 1 <= after_revocation < 10  # no retry storm against a dead key
        on_disk = files_under(world.root)
        assert 0 < len(on_disk) < len(world.truth())
        row = status_row(world)
        assert row["downloaded"] == len(on_disk)
        assert ledger_counts(world.ledger)["downloaded"] == len(on_disk)
        assert all(world.truth()[Path(rel).stem] == sha for rel, sha in on_disk.items())
