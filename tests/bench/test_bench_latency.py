"""A quick run of the distant-store benchmark: adaptive beats a fixed 8 and settles above it.

A wall-clock bar, so it runs apart from the suite: ``pytest -m bench -n 0``. The full numbers
come from ``python tests/bench/bench_latency.py`` (README table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bench_latency
import pytest

from syncer.sim import Faults

pytestmark = pytest.mark.bench

PHOTOS = 1000
STORAGE_DELAY = 0.05


def test_a_distant_store_settles_above_8_and_beats_fixed_8(tmp_path: Path) -> None:
    args = argparse.Namespace(rounds=1, workdir=tmp_path)
    faults = Faults(slow_api_seconds=0.08, slow_storage_seconds=STORAGE_DELAY)
    case = bench_latency.measure("distant", args, PHOTOS, 20_000, faults, [8])
    (adaptive,), (fixed,) = case.walls("adaptive"), case.walls("fixed 8")
    (settled,) = case.settled()
    assert settled > 8
    assert adaptive < fixed / 1.3, (adaptive, fixed)
    lines, _ = bench_latency.report_distant(case, STORAGE_DELAY)
    assert any("fixed 8 / adaptive" in line for line in lines)
