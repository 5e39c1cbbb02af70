"""The ``/api/v1/ext/`` surface: routing, the per-call checks of §2.3, and fault injection.

Order of checks: gateway faults (429/5xx) first, then key present (401), key active (403),
org path valid (422) and the key's (403), host allowed (403), event owned (403) and configured
(404), feature flag on (403); then the route validates its own query and body (422/400).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from syncer.errors import ApiError, AuthError, NotFoundError, UnprocessableError
from syncer.sim import faces, gallery, originals
from syncer.sim.context import Call, SimContext
from syncer.sim.envelope import ApiRequest, ApiResponse, error, gateway
from syncer.sim.world import SimEvent

PREFIX = "/api/v1/ext/"
_log = logging.getLogger(__name__)
Handler = Callable[[SimContext, Call], ApiResponse]
_VIDEO = ("video_search", "video_selfie_search")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # segments after {org_id}; "{event}" and "{arg}" capture
    name: str
    handler: Handler
    flags: tuple[str, ...] = ()


def _ev(*tail: str) -> tuple[str, ...]:
    return ("event", "{event}", *tail)


ROUTES = (
    Route("GET", ("events",), "events", gallery.events),
    Route("GET", _ev("ping"), "ping", gallery.ping),
    Route("GET", _ev("details"), "details", gallery.details),
    Route("GET", _ev("images"), "images", gallery.images),
    Route("GET", _ev("bibs", "{arg}"), "bibs", gallery.bibs, ("bib_search",)),
    Route("POST", _ev("faces"), "faces_search", faces.search, ("selfie_search",)),
    Route("GET", _ev("faces", "{arg}"), "faces_cached", faces.cached, ("selfie_search",)),
    Route(
        "GET", _ev("timeline", "days"), "timeline_days", gallery.timeline_days, ("timeline_search",)
    ),
    Route(
        "GET",
        _ev("timeline", "images"),
        "timeline_images",
        gallery.timeline_images,
        ("timeline_search",),
    ),
    Route(
        "POST", _ev("video-clipping", "search-by-selfie"), "clip_start", faces.clip_start, _VIDEO
    ),
    Route("GET", _ev("video-clipping", "{arg}"), "clip_poll", faces.clip_poll, _VIDEO),
    Route("POST", _ev("original-photos"), "original_photos", originals.original_photos),
)


@dataclass(frozen=True)
class _Match:
    route: Route | None
    org: str
    event: str | None
    args: tuple[str, ...]
    methods: tuple[str, ...]  # methods the path exists for (405 vs 404)


def _match(method: str, path: str) -> _Match:
    segments = [unquote(s) for s in path.removeprefix(PREFIX).rstrip("/").split("/")]
    org, rest = segments[0], tuple(segments[1:])
    methods: list[str] = []
    for route in ROUTES:
        if len(route.pattern) != len(rest):
            continue
        if any(p != s and not p.startswith("{") for p, s in zip(route.pattern, rest, strict=True)):
            continue
        captured = [s for p, s in zip(route.pattern, rest, strict=True) if p.startswith("{")]
        event = captured.pop(0) if "{event}" in route.pattern else None
        if route.method == method:
            return _Match(route, org, event, tuple(captured), ())
        methods.append(route.method)
    return _Match(None, org, None, (), tuple(methods))


def host_allowed(host: str | None, allowed: tuple[str, ...]) -> bool:
    """Allow-all when ``allowed`` is empty; else the Host header's name (or name:port)."""
    if not allowed:
        return True
    if not host:
        return False
    full = host.strip().lower()
    name = full[: full.index("]") + 1] if full.startswith("[") else full.split(":")[0]
    wanted = {a.lower() for a in allowed}
    return name in wanted or full in wanted


def _path_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnprocessableError(f"path.{name}: value is not a valid integer", status=422) from None


class ApiApp:
    """Turns an :class:`ApiRequest` into an :class:`ApiResponse`; safe across threads."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def handle(self, request: ApiRequest) -> ApiResponse:
        ctx = self.ctx
        match = _match(request.method, request.path)
        ctx.stats.api_request(match.route.name if match.route else "unknown")
        if ctx.faults.slow_api_seconds:
            ctx.sleep(ctx.faults.slow_api_seconds)
        if ctx.faults.key_revoked_now() and ctx.world.key_org(ctx.config.api_key) is not None:
            ctx.world.revoke_key(ctx.config.api_key)
        fault = ctx.faults.api_fault()
        response = gateway(fault, ctx.clock) if fault else self._dispatch(request, match)
        ctx.stats.status(response.status)
        return response

    def _dispatch(self, request: ApiRequest, match: _Match) -> ApiResponse:
        if match.route is None:
            if match.methods:
                return error(405, "Method Not Allowed")
            return error(404, "Not Found")
        try:
            org_id, event = self._authorise(request, match)
            call = Call(request, org_id, event, match.args)
            return match.route.handler(self.ctx, call)
        except ApiError as exc:
            return error(exc.status, exc.message)
        except Exception:
            _log.exception("simulator route %s failed", match.route.name)
            return error(500, "Internal server error")

    def _authorise(self, request: ApiRequest, match: _Match) -> tuple[int, SimEvent | None]:
        world = self.ctx.world
        if not request.api_key:
            raise AuthError("Missing X-API-Key header", status=401)
        key_org = world.key_org(request.api_key)
        if key_org is None:
            raise AuthError("Invalid or inactive API key", status=403)
        org_id = _path_int("org_id", match.org)
        if org_id != key_org:
            raise AuthError(f"API key does not belong to organisation {org_id}", status=403)
        if not host_allowed(request.host, self.ctx.config.allowed_hosts):
            raise AuthError("Host not allowed", status=403)
        if match.event is None:
            return org_id, None
        event_id = _path_int("event_id", match.event)
        event = world.event(event_id)
        if event is None or world.owner(event_id) != org_id:
            raise AuthError(
                f"Event {event_id} does not belong to organisation {org_id}", status=403
            )
        if not event.configured:
            raise NotFoundError("Event configuration not found", status=404)
        assert match.route is not None
        for flag in match.route.flags:
            if not event.flags.get(flag, False):
                raise AuthError(f"Feature {flag} is disabled for this event", status=403)
        return org_id, event
