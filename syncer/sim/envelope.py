"""Wire conventions shared by every API route: request/response values, the envelope,
gateway-style fault bodies, query validation (422 messages) and pagination."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, TypeVar

from syncer.errors import UnprocessableError
from syncer.sim.faults import ApiFault
from syncer.sim.world import SimPhoto

T = TypeVar("T")
JSON = "application/json"


@dataclass(frozen=True)
class ApiRequest:
    """One API call, already read off the socket."""

    method: str
    path: str
    query: dict[str, list[str]]
    api_key: str | None = None
    host: str | None = None
    content_type: str = ""
    body: bytes = b""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = field(default=())


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def ok(data: dict[str, Any], message: str, status: int = 200) -> ApiResponse:
    return ApiResponse(status, _json({"responseType": "success", "message": message, "data": data}))


def flat(data: dict[str, Any]) -> ApiResponse:
    """The legacy un-enveloped form of Ping and Event Details."""
    return ApiResponse(200, _json(data))


def error(status: int, message: str) -> ApiResponse:
    return ApiResponse(status, _json({"responseType": "error", "message": message, "data": None}))


_HTML = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
    "</center><hr><center>gateway</center></body></html>\n"
)


def gateway(fault: ApiFault, clock: Callable[[], float]) -> ApiResponse:
    """What a gateway (or the app, for 500) answers instead of the real response."""
    if fault.status == 429:
        headers: tuple[tuple[str, str], ...] = ()
        if fault.retry_after == "date":
            headers = (("Retry-After", formatdate(math.ceil(clock()) + 1, usegmt=True)),)
        elif isinstance(fault.retry_after, float):
            headers = (("Retry-After", f"{fault.retry_after:g}"),)
        return ApiResponse(429, _json({"message": "Too Many Requests"}), JSON, headers)
    if fault.status == 500:
        return error(500, "Internal server error")
    if fault.status == 504:
        return ApiResponse(504, b"upstream request timeout\n", "text/plain; charset=utf-8")
    reason = {502: "Bad Gateway", 503: "Service Unavailable"}[fault.status]
    body = _HTML.format(code=fault.status, reason=reason).encode()
    return ApiResponse(fault.status, body, "text/html; charset=utf-8")


class Problems:
    """Collects validation problems; :meth:`check` raises one 422 naming all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, description: str) -> None:
        self.items.append(f"{where}: {description}")

    def check(self) -> None:
        if self.items:
            raise UnprocessableError("; ".join(self.items), status=422)


def query_int(query: dict[str, list[str]], name: str, problems: Problems) -> int | None:
    """An optional integer query parameter (problems recorded, None when absent or bad)."""
    values = query.get(name)
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        problems.add(f"query.{name}", "value is not a valid integer")
        return None


def query_number(query: dict[str, list[str]], name: str, problems: Problems) -> float | None:
    values = query.get(name)
    if not values:
        return None
    try:
        number = float(values[0])
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.add(f"query.{name}", "value is not a valid number")
        return None
    return number


def paging(
    query: dict[str, list[str]],
    default: int,
    maximum: int,
    oversize: str,
    problems: Problems | None = None,
) -> tuple[int, int]:
    """Validated (page, page_size); raises 422 unless ``problems`` is given to collect into."""
    own = problems is None
    problems = problems or Problems()
    page = query_int(query, "page", problems)
    if page is not None and page < 1:
        problems.add("query.page", "ensure this value is greater than or equal to 1")
    size = query_int(query, "page_size", problems)
    if size is not None and size < 1:
        problems.add("query.page_size", "ensure this value is greater than or equal to 1")
    if size is not None and size > maximum:
        if oversize == "clamp":
            size = maximum
        else:
            problems.add("query.page_size", f"ensure this value is less than or equal to {maximum}")
    if own:
        problems.check()
    return page or 1, size or default


def paginate(items: Sequence[T], page: int, size: int) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` and its PaginationInfo (zeroed when there are no items)."""
    total = len(items)
    if total == 0:
        return [], {
            "total": 0,
            "currentPage": 0,
            "totalPages": 0,
            "hasNextPage": False,
            "hasPreviousPage": False,
            "page_size": size,
        }
    pages = math.ceil(total / size)
    chunk = list(items[(page - 1) * size : page * size])
    return chunk, {
        "total": total,
        "currentPage": page,
        "totalPages": pages,
        "hasNextPage": page < pages,
        "hasPreviousPage": page > 1,
        "page_size": size,
    }


def image_item(photo: SimPhoto, base_url: str, misspelled: bool) -> dict[str, Any]:
    """An ImageItem; ``misspelled`` uses the legacy keys widht/thumbanail_url/orginal_url."""
    stem = f"{base_url}/imgs/{photo.event_id}"
    if misspelled:
        return {
            "img_url": f"{stem}/large/{photo.image_id}.jpg",
            "height": photo.height,
            "widht": photo.width,
            "image_id": photo.image_id,
            "thumbanail_url": f"{stem}/small/{photo.image_id}.jpg",
            "orginal_url": None,
        }
    return {
        "img_url": f"{stem}/large/{photo.image_id}.jpg",
        "height": photo.height,
        "width": photo.width,
        "image_id": photo.image_id,
        "thumbnail_url": f"{stem}/small/{photo.image_id}.jpg",
        "original_url": None,
    }
