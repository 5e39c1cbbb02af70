"""A changed ``storage.layout``: a sync warns instead of leaving a mixed archive silently, and
``syncer relayout`` moves the stored photos through the ledger, without downloading them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.e2e import World, files_under, run_ok
from syncer.api import StorageClient
from syncer.config import load_settings
from syncer.downloader import Downloader
from syncer.errors import DiskFullError
from syncer.ledger import Ledger
from syncer.placement import Placer
from syncer.relayout import relayout_event

NEW_LAYOUT = "by-bib/{bib}/{event_id}-{image_id}.{ext}"


def relayout_world(world: World) -> dict[str, str]:
    """A complete sync in the default layout, then the layout changed in the settings."""
    world.write_config(bibs="1-30")
    run_ok(world, "sync", "--no-progress")
    before = files_under(world.root)
    text = world.write_config(bibs="1-30").read_text()
    world.config.write_text(text.replace("[storage]\n", f'[storage]\nlayout = "{NEW_LAYOUT}"\n'))
    return before


def test_a_changed_layout_is_warned_about_and_relayout_moves_every_file(world: World) -> None:
    before = relayout_world(world)
    served = world.sim.stats.snapshot()["objects_served"]

    warned = run_ok(world, "sync", "--no-progress")
    assert "run `syncer relayout --dry-run`" in warned.stderr
    assert files_under(world.root) == before  # nothing moved or fetched by a sync

    dry = run_ok(world, "relayout", "--dry-run")
    assert "would link by-bib/" in dry.stdout
    assert f"{len(world.truth())} photos would move" in dry.stdout
    assert files_under(world.root) == before

    moved = json.loads(run_ok(world, "relayout", "--json").stdout)
    assert moved[0]["moved"] == moved[0]["stale"] == len(world.truth())
    after = files_under(world.root)
    assert all(rel.startswith("by-bib/") for rel in after)
    assert sorted(after.values()) == sorted(before.values())  # the same bytes, moved
    old_top = Path(next(iter(before))).parts[0]
    assert not (world.root / old_top).exists()  # emptied folders are removed
    assert world.sim.stats.snapshot()["objects_served"] == served  # nothing downloaded

    assert "relayout" not in run_ok(world, "sync", "--no-progress").stderr
    assert run_ok(world, "verify").returncode == 0
    again = json.loads(run_ok(world, "relayout", "--json").stdout)
    assert again[0]["stale"] == 0  # a second run finds nothing to move


class _FailsAfter(Downloader):
    """Places files until ``count`` photos are done, then fails like a full disk."""

    def __init__(self, *args: Any, count: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left = count

    def place(self, source: Path, targets: tuple[Path, ...]) -> None:
        if self.left == 0:
            raise DiskFullError("cannot place: the disk is full")
        self.left -= 1
        super().place(source, targets)


def test_an_interrupted_relayout_resumes_where_it_stopped(world: World) -> None:
    before = relayout_world(world)
    settings = load_settings(config_path=world.config, env=world.env())
    with Ledger.open(world.ledger) as ledger, StorageClient() as storage:
        record = ledger.event(world.event_id)
        assert record is not None
        placer = Placer(world.root, settings.storage.template, settings.storage.name_rules, record)
        stopping = _FailsAfter(storage, world.root / ".syncer-tmp", count=5)
        with pytest.raises(DiskFullError):
            relayout_event(ledger, placer, stopping)
    halfway = files_under(world.root)
    assert sum(rel.startswith("by-bib/") for rel in halfway) > 0
    assert sorted(set(halfway.values())) == sorted(set(before.values()))  # no photo lost
    rest = json.loads(run_ok(world, "relayout", "--json").stdout)
    assert 0 < rest[0]["moved"] < len(world.truth())  # only what the first run had not done
    after = files_under(world.root)
    assert all(rel.startswith("by-bib/") for rel in after)
    assert sorted(after.values()) == sorted(before.values())
    assert run_ok(world, "verify").returncode == 0
