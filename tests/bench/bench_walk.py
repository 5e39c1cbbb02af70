"""The bare page walk: every gallery page of one event through ``ApiClient.image_pages``.

No ledger, no downloads: the least any sync has to do to learn what exists. Run as a child
process (like ``syncer sync``) so both pay for their own interpreter and compete with nothing::

    SYNCER_API_KEY=... python bench_walk.py --base-url URL --org 903 --event 456

With ``--serve`` it stays up, as a daemon does, and walks once per line read from stdin,
printing one JSON line per walk: walks after the first run warm, like a daemon's cycles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from pydantic import SecretStr

from syncer.api import ApiClient


def bare_walk(base_url: str, org_id: int, api_key: str, event_id: int) -> dict[str, float]:
    """Walk all pages of 100; return pages, photos and the walk's own seconds."""
    started = time.perf_counter()
    pages = photos = 0
    with ApiClient(base_url=base_url, org_id=org_id, api_key=SecretStr(api_key)) as api:
        for page in api.image_pages(event_id, page_size=100):
            pages += 1
            photos += len(page.items)
    return {"pages": pages, "photos": photos, "seconds": time.perf_counter() - started}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="walk every gallery page of one event")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--org", type=int, required=True)
    parser.add_argument("--event", type=int, required=True)
    parser.add_argument("--serve", action="store_true", help="walk once per line of stdin")
    args = parser.parse_args(argv)
    key = os.environ.get("SYNCER_API_KEY")
    if not key:
        print("bench_walk: error: set SYNCER_API_KEY", file=sys.stderr)
        return 78
    for _ in sys.stdin if args.serve else [""]:
        walked = bare_walk(args.base_url, args.org, key, args.event)
        print(json.dumps({**walked, "ended": time.time()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
