"""Read-only routes: Ping, List Events, Event Details, All Photos, BIB Search, Timeline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from syncer.sim.context import Call, SimContext
from syncer.sim.envelope import (
    ApiResponse,
    Problems,
    flat,
    image_item,
    ok,
    paginate,
    paging,
    query_number,
)
from syncer.sim.world import SimEvent, SimPhoto

NO_IMAGES = "No images found"
_LEGACY_MISSING = ("video_search", "video_selfie_search", "timeline_search")


def ping(ctx: SimContext, call: Call) -> ApiResponse:
    data = {"status": "ok", "org_id": call.org_id, "event_id": call.event_id}
    return flat(data) if ctx.faults.compat_flat else ok(data, "pong")


def _event_fields(event: SimEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_name": event.name,
        "event_slug": event.slug,
        "event_date": event.date,
        "status": event.status,
    }


def events(ctx: SimContext, call: Call) -> ApiResponse:
    page, size = paging(call.query, 10, 100, ctx.config.oversize_page)
    chunk, info = paginate(ctx.world.events(), page, size)
    items = [{**_event_fields(e), "cover_image": e.cover_image} for e in chunk]
    message = "Records for events" if info["total"] else "No events found"
    return ok({"events": items, "pagination": info}, message)


def details(ctx: SimContext, call: Call) -> ApiResponse:
    assert call.event is not None
    data = {**_event_fields(call.event), **call.event.flags}
    if ctx.faults.compat_flat:
        return flat({k: v for k, v in data.items() if k not in _LEGACY_MISSING})
    return ok(data, "Event details")


def image_page(
    ctx: SimContext, photos: Sequence[SimPhoto], page: int, size: int, message: str, **extra: Any
) -> ApiResponse:
    """A page of ImageItems in the All Photos shape (plus ``extra`` data keys)."""
    chunk, info = paginate(photos, page, size)
    misspelled = ctx.faults.compat_misspelled
    items = [image_item(p, ctx.base_url, misspelled) for p in chunk]
    data = {**extra, "images": items, "pagination": info}
    return ok(data, message if info["total"] else NO_IMAGES)


def images(ctx: SimContext, call: Call) -> ApiResponse:
    page, size = paging(call.query, 32, 100, ctx.config.oversize_page)
    response = image_page(
        ctx, ctx.world.photos(call.event_id), page, size, "Records for all images"
    )
    inserts, removes = ctx.faults.drift_insert_per_page, ctx.faults.drift_remove_per_page
    if inserts or removes:
        ctx.world.drift(call.event_id, inserts, removes)
    return response


def bibs(ctx: SimContext, call: Call) -> ApiResponse:
    page, size = paging(call.query, 32, 100, ctx.config.oversize_page)
    bib = call.args[0]
    found = ctx.world.by_bib(call.event_id, bib)
    return image_page(ctx, found, page, size, f"Records for bib number {bib}")


def timeline_days(ctx: SimContext, call: Call) -> ApiResponse:
    buckets: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for photo in ctx.world.photos(call.event_id):
        if photo.captured_at is not None:
            moment = datetime.fromtimestamp(photo.captured_at, UTC)
            buckets[moment.date().isoformat()][moment.hour] += 1
    days = [
        {
            "date": day,
            "total": sum(hours.values()),
            "hours": [{"hour": h, "count": hours[h]} for h in sorted(hours)],
        }
        for day, hours in sorted(buckets.items())
    ]
    return ok({"days": days}, "Timeline buckets" if days else "No timeline data")


def timeline_images(ctx: SimContext, call: Call) -> ApiResponse:
    problems = Problems()
    most = ctx.config.timeline_page_max
    page, size = paging(call.query, min(32, most), most, ctx.config.oversize_page, problems)
    lower, upper = ctx.config.timeline_window_params
    start = query_number(call.query, lower, problems)
    end = query_number(call.query, upper, problems)
    problems.check()
    low = float("-inf") if start is None else start
    high = float("inf") if end is None else end
    found = [
        p
        for p in ctx.world.photos(call.event_id)
        if p.captured_at is not None and low <= p.captured_at < high
    ]
    return image_page(ctx, found, page, size, "Records for timeline window")
