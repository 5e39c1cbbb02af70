"""What the commands print: short text for people, JSON with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from syncer.ledger import EventStatus, NodeStatus
from syncer.relayout import RelayoutReport
from syncer.report import CycleReport, PersonReport
from syncer.units import format_size
from syncer.verify import VerifyReport


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=_default, ensure_ascii=False)
    sys.stdout.write("\n")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def cycle_dict(report: CycleReport) -> dict[str, Any]:
    seconds = report.seconds
    total_bytes = report.total("bytes")
    return {
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "seconds": round(seconds, 3),
        "dry_run": report.dry_run,
        "interrupted": report.interrupted,
        "exit_code": report.exit_code,
        "new": report.total("new"),
        "due": report.total("due"),
        "downloaded": report.total("downloaded"),
        "skipped": report.total("skipped"),
        "failed": report.total("failed"),
        "unavailable": report.total("unavailable"),
        "relinked": report.total("relinked"),
        "retries": report.total("retries"),
        "recovered": report.total("recovered"),
        "gone_from_disk": report.total("gone_from_disk"),
        "trashed": report.total("trashed"),
        "bytes": total_bytes,
        "mb_per_s": round(total_bytes / seconds / 1e6, 2) if seconds > 0 else 0.0,
        "failures": dict(report.failures),
        "deferred": [asdict(one) for one in report.deferred],
        "events": [
            {**asdict(event), "failures": dict(event.failures), "deferred": len(event.deferred)}
            for event in report.events
        ],
    }


def print_cycle(report: CycleReport) -> None:
    data = cycle_dict(report)
    mode = "dry run: " if report.dry_run else ""
    for event in report.events:
        name = f" {event.name}" if event.name else ""
        if event.error:
            print(f"event {event.event_id}{name}: skipped: {event.error}")
        elif report.dry_run:
            for step in event.plan:
                source = f" (from {step.source})" if step.source else ""
                print(f"  would {step.action} {step.path}{source}")
            print(
                f"event {event.event_id}{name}: {event.seen} "
                f"{'photo' if event.seen == 1 else 'photos'} listed, {event.new} new, "
                f"{event.due} would be downloaded"
            )
        else:
            print(
                f"event {event.event_id}{name}: {event.seen} listed, {event.new} new, "
                f"{event.downloaded} downloaded, {event.failed + event.unavailable} failed"
            )
            for person in event.people:
                _print_person(person)
    if not report.dry_run:
        print(
            f"{mode}{data['downloaded']} downloaded ({format_size(data['bytes'])}), "
            f"{data['skipped']} already on disk, {data['failed']} failed, "
            f"{data['unavailable']} unavailable, {data['relinked']} re-placed "
            f"in {data['seconds']:.1f} s ({data['mb_per_s']} MB/s)"
        )
    for reason, count in report.failures.most_common(10):
        print(f"  failed x{count}: {reason}")
    _print_deferred(report)
    if report.interrupted:
        print("interrupted: stopped early; the next run resumes where this one stopped")


def _print_person(person: PersonReport) -> None:
    found = (
        f"{_count(person.matches, 'new match')}" if person.searched else "no new photos to search"
    )
    clips = f", {_count(person.clips, 'clip')}" if person.clips else ""
    failed = f"; FAILED: {person.error}" if person.error else ""
    print(f"  person {person.name}: {found}{clips}{failed}")


DEFERRED_SHOWN = 20


def _print_deferred(report: CycleReport) -> None:
    deferred = report.deferred
    for one in deferred[:DEFERRED_SHOWN]:
        print(f"  {one.image_id}: next try {_when(one.retry_at)} ({one.error})")
    if len(deferred) > DEFERRED_SHOWN:
        print(f"  ... and {len(deferred) - DEFERRED_SHOWN} more (syncer status; --json lists all)")


def print_settings(data: dict[str, Any], origin: Callable[[str], str], path: Path | None) -> None:
    """The effective settings as TOML-like lines, each with where it came from."""
    print(f"# settings file: {path or '(none: defaults and environment)'}")
    events = data.get("events")
    print(f"events = {json.dumps(events, ensure_ascii=False)}  # {origin('events')}")
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        print(f"\n[{section}]")
        for key, value in values.items():
            print(
                f"{key} = {json.dumps(value, ensure_ascii=False)}  # {origin(f'{section}.{key}')}"
            )


def print_missing(missing: Sequence[str]) -> None:
    """What a sync still needs, or that it has what it needs."""
    if not missing:
        print("\n# a sync has what it needs (organisation, key, root, events)")
        return
    print("\n# a sync still needs:")
    for problem in missing:
        print(f"#   - {problem}")


HISTOGRAM_WIDTH = 40  # characters of the longest bar


def print_timeline(event_id: int, days: Sequence[dict[str, Any]]) -> None:
    """Each UTC day with its total, and one bar per hour scaled to the busiest hour."""
    if not days:
        print(f"event {event_id}: no photos with a capture time")
        return
    busiest = max((hour["count"] for day in days for hour in day["hours"]), default=0)
    for day in days:
        print(f"{day['date']}  {day['total']} {'photo' if day['total'] == 1 else 'photos'} (UTC)")
        for hour in day["hours"]:
            count = hour["count"]
            bar = "#" * max(1, round(count * HISTOGRAM_WIDTH / busiest)) if count else ""
            print(f"  {hour['hour']:02d}:00  {bar:<{HISTOGRAM_WIDTH}}  {count}")


def print_status(rows: Sequence[EventStatus], nodes: Sequence[NodeStatus] = ()) -> None:
    """Per event, then per node of a shared ledger (none on a ledger of one syncer)."""
    _print_events(rows)
    for node in nodes:
        print(
            f"node {node.name}: {sum(node.claimed.values())} claimed, {node.downloading} "
            f"downloading, last seen {_when(node.last_seen)}"
        )


def _print_events(rows: Sequence[EventStatus]) -> None:
    if not rows:
        print("the ledger knows no events yet")
    for row in rows:
        name = f" {row.name}" if row.name else ""
        print(
            f"event {row.event_id}{name}: {row.known} known, {row.downloaded} downloaded, "
            f"{row.pending} pending, {row.failed} failed, {row.unavailable} unavailable, "
            f"{format_size(row.bytes)}; last run {_when(row.last_run_ended_at)}"
            + (f", {row.concurrency} downloads at once" if row.concurrency else "")
        )
        if row.gone_from_disk:
            print(
                f"  {row.gone_from_disk} downloaded photos are gone from the disk; "
                "the next sync downloads them again"
            )
        for reason, count in row.failures:
            print(f"  x{count}: {reason}")
        for person in row.people:
            clips = f", {_count(person.clips, 'clip')}" if person.clips else ""
            print(
                f"  person {person.person}: {_count(person.matches, 'match')}, "
                f"{person.placed} placed, {person.pending} pending{clips}"
            )


def status_dicts(
    rows: Sequence[EventStatus], nodes: Sequence[NodeStatus] = ()
) -> list[dict[str, Any]]:
    """``status --json``: one object per event; ``nodes`` lists the nodes of a shared ledger,
    each with its live claims on that event (``claimed``) and its downloads in flight."""
    return [
        {
            **asdict(row),
            "failures": [{"reason": r, "count": c} for r, c in row.failures],
            "nodes": [_node_dict(node, row.event_id) for node in nodes],
        }
        for row in rows
    ]


def _node_dict(node: NodeStatus, event_id: int) -> dict[str, Any]:
    return {
        "name": node.name,
        "claimed": node.claimed.get(event_id, 0),
        "downloading": node.downloading,
        "last_seen": node.last_seen,
        "started_at": node.started_at,
    }


def verify_dict(report: VerifyReport, synced: CycleReport | None = None) -> dict[str, Any]:
    """``verify --json``; with ``--sync``, the sync that followed under ``"sync"``."""
    data: dict[str, Any] = {
        "photos": report.photos,
        "files": report.files,
        "bytes": report.bytes,
        "missing": report.missing,
        "corrupt": report.corrupt,
        "requeued": report.requeued,
        "clips": report.clips,
        "clips_requeued": report.clips_requeued,
    }
    if synced is not None:
        data["sync"] = cycle_dict(synced)
    return data


def print_verify(report: VerifyReport, *, sync_follows: bool = False) -> None:
    clips = f" and {_count(report.clips, 'clip')}" if report.clips else ""
    print(
        f"checked {report.photos} photos{clips} in {report.files} files "
        f"({format_size(report.bytes)}): {len(report.missing)} missing, "
        f"{len(report.corrupt)} corrupt"
    )
    for rel in report.missing[:50]:
        print(f"  missing: {rel}")
    for rel in report.corrupt[:50]:
        print(f"  corrupt: {rel}")
    if report.requeued:
        then = "downloading them now" if sync_follows else "run `syncer sync` to download them"
        print(f"re-queued {_photos(report.requeued)} for download; {then}")
    if report.clips_requeued:
        then = "fetching them now" if sync_follows else "the next `syncer sync` fetches them"
        print(f"{_count(report.clips_requeued, 'clip')} to fetch again; {then}")


def _photos(count: int) -> str:
    return _count(count, "photo")


def _count(count: int, noun: str) -> str:
    """``1 clip``, ``2 clips``, ``1 match``, ``3 matches``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('ch', 's', 'x')) else 's'}"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "never"


def print_relayout(reports: Sequence[RelayoutReport], *, dry_run: bool) -> None:
    """Per event: how many photos were (or would be) moved into the current layout."""
    if not reports:
        print("the ledger knows no events yet")
    for report in reports:
        for step in report.steps:
            source = f" (from {step.source})" if step.source else ""
            print(f"  would {step.action} {step.path}{source}")
        if dry_run:
            print(
                f"event {report.event_id}: {report.stale} photos would move to the current layout"
            )
        else:
            lost = f", {report.lost} had no file left and will be downloaded" if report.lost else ""
            print(
                f"event {report.event_id}: {report.moved} photos moved to the current layout{lost}"
            )
