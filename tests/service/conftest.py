"""Fixtures for the service tests: the e2e World (simulator + CLI) and real daemon processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from harness.e2e import World, make_world
from harness.service import DaemonRun, start_daemon

PHOTOS = 12
SIZE = 8_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A small event (12 photos of ~8 KB) on the real simulator."""
    yield from make_world(tmp_path, photos=PHOTOS, size=SIZE)


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonRun]]:
    """Start `syncer daemon` processes; any left running is killed at the end of the test."""
    started: list[DaemonRun] = []

    def start(world: World, env: Mapping[str, str] | None = None) -> DaemonRun:
        run = start_daemon(world, env=env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill()
