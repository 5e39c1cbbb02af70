"""BIB passes: searched only when the event has photos no complete pass has seen, and at once.

The real simulator on 127.0.0.1, the real client and a real ledger file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from syncer.api import AdaptiveLimiter, ApiClient
from syncer.config import load_settings
from syncer.errors import AuthError
from syncer.ledger import Ledger
from syncer.planner import Planner
from syncer.sim import SimConfig, Simulator
from syncer.sync import CycleOptions, Progress, run_cycle

EVENT = 456
FAR = datetime(2100, 1, 1, tzinfo=UTC)
BIBS = [str(n) for n in range(1, 41)] + ["A-17", "../../etc", "a/b", ".."]


class CountingSleep:
    """The simulator's sleep: records how many requests were in their latency at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(seconds)
        with self._lock:
            self.now -= 1


@dataclass
class Rig:
    sim: Simulator
    ledger: Ledger
    api: ApiClient
    sleep: CountingSleep
    stop: threading.Event = field(default_factory=threading.Event)
    progress: list[tuple[int, int, int]] = field(default_factory=list)

    def planner(self, threads: int = 4) -> Planner:
        return Planner(
            self.api,
            self.ledger,
            stop=self.stop,
            on_bibs=lambda *args: self.progress.append(args),
            api_threads=threads,
        )

    def cycle(self, bibs: list[str], threads: int = 4) -> int:
        """Walk, then search the BIBs; return how many BIB searches reached the API."""
        before = self.sim.stats.api_by_route["bibs"]
        planner = self.planner(threads)
        details = planner.refresh_event(EVENT)
        planner.walk(EVENT)
        planner.search_bibs(EVENT, bibs, details)
        return self.sim.stats.api_by_route["bibs"] - before

    def members(self) -> dict[str, tuple[str, ...]]:
        return {p.image_id: p.bibs for p in self.ledger.due(EVENT, FAR, limit=10_000)}


def make_rig(tmp_path: Path, limit: int = 4) -> Iterator[Rig]:
    sleep = CountingSleep()
    with (
        Simulator(SimConfig(events=1, photos_per_event=60, photo_bytes=1000), sleep=sleep) as sim,
        Ledger.open(tmp_path / "ledger.sqlite3") as ledger,
        ApiClient(
            base_url=sim.base_url,
            org_id=sim.org_id,
            api_key=SecretStr(sim.api_key),
            limiter=AdaptiveLimiter(initial=limit, maximum=limit),
        ) as api,
    ):
        yield Rig(sim, ledger, api, sleep)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(tmp_path)


def test_bibs_are_searched_again_only_for_new_photos_or_new_bibs(rig: Rig) -> None:
    assert rig.cycle(BIBS) == len(BIBS)
    tagged = rig.members()
    truth = {p.image_id: p.bibs for p in rig.sim.photos(EVENT)}
    assert {i: set(b) for i, b in tagged.items()} == {
        i: {b for b in bibs if b in BIBS} for i, bibs in truth.items()
    }
    assert rig.cycle(BIBS) == 0  # nothing new: no BIB call at all
    assert rig.cycle([*BIBS, "42"]) == 1  # a BIB added to the list is searched alone
    late = rig.sim.add_photos(EVENT, 1, bibs=("7", "a/b"))[0]
    assert rig.cycle([*BIBS, "42"]) == len(BIBS) + 1
    assert set(rig.members()[late.image_id]) == {"7", "a/b"}
    assert rig.cycle([*BIBS, "42"]) == 0


def test_a_bib_dropped_and_listed_again_is_searched_again_if_it_had_photos(rig: Rig) -> None:
    bibs = [*BIBS, "9999"]  # "9999" has no photo: its empty answer stays true while dropped
    rig.cycle(bibs)
    tagged = {i for i, b in rig.members().items() if "A-17" in b}
    assert tagged
    others = [b for b in bibs if b not in {"A-17", "9999"}]
    assert rig.cycle(others) == 0
    assert not any("A-17" in b for b in rig.members().values())
    assert rig.cycle(bibs) == 1
    assert {i for i, b in rig.members().items() if "A-17" in b} == tagged


def test_progress_counts_every_search_of_the_pass(rig: Rig) -> None:
    rig.cycle(BIBS)
    done = [d for event, d, total in rig.progress if (event, total) == (EVENT, len(BIBS))]
    assert done == list(range(len(BIBS) + 1))
    assert len(rig.progress) == len(BIBS) + 1
    rig.progress.clear()
    rig.cycle(BIBS)
    assert rig.progress == []  # no pass, no progress


def test_searches_run_at_once_up_to_the_limit(rig: Rig) -> None:
    rig.sim.faults.slow_api_seconds = 0.02
    rig.planner().walk(EVENT)
    rig.sleep.peak = 0
    assert rig.cycle(BIBS, threads=4) == len(BIBS)
    assert rig.sleep.peak == 4


def test_the_limiter_caps_searches_whatever_the_threads(tmp_path: Path) -> None:
    for rig in make_rig(tmp_path, limit=2):
        rig.sim.faults.slow_api_seconds = 0.02
        assert rig.cycle(BIBS[:20], threads=8) == 20
        assert rig.sleep.peak == 2


def test_a_stopped_pass_keeps_the_searches_that_completed(rig: Rig) -> None:
    def stop_after_ten(event: int, done: int, total: int) -> None:
        if done == 10:
            rig.stop.set()

    planner = Planner(rig.api, rig.ledger, stop=rig.stop, on_bibs=stop_after_ten, api_threads=2)
    details = planner.refresh_event(EVENT)
    planner.walk(EVENT)
    planner.search_bibs(EVENT, BIBS, details)
    searched = rig.sim.stats.api_by_route["bibs"]
    left = rig.ledger.bibs_to_search(EVENT, BIBS).bibs
    assert 10 <= searched < len(BIBS)
    assert len(BIBS) - len(left) == searched  # every search that ran was recorded
    rig.stop.clear()
    assert rig.cycle(BIBS) == len(left)
    assert rig.cycle(BIBS) == 0


def test_a_refused_key_ends_the_pass_and_keeps_what_completed(rig: Rig) -> None:
    planner = rig.planner(threads=2)
    details = planner.refresh_event(EVENT)
    planner.walk(EVENT)
    rig.sim.faults.revoke_after_requests = 12
    with pytest.raises(AuthError):
        planner.search_bibs(EVENT, BIBS, details)
    left = rig.ledger.bibs_to_search(EVENT, BIBS).bibs
    assert 0 < len(left) < len(BIBS)


class BibProgress(Progress):
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def bibs(self, event_id: int, done: int, total: int) -> None:
        self.calls.append((event_id, done, total))


def test_a_sync_cycle_reports_bib_progress_through_its_progress(rig: Rig, tmp_path: Path) -> None:
    config = tmp_path / "syncer.toml"
    config.write_text(
        f'[api]\nbase_url = "{rig.sim.base_url}"\norg_id = {rig.sim.org_id}\n'
        f'[storage]\nroot = "{tmp_path / "photos"}"\nledger = "{tmp_path / "cycle.sqlite3"}"\n'
        'min_free = "1MiB"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config_path=config, env={"SYNCER_API_KEY": rig.sim.api_key}, cwd=tmp_path
    )
    progress = BibProgress()
    report = run_cycle(settings, CycleOptions(event_ids=[EVENT], bibs=BIBS), progress=progress)
    assert report.exit_code == 0
    assert progress.calls == [(EVENT, done, len(BIBS)) for done in range(len(BIBS) + 1)]
