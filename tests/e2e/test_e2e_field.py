"""What a user meets in the field, end to end through the CLI: files deleted by hand, a dry
run that lists its steps, a wrong event, a run that fails before anything exists, Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from harness.e2e import World, files_under, make_world, run_ok, temp_files
from syncer.sim import Faults


def sync_json(world: World, *args: str, expect: tuple[int, ...] = (0,)) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        run_ok(world, "sync", "--json", *args, expect=expect).stdout
    )
    return data


def status_row(world: World) -> dict[str, object]:
    rows = json.loads(run_ok(world, "status", "--json").stdout)
    row: dict[str, object] = next(r for r in rows if r["event_id"] == world.event_id)
    return row


def test_files_deleted_by_hand_are_counted_pending_and_fetched_again(world: World) -> None:
    sync_json(world)
    before = files_under(world.root)
    victims = sorted(before)[:3]
    for rel in victims:
        (world.root / rel).unlink()
    row = status_row(world)
    assert (row["downloaded"], row["pending"]) == (len(before) - 3, 3)
    assert row["gone_from_disk"] == 3
    assert "gone from the disk" in run_ok(world, "status").stdout
    served = world.sim.stats.snapshot()["objects_served"]
    data = sync_json(world)
    assert (data["downloaded"], data["gone_from_disk"]) == (3, 3)
    assert files_under(world.root) == before
    after = world.sim.stats.snapshot()["objects_served"]
    assert sum(after.values()) - sum(served.values()) == 3  # only the deleted ones
    row = status_row(world)
    assert (row["downloaded"], row["pending"], row["gone_from_disk"]) == (len(before), 0, 0)


def test_a_deleted_extra_bib_file_is_linked_again_not_downloaded(world: World) -> None:
    world.write_config(bibs="1-60")
    sync_json(world)
    before = files_under(world.root)
    by_photo: dict[str, list[str]] = {}
    for rel in before:
        by_photo.setdefault(Path(rel).name, []).append(rel)
    victim = next(paths[1] for paths in by_photo.values() if len(paths) > 1)
    (world.root / victim).unlink()
    data = sync_json(world)
    assert (data["downloaded"], data["gone_from_disk"], data["relinked"]) == (0, 1, 1)
    assert files_under(world.root) == before


def test_dry_run_lists_each_step_and_the_real_run_takes_them(world: World) -> None:
    world.write_config(bibs="1-30")
    sync_json(world)
    world.sim.add_photos(world.event_id, 2)
    world.write_config(bibs="1-60")  # new BIBs: files to link into new folders
    data = sync_json(world, "--dry-run")
    plan = data["events"][0]["plan"]  # type: ignore[index]
    downloads = {step["path"] for step in plan if step["action"] == "download"}
    links = {step["path"] for step in plan if step["action"] == "link"}
    assert len(downloads) == data["due"] == 2
    assert links
    text = run_ok(world, "sync", "--dry-run").stdout
    assert all(f"would download {path}" in text for path in downloads)
    before = set(files_under(world.root))
    sync_json(world)
    assert set(files_under(world.root)) - before == downloads | links


def test_dry_run_runs_the_nas_guard(world: World) -> None:
    sync_json(world)
    (world.root / ".syncer-root").unlink()
    result = run_ok(world, "sync", "--dry-run", expect=(74,))
    assert ".syncer-root" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_event_of_another_organisation_is_one_line_and_creates_nothing(world: World) -> None:
    result = run_ok(world, "sync", "--event", "999", expect=(78,))
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncer: error:")]
    assert len(errors) == 1
    assert "999 is not one of organisation" in errors[0]
    assert "syncer events" in result.stderr
    assert not world.root.exists()
    assert not world.ledger.parent.exists()


def test_status_and_verify_name_an_event_the_ledger_does_not_know(world: World) -> None:
    sync_json(world)
    for command in (("status", "--event", "999"), ("verify", "--event", "999")):
        result = run_ok(world, *command, expect=(78,))
        assert "event 999 is not in the ledger" in result.stderr
        assert str(world.event_id) in result.stderr


def test_a_refused_key_or_a_dead_api_creates_nothing(world: World) -> None:
    world.extra_env["SYNCER_API_KEY"] = "not-the-key"
    run_ok(world, "sync", expect=(77,))
    world.extra_env.clear()
    world.write_config(extra="")
    text = world.config.read_text().replace(world.sim.base_url, "http://127.0.0.1:9")
    world.config.write_text(text.replace("max_attempts = 3", "max_attempts = 1"))
    run_ok(world, "sync", expect=(75,))
    assert not world.root.exists()
    assert not world.ledger.parent.exists()


def test_a_mistyped_api_address_is_said_in_seconds(world: World) -> None:
    """Nothing listens there: a command gives up after a few quick tries (not the minutes of
    the whole retry budget, which a server that answered once still gets), names the address
    and points at api.base_url."""
    text = world.config.read_text().replace(world.sim.base_url, "http://127.0.0.1:9")
    world.config.write_text(text.replace("max_attempts = 3\n", ""))  # the default budget
    began = time.monotonic()
    result = run_ok(world, "sync", "--no-progress", expect=(75,))
    assert time.monotonic() - began < 30, "the whole budget (8 tries) takes about 90 s"
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncer: error:")]
    assert errors == [
        f"syncer: error: nothing answers at http://127.0.0.1:9 (GET /event/{world.event_id}"
        "/ping, 3 attempt(s); last: ConnectError: [Errno 111] Connection refused)"
    ]
    assert "syncer: hint: check api.base_url" in result.stderr
    assert "Traceback" not in result.stderr
    assert not world.root.exists()
    assert not world.ledger.parent.exists()


def test_status_before_any_sync_creates_nothing(world: World) -> None:
    result = run_ok(world, "status")
    assert "run `syncer sync` first" in result.stdout
    assert not world.ledger.parent.exists()


def test_the_first_sync_says_it_created_the_root(world: World) -> None:
    first = run_ok(world, "sync", "--no-progress")
    assert f"created the storage root {world.root}" in first.stderr
    second = run_ok(world, "sync", "--no-progress")
    assert "created the storage root" not in second.stderr


def test_ctrl_c_stops_with_130_and_says_interrupted(tmp_path: Path) -> None:
    faults = Faults(slow_storage_seconds=0.05)
    for world in make_world(tmp_path, photos=120, size=30_000, faults=faults):
        process = world.start("sync", "--no-progress")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(files_under(world.root)) < 5:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert "interrupted" in out
        assert not temp_files(world.root)


def test_no_check_files_skips_the_check_and_the_next_sync_catches_up(world: World) -> None:
    sync_json(world)
    victim = sorted(files_under(world.root))[0]
    (world.root / victim).unlink()
    lean = sync_json(world, "--no-check-files")  # what a daemon cycle between checks does
    assert (lean["gone_from_disk"], lean["downloaded"]) == (0, 0)
    assert not (world.root / victim).exists()
    full = sync_json(world)
    assert (full["gone_from_disk"], full["downloaded"]) == (1, 1)
    assert (world.root / victim).exists()
