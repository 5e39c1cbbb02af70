"""Selfie routes: Face Search (POST, cached GET) and Video Clipping (start, poll).

The selfie travels as multipart/form-data field ``file``; ``request_id`` may be a form field or
a query parameter (Video Clipping also takes it in a JSON body).
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from syncer.errors import BadRequestError, NotFoundError, UnprocessableError
from syncer.sim.context import Call, SimContext
from syncer.sim.envelope import ApiRequest, ApiResponse, ok, paging
from syncer.sim.gallery import image_page
from syncer.sim.selfie import (
    CONFIDENCE_PERCENTAGE,
    ClipJob,
    FaceSearch,
    clip_state,
    valid_request_id,
)


def parse_form(request: ApiRequest) -> dict[str, bytes]:
    """Fields of a multipart (or url-encoded) form body, first value per name; {} if empty."""
    kind = request.content_type.lower()
    if not request.body and not kind.startswith("multipart/"):
        return {}
    if kind.startswith("application/x-www-form-urlencoded"):
        pairs = parse_qs(request.body.decode(errors="replace"), keep_blank_values=True)
        return {name: values[0].encode() for name, values in pairs.items()}
    if not kind.startswith("multipart/form-data"):
        raise UnprocessableError("body: expected multipart/form-data", status=422)
    head = f"Content-Type: {request.content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise UnprocessableError("body: malformed multipart/form-data", status=422)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and name not in fields:
            fields[name] = payload if isinstance(payload, bytes) else b""
    return fields


def _request_id(call: Call, form: dict[str, bytes], extra: object = None) -> str | None:
    raw = form.get("request_id")
    text = raw.decode(errors="replace") if raw is not None else None
    text = text or (extra if isinstance(extra, str) else None)
    text = text or next(iter(call.query.get("request_id", [])), None)
    if not text:
        return None
    if not valid_request_id(text):
        raise BadRequestError("request_id must be a UUID", status=400)
    return text.lower()


def _run_search(
    ctx: SimContext, call: Call, form: dict[str, bytes], request_id: str | None
) -> FaceSearch:
    selfie = form.get("file")
    if selfie is None:
        if request_id is not None:
            raise NotFoundError(f"Request id {request_id} not found", status=404)
        raise UnprocessableError("body.file: field required", status=422)
    if not selfie:
        raise BadRequestError("The selfie file is empty", status=400)
    return ctx.selfies.match(call.event_id, selfie, request_id)


def _face_page(ctx: SimContext, search: FaceSearch, page: int, size: int) -> ApiResponse:
    wanted = set(ctx.selfies.live_matches(search))
    photos = [p for p in ctx.world.photos(search.event_id) if p.image_id in wanted]
    return image_page(
        ctx,
        photos,
        page,
        size,
        "Records for selfie search",
        request_id=search.request_id,
        confidence_percentage=CONFIDENCE_PERCENTAGE,
    )


def search(ctx: SimContext, call: Call) -> ApiResponse:
    """POST .../faces: reuse a cached request_id, or match the uploaded selfie."""
    page, size = paging(call.query, 32, 100, ctx.config.oversize_page)
    form = parse_form(call.request)
    request_id = _request_id(call, form)
    cached = ctx.selfies.face(call.event_id, request_id) if request_id else None
    if cached is None:
        cached = _run_search(ctx, call, form, request_id)
    return _face_page(ctx, cached, page, size)


def cached(ctx: SimContext, call: Call) -> ApiResponse:
    """GET .../faces/{request_id}: a page of an earlier search."""
    page, size = paging(call.query, 32, 100, ctx.config.oversize_page)
    found = ctx.selfies.face(call.event_id, call.args[0])
    if found is None:
        raise NotFoundError(f"Request id {call.args[0]} not found", status=404)
    return _face_page(ctx, found, page, size)


def clip_start(ctx: SimContext, call: Call) -> ApiResponse:
    """POST .../video-clipping/search-by-selfie: queue a job; 202 with its request_id."""
    body_id: object = None
    form: dict[str, bytes] = {}
    if call.request.content_type.lower().startswith("application/json"):
        try:
            body = json.loads(call.request.body or b"{}")
        except ValueError as exc:
            raise UnprocessableError("body: invalid JSON", status=422) from exc
        body_id = body.get("request_id") if isinstance(body, dict) else None
    else:
        form = parse_form(call.request)
    request_id = _request_id(call, form, body_id)
    found = ctx.selfies.face(call.event_id, request_id) if request_id else None
    if found is None:
        found = _run_search(ctx, call, form, request_id)
    job = ctx.selfies.start_clip(found)
    return ok(_clip_state(ctx, job), "Video clipping request accepted", status=202)


def clip_poll(ctx: SimContext, call: Call) -> ApiResponse:
    """GET .../video-clipping/{request_id}: pending -> processing -> completed/failed."""
    job = ctx.selfies.poll_clip(call.event_id, call.args[0])
    if job is None:
        raise NotFoundError(f"Request id {call.args[0]} not found", status=404)
    return ok(_clip_state(ctx, job), "Video clipping status")


def _clip_state(ctx: SimContext, job: ClipJob) -> dict[str, object]:
    faults = ctx.faults
    return clip_state(
        job,
        faults.clip_polls,
        fail=faults.clip_fail,
        stuck=faults.clip_never_finishes,
        base_url=ctx.base_url,
    )
