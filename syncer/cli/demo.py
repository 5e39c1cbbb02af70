"""`syncer demo`: the bundled simulator, one event, a BIB list, a person with a selfie and
their video clips, a real sync into a folder.

The demo leaves a configuration that keeps working: its simulator listens on the port
``syncer simulate`` uses by default (another free port when that one is busy), the world is the
one ``syncer simulate`` builds from the same flags, and the demo key is written into the
configuration (mode 0600). When the demo ends it prints the ``syncer simulate`` command that
brings the same simulator back, so ``syncer --config <dir>/syncer.toml status`` (or ``sync``)
works again.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import TextIO

from syncer.cli.output import cycle_dict, emit_json, print_cycle
from syncer.config import load_settings
from syncer.errors import ConfigError
from syncer.sim import Faults, SimConfig, Simulator
from syncer.sim.cli import simulate_command
from syncer.sim.selfie import selfie_jpeg
from syncer.sync import CycleOptions

DEMO_BIBS = "1-40,A-17,0042,Bx9"
DEMO_PERSON = "Asha"


def run_demo(args: argparse.Namespace) -> int:
    from syncer.cli import stop_on_signals
    from syncer.cli.commands import run_with_progress

    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    notes = sys.stderr if args.json else sys.stdout
    sim = _start(SimConfig(events=4, photos_per_event=args.photos, port=args.port), notes)
    with sim:
        event = next(
            e
            for e in sim.events()
            if e.configured and e.status == "active" and e.flags.get("bib_search")
        )
        selfie = _write_selfie(folder, sim, event.event_id)
        config_file = _write_config(folder, sim, event.event_id, selfie)
        settings = load_settings(config_path=config_file, env=_plain_env())
        print(
            f"simulated 9Pic API at {sim.base_url}; syncing event {event.event_id} "
            f"({event.name}) with BIBs {DEMO_BIBS} and {DEMO_PERSON}'s selfie ({selfie.name}) "
            f"into {folder / 'photos'}",
            file=notes,
        )
        stop = threading.Event()
        stop_on_signals(stop)
        report = run_with_progress(args, settings, CycleOptions(), stop)
        command = _same_simulator(sim)
    if args.json:
        emit_json(cycle_dict(report))
        _print_afterwards(config_file, command, notes)
        return report.exit_code
    print_cycle(report)
    _print_tree(folder / "photos")
    _print_afterwards(config_file, command, notes)
    return report.exit_code


def _start(config: SimConfig, notes: TextIO) -> Simulator:
    """The demo simulator on ``config.port`` (``syncer simulate``'s default unless the user
    chose another), or on a free port when that one is busy."""
    faults = Faults(clip_polls=1)  # the demo's clipping jobs are ready at the first poll
    try:
        return Simulator(config, faults=faults).start()
    except ConfigError:
        print(f"port {config.port} is busy; the demo simulator takes a free port", file=notes)
    config.port = 0
    return Simulator(config, faults=faults).start()


def _same_simulator(sim: Simulator) -> str:
    """The ``syncer simulate`` command serving the demo's world at the demo's address."""
    port = int(sim.base_url.rsplit(":", 1)[1])
    same = SimConfig(**{**vars(sim.config), "port": port})
    return simulate_command(same)


def _print_afterwards(config_file: Path, command: str, out: TextIO) -> None:
    print(
        f"\nsettings used: {config_file} (the demo key is its api.key)\n"
        "the demo simulator stopped with the demo; to use these settings again, start it in "
        f"another terminal:\n    {command}\n"
        f"then run: syncer --config {config_file} status",
        file=out,
    )


def _plain_env() -> dict[str, str]:
    """The demo ignores the user's own SYNCER_* settings so it always runs the same way."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}


def _write_selfie(folder: Path, sim: Simulator, event_id: int) -> Path:
    """A small selfie whose BIB marker makes the simulator match one runner's photos."""
    worn = Counter(bib for photo in sim.photos(event_id) for bib in photo.bibs)
    bib = min(worn, key=lambda b: (-worn[b], b)) if worn else "0042"
    path = folder / "selfies" / f"{DEMO_PERSON.lower()}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(selfie_jpeg([bib]))
    return path


def _write_config(folder: Path, sim: Simulator, event_id: int, selfie: Path) -> Path:
    path = folder / "syncer.toml"
    text = (
        "# Written by `syncer demo`: a working configuration against the demo simulator.\n"
        "# Start that simulator again with:\n"
        f"#     {_same_simulator(sim)}\n"
        "[api]\n"
        f'base_url = "{sim.base_url}"\n'
        f"org_id = {sim.org_id}\n"
        f'key = "{sim.api_key}"\n\n'
        "[storage]\n"
        f'root = "{folder / "photos"}"\n'
        f'ledger = "{folder / "ledger.sqlite3"}"\n\n'
        "[[events]]\n"
        f"id = {event_id}\n"
        f'bibs = "{DEMO_BIBS}"\n\n'
        "[[events.people]]\n"
        f'name = "{DEMO_PERSON}"\n'
        f'selfie = "{selfie}"\n'
        "clips = true\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)  # an older, wider file keeps its mode through O_TRUNC
    return path


def _print_tree(root: Path) -> None:
    per_folder: Counter[str] = Counter()
    total = 0
    for path in [*root.rglob("*.jpg"), *root.rglob("*.mp4")]:
        rel = path.relative_to(root)
        if rel.parts[0].startswith((".", "_trash")):
            continue
        per_folder[str(rel.parent)] += 1
        total += 1
    print(f"\n{root}: {total} files in {len(per_folder)} folders")
    shown = sorted(per_folder.items(), key=lambda item: (-item[1], item[0]))[:12]
    shown += [(f, n) for f, n in sorted(per_folder.items()) if "/_people/" in f"/{f}/"]
    for folder, count in dict(shown).items():
        kind = "clip" if folder.endswith("/clips") else "photo"
        print(f"  {folder}/  {count} {kind}{'' if count == 1 else 's'}")
    if len(per_folder) > 12:
        print(f"  ... and {len(per_folder) - 12} more folders")
