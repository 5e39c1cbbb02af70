"""Pages requested ahead over real HTTP: a slow API costs the walk a fraction of its latency.

The bundled simulator answers every API call after ``slow_api_seconds``; the client walks the
same gallery one page at a time and four pages at a time. A wall-clock bar, so it runs apart
from the suite: ``pytest -m bench -n 0`` (tests/api/test_api_pagination_ahead.py holds the
logic on a fake clock).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from syncer.api import ApiClient
from syncer.sim import Faults, SimConfig, Simulator

DELAY = 0.1
PAGES = 16

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    config = SimConfig(events=1, photos_per_event=PAGES * 100, photo_bytes=2_000)
    with Simulator(config, Faults(slow_api_seconds=DELAY)) as simulator:
        yield simulator


def walk(sim: Simulator, ahead: int) -> tuple[list[list[str]], float]:
    event = next(e.event_id for e in sim.events() if e.configured)
    started = time.monotonic()
    with ApiClient(base_url=sim.base_url, org_id=sim.org_id, api_key=SecretStr(sim.api_key)) as api:
        pages = [
            [item.image_id for item in page.items]
            for page in api.image_pages(event, page_size=100, ahead=ahead)
        ]
    return pages, time.monotonic() - started


def test_four_pages_at_a_time_list_the_same_photos_in_far_less_time(sim: Simulator) -> None:
    one_by_one, sequential = walk(sim, ahead=1)
    four, concurrent = walk(sim, ahead=4)
    assert four == one_by_one
    assert len(four) == PAGES
    assert sum(map(len, four)) == PAGES * 100
    assert sequential >= PAGES * DELAY
    assert concurrent < sequential / 2
