"""End-to-end helpers: the real simulator on 127.0.0.1 and the real CLI in a subprocess.

Also what a sync left on disk (:func:`all_files`, :func:`files_under`,
:func:`photos_on_disk`) and TOML values for config files (:func:`toml_value`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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
    ledger_url: str | None = None  # storage.ledger as a database URL instead of the file

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
            f'ledger = "{self.ledger_url or self.ledger}"',
            'min_free = "1MiB"',
            "[download]",
            "workers = 4",
            'retry_base = "1s"',
            'backoff_base = "20ms"',
            'backoff_cap = "200ms"',
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


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``syncer`` command, with this environment less every ``SYNCER_*`` variable."""
    return subprocess.run(
        [SYNCER, *args],
        env={k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_files(root: Path) -> list[Path]:
    """Every file under ``root``, hidden folders included; a linked folder is not entered."""
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


def files_under(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every photo file (temp, marker and trash folders excluded)."""
    found: dict[str, str] = {}
    for path in all_files(root):
        rel = path.relative_to(root)
        if rel.parts[0].startswith((".", "_trash")):
            continue
        found[rel.as_posix()] = sha256_of(path)
    return found


def photos_on_disk(root: Path) -> dict[str, str]:
    """image_id (file stem) -> sha256 of every ``.jpg`` that :func:`files_under` finds."""
    return {
        PurePosixPath(rel).stem: sha
        for rel, sha in files_under(root).items()
        if rel.endswith(".jpg")
    }


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


def toml_value(value: object) -> str:
    """``value`` written as a TOML value (booleans, numbers, strings and lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")
