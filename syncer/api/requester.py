"""One API call end to end: key header, concurrency slot, retries, error mapping, observation.

Retried: 429 (``Retry-After`` honoured, else backoff; total 429 delay bounded by
``throttle_deadline``), 500/502/503/504 and network errors (bounded by ``max_attempts`` and
``deadline``). Never retried: every other status, mapped to the :mod:`syncer.errors` tree.
The API key is sent per request and never appears in a message or a log line.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from pydantic import SecretStr

from syncer.api.envelope import api_message, clean_text, error_for
from syncer.api.limiter import AdaptiveLimiter
from syncer.api.retry import (
    RETRYABLE_STATUSES,
    THROTTLE_STATUS,
    RetryPolicy,
    backoff,
    longest_wait,
    parse_retry_after,
)
from syncer.errors import ApiError, ApiUnavailableError

log = logging.getLogger(__name__)

# The failure of one call after which the retries are said at WARNING (before: DEBUG), so a
# run waiting on an API that does not answer (a typo'd port, an outage) is not silent.
SAY_AFTER_FAILURES = 2

Observer = Callable[[str, int], None]
FileField = tuple[str, bytes, str]


@dataclass(frozen=True)
class Call:
    """A request to the API. ``path`` is relative to ``/api/v1/ext/{org_id}``."""

    name: str
    method: str
    path: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, FileField] | None = None

    @property
    def label(self) -> str:
        """``METHOD /path`` for messages, e.g. ``GET /event/456/ping``."""
        return f"{self.method} {self.path}"


@dataclass
class _Budget:
    """What one call has spent so far on retries."""

    started: float
    failures: int = 0
    throttles: int = 0
    throttle_delay: float = 0.0


@dataclass(frozen=True)
class Pacing:
    """The injected time sources and randomness of a :class:`Requester`."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    rng: random.Random


class Requester:
    """Sends :class:`Call` objects to ``prefix`` (``<base_url>/api/v1/ext/<org_id>``)."""

    def __init__(
        self,
        *,
        prefix: str,
        api_key: SecretStr,
        http: httpx.Client,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
        pacing: Pacing,
        timeout: float,
        observer: Observer | None,
        user_agent: str,
    ) -> None:
        self._prefix = prefix
        self._key = api_key
        self._http = http
        self._retry = retry
        self._limiter = limiter
        self._pacing = pacing
        self._timeout = httpx.Timeout(timeout)
        self._observer = observer
        self._user_agent = user_agent
        self._answered = False  # a server has answered this client (any status)

    def send(self, call: Call) -> httpx.Response:
        """The 2xx response to ``call``, after retries; raises an :class:`ApiError` otherwise."""
        budget = _Budget(started=self._pacing.clock())
        while True:
            try:
                response = self._attempt(call)
            except httpx.TransportError as exc:
                self._observe(call.name, 0)
                reason = self._scrub(f"{type(exc).__name__}: {exc}")
                unreached = isinstance(exc, httpx.ConnectError) and not self._answered
                self._wait_after_failure(call, budget, 0, reason, exc, unreached=unreached)
                continue
            except httpx.HTTPError as exc:
                self._observe(call.name, 0)
                raise ApiError(
                    f"9Pic call {call.label} failed: {self._scrub(type(exc).__name__)}"
                ) from exc
            self._answered = True
            status = response.status_code
            self._observe(call.name, status)
            if 200 <= status < 300:
                self._limiter.succeeded()
                return response
            if status == THROTTLE_STATUS:
                self._wait_after_throttle(call, budget, response)
            elif status in RETRYABLE_STATUSES:
                self._wait_after_failure(call, budget, status, f"HTTP {status}", None)
            else:
                raise self._error(call, response)

    def _attempt(self, call: Call) -> httpx.Response:
        headers = {
            "X-API-Key": self._key.get_secret_value(),
            "User-Agent": self._user_agent,
            "Accept": "application/json",
        }
        with self._limiter.slot():
            return self._http.request(
                call.method,
                self._prefix + call.path,
                params=dict(call.params),
                json=call.json,
                data=dict(call.data) if call.data is not None else None,
                files=dict(call.files) if call.files is not None else None,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )

    def _wait_after_failure(
        self,
        call: Call,
        budget: _Budget,
        status: int,
        reason: str,
        exc: Exception | None,
        *,
        unreached: bool = False,
    ) -> None:
        """Sleep before the next try, or raise once the policy's budget is spent. ``unreached``:
        the connection failed and no server has answered yet (see
        ``RetryPolicy.first_contact_attempts``)."""
        budget.failures += 1
        policy = self._retry
        first = policy.first_contact_attempts if unreached else None
        if first is not None:
            policy = replace(policy, max_attempts=min(first, policy.max_attempts))
        delay = backoff(budget.failures, policy, self._pacing.rng)
        elapsed = self._pacing.clock() - budget.started
        if budget.failures >= policy.max_attempts or elapsed + delay > policy.deadline:
            if first is not None:
                raise self._unreached(call, budget, reason) from exc
            raise ApiUnavailableError(
                f"9Pic did not answer {call.label} after {budget.failures} attempt(s) "
                f"(last: {reason})",
                status=status,
            ) from exc
        if budget.failures == SAY_AFTER_FAILURES:
            log.warning(
                "%s failed %d times (%s); trying again for up to %.0f s more (%s)",
                call.label,
                budget.failures,
                reason,
                min(longest_wait(policy, budget.failures), policy.deadline - elapsed),
                "api.max_attempts" if first is None else "no server has answered yet",
            )
        else:
            log.debug(
                "%s failed (%s); retry %d/%d in %.2f s",
                call.label,
                reason,
                budget.failures,
                policy.max_attempts - 1,
                delay,
            )
        self._pacing.sleep(delay)

    def _unreached(self, call: Call, budget: _Budget, reason: str) -> ApiUnavailableError:
        where = httpx.URL(self._prefix)
        return ApiUnavailableError(
            f"nothing answers at {where.scheme}://{where.netloc.decode('ascii')} "
            f"({call.label}, {budget.failures} attempt(s); last: {reason})",
            hint="check api.base_url (host and port); if it is right, 9Pic or the network "
            "is down: try again later",
        )

    def _wait_after_throttle(self, call: Call, budget: _Budget, response: httpx.Response) -> None:
        self._limiter.throttled()
        budget.throttles += 1
        header = response.headers.get("Retry-After")
        delay = parse_retry_after(header, self._pacing.wall_clock()) if header else None
        if delay is None:
            delay = backoff(budget.throttles, self._retry, self._pacing.rng)
        if budget.throttle_delay + delay > self._retry.throttle_deadline:
            raise ApiUnavailableError(
                f"9Pic kept throttling {call.label} (HTTP 429) for "
                f"{budget.throttle_delay:.0f} s; giving up for now",
                status=THROTTLE_STATUS,
                api_message=self._message(response),
            )
        budget.throttle_delay += delay
        log.debug("%s throttled (HTTP 429); waiting %.2f s", call.label, delay)
        self._pacing.sleep(delay)

    def _error(self, call: Call, response: httpx.Response) -> ApiError:
        return error_for(call.label, response.status_code, self._message(response))

    def _message(self, response: httpx.Response) -> str | None:
        return api_message(response, redact=self._key.get_secret_value())

    def _observe(self, name: str, status: int) -> None:
        if self._observer is not None:
            self._observer(name, status)

    def _scrub(self, text: str) -> str:
        """``text`` as one clean line with any occurrence of the key removed."""
        return clean_text(text, redact=self._key.get_secret_value())
