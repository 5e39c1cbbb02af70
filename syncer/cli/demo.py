"""`syncer demo`: the bundled simulator, one event, a BIB list, a real sync into a folder."""

from __future__ import annotations

import argparse
import os
import threading
from collections import Counter
from pathlib import Path

from syncer.cli.output import cycle_dict, emit_json, print_cycle
from syncer.config import load_settings
from syncer.sim import SimConfig, Simulator
from syncer.sync import CycleOptions

DEMO_BIBS = "1-40,A-17,0042,Bx9"


def run_demo(args: argparse.Namespace) -> int:
    from syncer.cli import stop_on_signals
    from syncer.cli.commands import run_with_progress

    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config = SimConfig(events=4, photos_per_event=args.photos, photo_bytes=300_000)
    with Simulator(config) as sim:
        event = next(
            e
            for e in sim.events()
            if e.configured and e.status == "active" and e.flags.get("bib_search")
        )
        config_file = _write_config(folder, sim.base_url, sim.org_id, event.event_id)
        env = {**_plain_env(), "SYNCER_API_KEY": sim.api_key}
        settings = load_settings(config_path=config_file, env=env)
        if not args.json:  # --json: the summary object is all that goes to stdout
            print(
                f"simulated 9Pic API at {sim.base_url}; syncing event {event.event_id} "
                f"({event.name}) with BIBs {DEMO_BIBS} into {folder / 'photos'}"
            )
        stop = threading.Event()
        stop_on_signals(stop)
        report = run_with_progress(args, settings, CycleOptions(), stop)
    if args.json:
        emit_json(cycle_dict(report))
        return report.exit_code
    print_cycle(report)
    _print_tree(folder / "photos")
    print(f"\nsettings used: {config_file} (run `syncer --config {config_file} status`)")
    return report.exit_code


def _plain_env() -> dict[str, str]:
    """The demo ignores the user's own SYNCER_* settings so it always runs the same way."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}


def _write_config(folder: Path, base_url: str, org_id: int, event_id: int) -> Path:
    path = folder / "syncer.toml"
    path.write_text(
        "# Written by `syncer demo`: a working configuration against the demo simulator.\n"
        "[api]\n"
        f'base_url = "{base_url}"\n'
        f"org_id = {org_id}\n\n"
        "[storage]\n"
        f'root = "{folder / "photos"}"\n'
        f'ledger = "{folder / "ledger.sqlite3"}"\n\n'
        "[[events]]\n"
        f"id = {event_id}\n"
        f'bibs = "{DEMO_BIBS}"\n',
        encoding="utf-8",
    )
    return path


def _print_tree(root: Path) -> None:
    per_folder: Counter[str] = Counter()
    total = 0
    for path in root.rglob("*.jpg"):
        rel = path.relative_to(root)
        if rel.parts[0].startswith((".", "_trash")):
            continue
        per_folder[str(rel.parent)] += 1
        total += 1
    print(f"\n{root}: {total} files in {len(per_folder)} folders")
    for folder, count in sorted(per_folder.items(), key=lambda item: (-item[1], item[0]))[:12]:
        print(f"  {folder}/  {count} photos")
    if len(per_folder) > 12:
        print(f"  ... and {len(per_folder) - 12} more folders")
