"""Reading 9Pic answers: the ``{responseType, message, data}`` envelope and error statuses.

Success is decided by the HTTP status alone; ``responseType`` is only a consistency check. A
top-level object without ``responseType`` is a legacy flat answer: the whole object is ``data``.
Error bodies may come from a gateway and need not be JSON; they never make decoding crash.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from syncer.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    NotFoundError,
    ProtocolError,
    UnprocessableError,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SNIPPET = 200


def clean_text(text: str, limit: int = _SNIPPET, *, redact: str = "") -> str:
    """One printable line: ``redact`` removed, control characters become spaces, runs collapse,
    cut to ``limit`` characters."""
    if redact:
        text = text.replace(redact, "[redacted]")
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def decode(response: httpx.Response, label: str, model: type[M]) -> M:
    """The payload of a 2xx answer to ``label`` (e.g. ``"GET /event/456/images"``) as ``model``."""
    data = payload(response, label)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(
            f"9Pic answered {label} (HTTP {response.status_code}) with data we cannot read: "
            f"{_summarise(exc)}",
            status=response.status_code,
        ) from exc


def payload(response: httpx.Response, label: str) -> Any:
    """The ``data`` of a 2xx answer (or the whole object when it has no envelope)."""
    status = response.status_code
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            f"9Pic answered {label} (HTTP {status}) with a body that is not JSON",
            status=status,
        ) from exc
    if not isinstance(body, dict):
        raise ProtocolError(
            f"9Pic answered {label} (HTTP {status}) with JSON that is not an object",
            status=status,
        )
    if "responseType" not in body:
        return body
    if body.get("responseType") != "success":
        log.debug(
            "%s answered HTTP %d with responseType %r", label, status, body.get("responseType")
        )
    data = body.get("data")
    if data is None:
        raise ProtocolError(
            f"9Pic answered {label} (HTTP {status}) without any data", status=status
        )
    return data


def api_message(response: httpx.Response, *, redact: str = "") -> str | None:
    """The human-readable ``message`` of an answer, or a cleaned snippet of a non-JSON body.

    Any occurrence of ``redact`` (the API key) is removed before the text is shortened.
    """
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raw = response.content[:4096].decode("utf-8", errors="replace")
        return clean_text(raw, redact=redact) or None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return clean_text(body["message"], redact=redact) or None
    return None


def error_for(label: str, status: int, message: str | None) -> ApiError:
    """The exception for a non-retryable error ``status`` of ``label``."""
    suffix = f": {message}" if message else ""
    if status in (401, 403):
        what = "asked for an API key" if status == 401 else "refused the API key"
        return AuthError(
            f"9Pic {what} (HTTP {status}) for {label}{suffix}",
            status=status,
            api_message=message,
            hint="check the API key, the organisation id and that the key is active",
        )
    if status == 404:
        return NotFoundError(
            f"9Pic found nothing for {label} (HTTP 404){suffix}", status=status, api_message=message
        )
    if status == 400:
        return BadRequestError(
            f"9Pic refused {label} (HTTP 400){suffix}", status=status, api_message=message
        )
    if status == 422:
        return UnprocessableError(
            f"9Pic could not process {label} (HTTP 422){suffix}", status=status, api_message=message
        )
    what = "a redirect (HTTP {})" if 300 <= status < 400 else "HTTP {}"
    return ApiError(
        f"9Pic answered {label} with {what.format(status)}{suffix}",
        status=status,
        api_message=message,
    )


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "data"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        problems.append(f"and {more} more")
    return clean_text("; ".join(problems), limit=400)
