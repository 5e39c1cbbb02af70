"""``syncer simulate``: run the simulator in the foreground until SIGINT or SIGTERM.

The first line on stdout is ``base_url=... org_id=... api_key=...`` (flushed at once), so a
parent process can read where to connect. ``GET <base_url>/_sim/stats`` answers the counters
(:class:`~syncer.sim.SimStats`) as JSON, e.g. ``full_downloads`` per image id.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncer.errors import ConfigError
from syncer.sim.config import DEFAULT_PORT, OVERSIZE_MODES, PARTIAL_MODES, SimConfig
from syncer.sim.faults import CORRUPT_MODES, Faults
from syncer.sim.server import Simulator

_FAULT_INTS = (
    ("throttle_every", "answer 429 to every Nth API request"),
    ("throttle_burst", "answer 429 to the next K API requests"),
    ("error_500_every", "answer 500 (enveloped) to every Nth API request"),
    ("error_502_every", "answer 502 (HTML body) to every Nth API request"),
    ("error_503_every", "answer 503 (HTML body) to every Nth API request"),
    ("error_504_every", "answer 504 (plain body) to every Nth API request"),
    ("drop_mid_body_every", "close every Nth storage GET after half of the body"),
    ("stall_mid_body_every", "every Nth storage GET sends half of the body, then nothing"),
    ("storage_503_every", "answer 503 SlowDown to every Nth storage GET"),
    ("fail_first_links", "each photo's first N link requests land in failed_urls"),
    ("duplicate_links_every", "list every Nth link twice in the download answer"),
    ("failed_every", "put every Nth requested link into failed_urls"),
    ("drop_ids_every", "silently omit every Nth requested link"),
    ("drift_insert_per_page", "after each All Photos page insert N earlier photos"),
    ("drift_remove_per_page", "after each All Photos page remove N photos"),
    ("revoke_after_requests", "deactivate the key after K API requests"),
    ("corrupt_every", "apply --corrupt-storage to every Nth storage GET (default 1)"),
    ("clip_polls", "polls until a video clipping job is finished (default 3)"),
    ("storage_bytes_per_second", "cap each original or clip body at N bytes/s, paced smoothly"),
    ("storage_link_bytes_per_second", "cap all storage bodies together at N bytes/s (a link)"),
)
_FAULT_FLOATS = (
    ("slow_api_seconds", "delay every API answer by S seconds"),
    ("slow_storage_seconds", "wait S seconds before the first byte of every original or clip"),
    ("stall_seconds", "how long a stalled body stays silent (default 30)"),
    ("storage_retry_after", "Retry-After seconds on the storage 503s (default: no header)"),
)
_FAULT_FLAGS = (
    ("expire_first_presign", "the first link issued for each photo is already expired"),
    ("compat_flat", "Ping and Event Details without the envelope (legacy form)"),
    ("compat_misspelled", "image items use widht/thumbanail_url/orginal_url"),
    ("clip_fail", "video clipping jobs end as failed"),
    ("clip_never_finishes", "video clipping jobs stay processing forever"),
    ("clip_404_once", "the first GET of each clip URL answers 404"),
)


def _retry_after(text: str) -> float | str | None:
    if text in ("none", "date"):
        return None if text == "none" else text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, 'date' or 'none'") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncer simulate", description="Run a local 9Pic API simulator."
    )
    world = parser.add_argument_group("world")
    world.add_argument("--seed", type=int, default=1)
    world.add_argument("--org-id", type=int, default=903)
    world.add_argument("--api-key", default="demo-key-903")
    world.add_argument("--events", type=int, default=4)
    world.add_argument("--photos-per-event", type=int, default=40)
    world.add_argument("--photo-bytes", type=int, default=200_000)
    world.add_argument("--host", default="127.0.0.1")
    world.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)"
    )
    world.add_argument("--presign-ttl", type=float, default=3600.0, help="seconds")
    world.add_argument("--oversize-page", choices=OVERSIZE_MODES, default="reject")
    world.add_argument("--partial-invalid-ids", choices=PARTIAL_MODES, default="failed")
    world.add_argument("--storage-base-url", default=None)
    world.add_argument("--data-dir", type=Path, default=None)
    world.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        dest="allowed_hosts",
        help="repeatable; none means any Host is accepted",
    )
    world.add_argument("--non-hex-ids", action="store_true")
    world.add_argument("--clip-bytes", type=int, default=48_000, help="size of a video clip file")
    world.add_argument(
        "--tls-cert", type=Path, default=None, help="PEM certificate chain: serve HTTPS"
    )
    world.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    faults = parser.add_argument_group("faults")
    for name, text in _FAULT_INTS:
        faults.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, help=text)
    for name, text in _FAULT_FLOATS:
        faults.add_argument(f"--{name.replace('_', '-')}", type=float, default=None, help=text)
    for name, text in _FAULT_FLAGS:
        faults.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=text)
    faults.add_argument(
        "--retry-after",
        type=_retry_after,
        default=None,
        help="Retry-After on 429: seconds, 'date' or 'none' (default none)",
    )
    faults.add_argument(
        "--failed-id",
        action="append",
        default=[],
        dest="failed_ids",
        help="repeatable: image id always reported in failed_urls",
    )
    faults.add_argument("--corrupt-storage", choices=CORRUPT_MODES, default=None)
    return parser


def _config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        seed=args.seed,
        org_id=args.org_id,
        api_key=args.api_key,
        events=args.events,
        photos_per_event=args.photos_per_event,
        photo_bytes=args.photo_bytes,
        host=args.host,
        port=args.port,
        presign_ttl=args.presign_ttl,
        oversize_page=args.oversize_page,
        partial_invalid_ids=args.partial_invalid_ids,
        storage_base_url=args.storage_base_url,
        data_dir=args.data_dir,
        allowed_hosts=tuple(args.allowed_hosts),
        non_hex_ids=args.non_hex_ids,
        clip_bytes=args.clip_bytes,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


_WORLD_FLAGS = (
    "seed",
    "org_id",
    "events",
    "photos_per_event",
    "photo_bytes",
    "clip_bytes",
    "host",
    "port",
)


def simulate_command(config: SimConfig) -> str:
    """The ``syncer simulate`` command line that serves the same world as ``config`` (same
    organisation, events, photo ids and bytes) at the same address. The API key is left out:
    it must be the default one (``--api-key``) or be given by hand."""
    defaults = build_parser().parse_args([])
    words = ["syncer", "simulate"]
    for name in _WORLD_FLAGS:
        value = getattr(config, name)
        if value != getattr(defaults, name):
            words += [f"--{name.replace('_', '-')}", str(value)]
    return " ".join(words)


def _faults(args: argparse.Namespace) -> Faults:
    knobs: dict[str, Any] = {}
    for name, _ in _FAULT_INTS + _FAULT_FLOATS:
        if getattr(args, name) is not None:
            knobs[name] = getattr(args, name)
    for name, _ in _FAULT_FLAGS:
        if getattr(args, name):
            knobs[name] = True
    knobs["retry_after"] = args.retry_after
    knobs["failed_ids"] = set(args.failed_ids)
    knobs["corrupt_storage"] = args.corrupt_storage
    return Faults(**knobs)


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or until ``stop`` is set); 0 on a clean stop, 78 on bad
    settings."""
    args = build_parser().parse_args(argv)
    stop = stop if stop is not None else threading.Event()
    try:
        simulator = Simulator(_config(args), _faults(args))
        simulator.start()
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    with simulator:
        print(
            f"base_url={simulator.base_url} org_id={simulator.org_id} api_key={simulator.api_key}",
            flush=True,
        )
        events = ",".join(str(e.event_id) for e in simulator.events() if e.configured)
        print(f"events={events} data_dir={simulator.data_dir}", flush=True)
        signalled: list[int] = []  # a signal handler must not take locks: just note it
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda number, _frame: signalled.append(number))
        while not signalled and not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
