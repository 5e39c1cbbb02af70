"""Fixtures for the simulator tests: real servers on 127.0.0.1:0, plain httpx clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.sim import MakeSim, api_base
from syncer.sim import Faults, SimConfig, Simulator

SMALL = {"photo_bytes": 20_000, "photos_per_event": 40}


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """Start a simulator (small photos unless told otherwise); stopped after the test."""
    started: list[Simulator] = []

    def make(faults: Faults | None = None, **kwargs: Any) -> Simulator:
        clock = kwargs.pop("clock", None)
        sleep = kwargs.pop("sleep", None)
        monotonic = kwargs.pop("monotonic", None)
        given = (("clock", clock), ("sleep", sleep), ("monotonic", monotonic))
        extra = {k: v for k, v in given if v is not None}
        sim = Simulator(SimConfig(**{**SMALL, **kwargs}), faults, **extra)
        started.append(sim.start())
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: MakeSim) -> Simulator:
    return make_sim()


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    """An API client for ``sim``: base URL set, key sent."""
    with httpx.Client(base_url=api_base(sim), headers={"X-API-Key": sim.api_key}) as c:
        yield c
