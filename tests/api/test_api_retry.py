"""Retry rules (§6): what is retried, how long we wait, when we give up."""

from __future__ import annotations

import random
from email.utils import formatdate

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api import EVENT, KEY, WALL, MakeApi, MaxRng, always, envelope, error, raw, script
from syncer.api import AdaptiveLimiter, RetryPolicy, backoff, parse_retry_after
from syncer.api.retry import longest_wait
from syncer.errors import ApiUnavailableError

PING = {"status": "ok", "org_id": 903, "event_id": EVENT}


# -- backoff and Retry-After ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=5000), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_within_bounds(attempt: int, seed: int) -> None:
    policy = RetryPolicy()
    delay = backoff(attempt, policy, random.Random(seed))
    ceiling = min(policy.cap, policy.base * policy.factor ** min(attempt - 1, 64))
    assert 0.0 <= delay <= ceiling


def test_backoff_ceiling_grows_then_caps() -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, cap=60.0)
    ceilings = [backoff(n, policy, MaxRng()) for n in range(1, 9)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff(0, RetryPolicy(), random.Random(1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        (formatdate(WALL + 30, usegmt=True), 30.0),
        (formatdate(WALL - 30, usegmt=True), 0.0),
        ("Sun, 06 Nov 1994 08:49:37", 0.0),
        ("Mon, 99 Foo 2024 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, WALL) == expected


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="cap"):
        RetryPolicy(cap=-1.0)


# -- 429 ------------------------------------------------------------------------------------


def test_429_honours_retry_after_seconds(make_api: MakeApi) -> None:
    api = make_api(script(error(429, **{"Retry-After": "7"}), envelope(PING)))
    assert api.client.ping(EVENT).status == "ok"
    assert api.time.sleeps == [7.0]
    assert len(api.requests) == 2


def test_429_honours_retry_after_http_date(make_api: MakeApi) -> None:
    when = formatdate(WALL + 12, usegmt=True)
    api = make_api(script(raw(429, "Too Many Requests", **{"Retry-After": when}), envelope(PING)))
    api.client.ping(EVENT)
    assert api.time.sleeps == [12.0]


def test_429_without_retry_after_uses_jittered_backoff(make_api: MakeApi) -> None:
    api = make_api(script(*[error(429)] * 6, envelope(PING)))
    api.client.ping(EVENT)
    assert len(api.time.sleeps) == 6
    for n, delay in enumerate(api.time.sleeps, start=1):
        assert 0.0 <= delay <= min(60.0, 2.0 ** (n - 1))
    assert len(set(api.time.sleeps)) > 1, "jitter makes the delays differ"


def test_429_does_not_use_up_the_5xx_attempts(make_api: MakeApi) -> None:
    policy = RetryPolicy(max_attempts=2)
    api = make_api(script(*[error(429)] * 5, error(500), envelope(PING)), retry=policy)
    assert api.client.ping(EVENT).status == "ok"
    assert len(api.requests) == 7


def test_429_stops_at_the_throttle_deadline(make_api: MakeApi) -> None:
    api = make_api(always(lambda: error(429, **{"Retry-After": "100"})))
    with pytest.raises(ApiUnavailableError) as caught:
        api.client.ping(EVENT)
    assert api.time.sleeps == [100.0] * 9
    assert len(api.requests) == 10
    assert caught.value.status == 429
    assert caught.value.exit_code == 75


def test_retry_after_longer_than_the_budget_gives_up_at_once(make_api: MakeApi) -> None:
    api = make_api(always(lambda: error(429, **{"Retry-After": "3600"})))
    with pytest.raises(ApiUnavailableError, match="throttling"):
        api.client.ping(EVENT)
    assert api.time.sleeps == []


def test_429_shrinks_the_limiter_and_success_grows_it_back(make_api: MakeApi) -> None:
    limiter = AdaptiveLimiter(initial=4, maximum=4, grow_after=3)
    api = make_api(script(error(429), error(429), *[envelope(PING)] * 6), limiter=limiter)
    api.client.ping(EVENT)
    assert limiter.limit == 1
    api.client.ping(EVENT)
    api.client.ping(EVENT)
    assert limiter.limit == 2
    for _ in range(3):
        api.client.ping(EVENT)
    assert limiter.limit == 3


# -- 5xx and network errors ---------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_a_bounded_number_of_times(make_api: MakeApi, status: int) -> None:
    body = "<html><body><h1>Bad gateway</h1></body></html>"
    api = make_api(always(lambda: raw(status, body)))
    with pytest.raises(ApiUnavailableError) as caught:
        api.client.ping(EVENT)
    assert len(api.requests) == 5
    assert len(api.time.sleeps) == 4
    assert caught.value.status == status
    assert f"GET /event/{EVENT}/ping" in caught.value.message
    assert f"HTTP {status}" in caught.value.message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(make_api: MakeApi, status: int) -> None:
    api = make_api(script(error(status), error(status), envelope(PING)))
    assert api.client.ping(EVENT).status == "ok"
    assert len(api.requests) == 3


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_network_errors_are_retried(make_api: MakeApi, exc: Exception) -> None:
    api = make_api(script(exc, exc, envelope(PING)))
    assert api.client.ping(EVENT).status == "ok"
    assert len(api.requests) == 3
    assert [status for _, status in api.observed] == [0, 0, 200]


def test_network_errors_exhausted_become_api_unavailable(make_api: MakeApi) -> None:
    api = make_api(always(lambda: httpx.ReadTimeout("timed out")))
    with pytest.raises(ApiUnavailableError) as caught:
        api.client.ping(EVENT)
    assert len(api.requests) == 5
    assert caught.value.status == 0
    assert "ReadTimeout" in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_a_call_that_keeps_failing_is_said_once_at_warning(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_api(always(lambda: httpx.ConnectError("connection refused")))
    with (
        caplog.at_level("DEBUG", logger="syncer.api.requester"),
        pytest.raises(ApiUnavailableError),
    ):
        api.client.ping(EVENT)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # not one per retry: the rest stay at DEBUG
    assert "failed 2 times (ConnectError: connection refused)" in warnings[0]
    assert "trying again for up to 14 s more" in warnings[0]  # waits before tries 3-5: 2+4+8 s
    assert KEY not in warnings[0]


def _refused() -> Exception:
    return httpx.ConnectError("connection refused")


def test_a_server_never_reached_is_given_up_on_after_the_first_contact_attempts(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_api(always(_refused), retry=RetryPolicy(max_attempts=8, first_contact_attempts=3))
    with (
        caplog.at_level("WARNING", logger="syncer.api.requester"),
        pytest.raises(ApiUnavailableError) as caught,
    ):
        api.client.ping(EVENT)
    assert len(api.requests) == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.endswith("trying again for up to 2 s more (no server has answered yet)")
    assert caught.value.message == (
        "nothing answers at https://api.example.test (GET /event/456/ping, 3 attempt(s); "
        "last: ConnectError: connection refused)"
    )
    assert "api.base_url" in (caught.value.hint or "")
    assert KEY not in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_server_that_answered_once_gets_the_whole_budget_again(make_api: MakeApi) -> None:
    policy = RetryPolicy(max_attempts=8, first_contact_attempts=3)
    api = make_api(script(error(503), *[_refused()] * 5, envelope(PING)), retry=policy)
    assert api.client.ping(EVENT).status == "ok"  # a 503 is an answer: 6 failures allowed
    assert len(api.requests) == 7
    later = make_api(script(envelope(PING), *[_refused()] * 5, envelope(PING)), retry=policy)
    assert later.client.ping(EVENT).status == "ok"
    assert later.client.ping(EVENT).status == "ok"
    assert len(later.requests) == 7


def test_without_first_contact_attempts_a_refusal_gets_the_whole_budget(
    make_api: MakeApi,
) -> None:
    """A daemon's policy: it rides out an API that is down when it starts."""
    api = make_api(always(_refused), retry=RetryPolicy(max_attempts=6))
    with pytest.raises(ApiUnavailableError) as caught:
        api.client.ping(EVENT)
    assert len(api.requests) == 6
    assert caught.value.message.startswith("9Pic did not answer")


def test_only_a_refused_connection_counts_as_never_reached(make_api: MakeApi) -> None:
    """A timeout may be a slow server: it gets the whole budget."""
    timeout = httpx.ConnectTimeout("connect timed out")
    policy = RetryPolicy(max_attempts=5, first_contact_attempts=2)
    api = make_api(always(lambda: timeout), retry=policy)
    with pytest.raises(ApiUnavailableError):
        api.client.ping(EVENT)
    assert len(api.requests) == 5
    with pytest.raises(ValueError, match="first_contact_attempts"):
        RetryPolicy(first_contact_attempts=0)


def test_longest_wait_sums_the_ceilings_left_within_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=8, base=1.0, factor=2.0, cap=60.0, deadline=300.0)
    assert longest_wait(policy, 2) == 2 + 4 + 8 + 16 + 32 + 60
    assert longest_wait(policy, 7) == 60
    assert longest_wait(policy, 8) == 0
    assert longest_wait(RetryPolicy(max_attempts=8, deadline=30.0), 2) == 30.0


def test_5xx_retries_stop_at_the_deadline(make_api: MakeApi) -> None:
    policy = RetryPolicy(deadline=5.0)
    api = make_api(always(lambda: error(503)), retry=policy, rng=MaxRng())
    with pytest.raises(ApiUnavailableError):
        api.client.ping(EVENT)
    assert api.time.sleeps == [1.0, 2.0]
    assert len(api.requests) == 3


def test_deadline_counts_time_spent_in_requests(make_api: MakeApi) -> None:
    policy = RetryPolicy(deadline=10.0)

    def slow_failure() -> httpx.Response:
        api.time.now += 9.5
        return error(500)

    api = make_api(always(slow_failure), retry=policy, rng=MaxRng())
    with pytest.raises(ApiUnavailableError):
        api.client.ping(EVENT)
    assert len(api.requests) == 1


def test_max_attempts_of_one_never_retries(make_api: MakeApi) -> None:
    api = make_api(always(lambda: error(500)), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ApiUnavailableError):
        api.client.ping(EVENT)
    assert len(api.requests) == 1
    assert api.time.sleeps == []


def test_mixed_failures_each_use_their_own_budget(make_api: MakeApi) -> None:
    api = make_api(
        script(
            httpx.ReadError("reset"),
            error(429, **{"Retry-After": "3"}),
            error(502),
            error(429, **{"Retry-After": "4"}),
            envelope(PING),
        )
    )
    assert api.client.ping(EVENT).status == "ok"
    assert api.time.sleeps[1] == 3.0
    assert api.time.sleeps[3] == 4.0
    assert len(api.time.sleeps) == 4
