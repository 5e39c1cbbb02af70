"""End-to-end fixtures: the real simulator on 127.0.0.1 and the real CLI in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncer.layout import NameRules, bib_dirname, event_dirname
from syncer.sim import Faults, SimConfig, Simulator

SYNCER = str(Path(sys.executable).with_name("syncer"))


@dataclass
class World:
    """A simulator plus a config file, a photo root and a ledger in a temp folder."""

    sim: Simulator
    tmp: Path
    event_id: int
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.tmp / "photos"

    @property
    def ledger(self) -> Path:
        return self.tmp / "state" / "ledger.sqlite3"

    @property
    def config(self) -> Path:
        return self.tmp / "syncer.toml"

    def write_config(self, *, bibs: str | list[str] | None = None, extra: str = "") -> Path:
        lines = [
            "[api]",
            f'base_url = "{self.sim.base_url}"',
            f"org_id = {self.sim.org_id}",
            "max_attempts = 3",
            "[storage]",
            f'root = "{self.root}"',
            f'ledger = "{self.ledger}"',
            'min_free = "1MiB"',
            "[download]",
            "workers = 4",
            'retry_base = "1s"',
            "[[events]]",
            f"id = {self.event_id}",
        ]
        if isinstance(bibs, list):
            lines.append(f"bibs = [{', '.join(json.dumps(b) for b in bibs)}]")
        elif bibs is not None:
            lines.append(f'bibs = "{bibs}"')
        self.config.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return self.config

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
        return {**base, "SYNCER_API_KEY": self.sim.api_key, **self.extra_env}

    def command(self, *args: str) -> list[str]:
        return [SYNCER, "--config", str(self.config), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def truth(self) -> dict[str, str]:
        """image_id -> sha256 of the simulator's current photos of the event."""
        return {p.image_id: p.sha256 for p in self.sim.photos(self.event_id)}


def files_under(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every photo file (temp, marker and trash folders excluded)."""
    found: dict[str, str] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0].startswith((".", "_trash")):
            continue
        found[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def expected_tree(world: World, bibs: list[str]) -> dict[str, str]:
    """relative path -> sha256 that a complete sync with these BIBs must produce (default
    layout), from the simulator's truth."""
    event = next(e for e in world.sim.events() if e.event_id == world.event_id)
    top = event_dirname(event.event_id, event.slug, NameRules())
    wanted = {b.casefold(): b for b in bibs}
    tree: dict[str, str] = {}
    for photo in world.sim.photos(world.event_id):
        mine = sorted({wanted[b.casefold()] for b in photo.bibs if b.casefold() in wanted})
        for folder in [bib_dirname(b, NameRules()) for b in mine] or ["_no_bib"]:
            tree[f"{top}/{folder}/{photo.image_id}.jpg"] = photo.sha256
    return tree


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.part")]


def make_world(
    tmp_path: Path,
    *,
    photos: int = 30,
    size: int = 20_000,
    faults: Faults | None = None,
    **config: object,
) -> Iterator[World]:
    sim_config = SimConfig(events=4, photos_per_event=photos, photo_bytes=size, **config)  # type: ignore[arg-type]
    with Simulator(sim_config, faults=faults) as sim:
        event = next(
            e
            for e in sim.events()
            if e.configured and e.status == "active" and e.flags.get("bib_search")
        )
        world = World(sim=sim, tmp=tmp_path, event_id=event.event_id)
        world.write_config()
        yield world


def run_ok(
    world: World, *args: str, expect: Sequence[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    result = world.run(*args)
    assert result.returncode in expect, (result.returncode, result.stdout, result.stderr)
    return result
