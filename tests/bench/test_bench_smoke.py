"""The benchmark script end to end with tiny numbers (peers and nginx are used when installed).

It must print the table and the verdicts, and the photos syncer stored during the benchmark
must be byte-identical to the simulator's.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import bench_bibs
import bench_sync
import pytest
from bench_nginx import find_nginx
from bench_peers import find_peers
from bench_procs import BenchError, Command, measure
from bench_world import verify_tree

from syncer.sim import SimConfig, Simulator

PHOTOS = 20
SIZE = 50_000


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _truth() -> dict[str, str]:
    """image_id -> sha256 of the event the benchmark generated (the simulator is seeded)."""
    with Simulator(SimConfig(events=1, photos_per_event=PHOTOS, photo_bytes=SIZE)) as sim:
        event = next(e.event_id for e in sim.events() if e.configured)
        return {p.image_id: p.sha256 for p in sim.photos(event)}


@pytest.mark.slow  # the whole benchmark pipeline: simulator, peers, several syncer runs
def test_bench_prints_the_table_and_syncer_stores_the_true_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "results.json"
    code = bench_sync.main(
        [
            "--photos",
            str(PHOTOS),
            "--size",
            f"{SIZE // 1000}KB",
            "--rounds",
            "1",
            "--daemon-rounds",
            "1",
            "--noop-photos",
            "120",
            "--walk-photos",
            "150",
            "--ledger-pages",
            "3",
            "--workdir",
            str(tmp_path),
            "--keep",
            "--out",
            str(out_json),
        ]
    )
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert (
        "| tool | runs | wall s | CPU s (user+sys) | user s | sys s | peak RSS MB "
        "| all processes MB | MB/s |" in printed
    )
    assert "| syncer | 1 |" in printed
    verdicts = [
        line.split()[0]
        for line in printed.splitlines()
        if line.startswith(("PASS ", "FAIL ", "SKIP "))
    ]
    assert len(verdicts) == 6
    assert "SKIP" not in verdicts[3:]  # the no-op and large-event targets were measured

    roots = list(tmp_path.glob("syncer-bench-*/full/syncer-0/photos"))
    assert len(roots) == 1
    stored = {p.stem: _sha256(p) for p in roots[0].rglob("*.jpg") if ".syncer-tmp" not in p.parts}
    assert stored == _truth()

    results = json.loads(out_json.read_text(encoding="utf-8"))
    syncer_runs = [s for s in results["full"]["samples"] if s["tool"] == "syncer"]
    assert [s["bytes"] for s in syncer_runs] == [results["full"]["total_bytes"]]
    assert results["walk"]["seen"] == 150


def test_tls_serves_the_photos_over_https_to_every_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--tls", "--photos", str(PHOTOS), "--size", f"{SIZE // 1000}KB", "--rounds", "1"]
    code = bench_sync.main([*argv, "--skip-noop", "--skip-walk", "--workdir", str(tmp_path)])
    printed, err = capsys.readouterr()
    if find_nginx() is None:  # HTTPS is served by nginx only: a clear refusal without it
        assert code == 1, err
        assert "--tls needs nginx" in err
        return
    assert code == 0, err
    assert "bytes served by nginx over HTTPS" in printed
    assert "| syncer | 1 |" in printed
    for peer in find_peers():  # every installed peer fetched and verified its files over TLS
        assert (f"| {peer.name} | 1 |" in printed) == (peer.binary is not None)


def test_verification_catches_a_corrupt_photo(tmp_path: Path) -> None:
    with Simulator(SimConfig(events=1, photos_per_event=3, photo_bytes=5_000)) as sim:
        event = next(e.event_id for e in sim.events() if e.configured)
        truth = {p.image_id: p for p in sim.photos(event)}
        for image_id in truth:
            (tmp_path / f"{image_id}.jpg").write_bytes(sim.photo_path(event, image_id).read_bytes())
    assert verify_tree(tmp_path, truth).files == 3
    victim = tmp_path / f"{next(iter(truth))}.jpg"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BenchError, match="sha256 mismatch"):
        verify_tree(tmp_path, truth)


def test_bad_size_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_sync.main(["--size", "lots"]) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "bench_sync: error: --size: bad size 'lots': expected a number of bytes or "
        "e.g. '500MB', '2GiB'"
    ]


def test_measure_names_a_failing_or_hanging_command(tmp_path: Path) -> None:
    usage = measure(Command(["sh", "-c", "echo fine"], tmp_path / "ok.out"))
    assert usage.wall > 0
    assert usage.peak_rss > 0
    with pytest.raises(BenchError, match=r"^sh exited with 3: oops \(--keep keeps the logs\)$"):
        measure(Command(["sh", "-c", "echo oops >&2; exit 3"], tmp_path / "bad.out"))
    with pytest.raises(BenchError, match=r"ran longer than 0\.3 s and was killed"):
        measure(Command(["sleep", "30"], tmp_path / "slow.out", timeout=0.3))


def test_memory_counts_every_process_of_the_tree(tmp_path: Path) -> None:
    hold = "import time; block = bytearray(60_000_000); block[::4096] = b'x' * 14649; time.sleep(1)"
    script = f'"{sys.executable}" -c "{hold}" & "{sys.executable}" -c "{hold}" & wait'
    usage = measure(Command(["sh", "-c", script], tmp_path / "two.out"))
    assert 60e6 < usage.peak_rss < 100e6  # the largest single process
    assert usage.tree_pss > 120e6  # both together


def test_bib_bench_counts_the_searches_of_each_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "bibs.json"
    code = bench_bibs.main(
        [
            *("--bibs", "40", "--photos", "20", "--rounds", "1"),
            *("--latency", "0.01", "--latency-bibs", "30", "--no-nginx"),
            *("--workdir", str(tmp_path), "--out", str(out_json)),
        ]
    )
    printed, err = capsys.readouterr()
    assert code == 0, err
    results = json.loads(out_json.read_text(encoding="utf-8"))
    assert results["first_plain"]["bib_calls"] == 0
    assert results["first_bibs"]["bib_calls"] == 40
    assert [run["bib_calls"] for run in results["noop_bibs"]] == [0]
    assert results["latency_pass"]["bib_calls"] == 30
    assert "PASS no-op runs with BIBs made [0] BIB calls" in printed
    verdicts = [line for line in printed.splitlines() if line.startswith(("PASS ", "FAIL "))]
    assert len(verdicts) == 3
    assert not list(tmp_path.glob("syncer-bench-bibs-*"))  # the work folder is removed
