"""POST .../original-photos: presigned URLs for originals, by bib, selfie, image_id(s).

Pages slice the resolved image list. Per-item outcomes: a presigned URL, a ``failed_urls``
entry, or (fault ``drop_ids_every``) nothing at all.
"""

from __future__ import annotations

import json
from typing import Any

from syncer.errors import BadRequestError, NotFoundError
from syncer.sim.context import Call, SimContext
from syncer.sim.datadir import DataDir
from syncer.sim.envelope import ApiResponse, Problems, ok, paginate, paging
from syncer.sim.world import SimPhoto

METHODS = ("bib", "selfie", "image_id", "image_ids")
_Entry = tuple[str, SimPhoto | None]


def _body(raw: bytes, problems: Problems) -> tuple[str, Any]:
    """(method, identifier) from the JSON body; problems recorded on the way."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        problems.add("body", "invalid JSON")
        return "", None
    if not isinstance(body, dict):
        problems.add("body", "value is not a valid dict")
        return "", None
    method, identifier = body.get("method"), body.get("identifier")
    if method is None:
        problems.add("body.method", "field required")
    elif method not in METHODS:
        allowed = ", ".join(f"'{m}'" for m in METHODS)
        problems.add(
            "body.method", f"value is not a valid enumeration member; permitted: {allowed}"
        )
    if identifier is None:
        problems.add("body.identifier", "field required")
    elif method == "image_ids":
        _check_id_list(identifier, problems)
    elif method in METHODS:
        if not isinstance(identifier, str):
            problems.add("body.identifier", "str type expected")
        elif not identifier:
            problems.add("body.identifier", "ensure this value has at least 1 characters")
    return str(method), identifier


def _check_id_list(identifier: Any, problems: Problems) -> None:
    if not isinstance(identifier, list):
        problems.add("body.identifier", "value is not a valid list")
    elif not identifier:
        problems.add("body.identifier", "ensure this value has at least 1 items")
    else:
        for index, item in enumerate(identifier):
            if not isinstance(item, str) or not item:
                problems.add(f"body.identifier.{index}", "str type expected (non-empty)")


def _resolve(ctx: SimContext, call: Call, method: str, identifier: Any) -> list[_Entry]:
    world, event_id = ctx.world, call.event_id
    if method == "image_id":
        photo = world.photo(event_id, identifier)
        if photo is None:
            raise BadRequestError(f"Image {identifier} not found for this event", status=400)
        return [(identifier, photo)]
    if method == "image_ids":
        entries = [(i, world.photo(event_id, i)) for i in dict.fromkeys(identifier)]
        if all(photo is None for _, photo in entries):
            raise BadRequestError(
                "None of the requested image ids exist for this event", status=400
            )
        if ctx.config.partial_invalid_ids == "drop":
            entries = [(i, photo) for i, photo in entries if photo is not None]
        return entries
    if method == "bib":
        return [(p.image_id, p) for p in world.by_bib(event_id, identifier)]
    search = ctx.selfies.face(event_id, identifier)
    if search is None:
        raise NotFoundError(f"Request id {identifier} not found", status=404)
    return [(i, world.photo(event_id, i)) for i in ctx.selfies.live_matches(search)]


def _links(
    ctx: SimContext, event_id: int, chunk: list[_Entry]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    presigned: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for image_id, photo in chunk:
        if photo is None:
            failed.append({"image_id": image_id, "error": "Image not found", "path": None})
            continue
        verdict = ctx.faults.presign_item(image_id)
        if verdict == "drop":
            continue
        if verdict == "fail":
            path = f"imgs/{event_id}/large/{image_id}.jpg"
            failed.append({"image_id": image_id, "error": "Failed to generate URL", "path": path})
            continue
        relpath = DataDir.relpath(event_id, image_id)
        url = ctx.presigner.url(relpath, expired=ctx.faults.expire_first(relpath))
        presigned.append({"url": url, "filename": f"{image_id}.jpg"})
        if verdict == "twice":
            presigned.append({"url": ctx.presigner.url(relpath), "filename": f"{image_id}.jpg"})
    return presigned, failed


def original_photos(ctx: SimContext, call: Call) -> ApiResponse:
    problems = Problems()
    page, size = paging(call.query, 30, 60, ctx.config.oversize_page, problems)
    method, identifier = _body(call.request.body, problems)
    problems.check()
    entries = _resolve(ctx, call, method, identifier)
    chunk, info = paginate(entries, page, size)
    presigned, failed = _links(ctx, call.event_id, chunk)
    ctx.stats.presigned(len(presigned), method)
    data = {
        "presigned_urls": presigned,
        "failed_urls": failed,
        "total_images": len(entries),
        "successful_count": len(presigned),
        "failed_count": len(failed),
        "identifier": None if method == "image_ids" else identifier,
        "pagination": info,
    }
    if not entries:
        return ok(data, f"No images found for {method} identifier {identifier}")
    return ok(data, "Presigned URLs generated")
