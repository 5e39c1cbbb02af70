"""ApiClient endpoints: paths, headers, bodies, envelope decoding and error mapping."""

from __future__ import annotations

import datetime as dt
import logging
import re

import httpx
import pytest
from pydantic import SecretStr

from harness.api import (
    EVENT,
    KEY,
    ORG,
    FakeTime,
    MakeApi,
    always,
    envelope,
    error,
    image,
    pagination,
    params_of,
    raw,
    script,
)
from syncer.api import ApiClient
from syncer.errors import (
    ApiError,
    ApiUnavailableError,
    AuthError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    UnprocessableError,
)

PREFIX = f"/api/v1/ext/{ORG}/event/{EVENT}"
PING = {"status": "ok", "org_id": ORG, "event_id": EVENT}


def test_ping_path_headers_and_payload(make_api: MakeApi) -> None:
    api = make_api(script(envelope(PING, message="pong")))
    ping = api.client.ping(EVENT)
    assert (ping.status, ping.org_id, ping.event_id) == ("ok", ORG, EVENT)
    (request,) = api.requests
    assert request.method == "GET"
    assert request.url.path == f"{PREFIX}/ping"
    assert request.headers["X-API-Key"] == KEY
    assert request.headers["User-Agent"].startswith("syncer/")
    assert api.observed == [("ping", 200)]


def test_flat_ping_without_envelope_is_accepted(make_api: MakeApi) -> None:
    api = make_api(script(httpx.Response(200, json=PING)))
    assert api.client.ping(EVENT).event_id == EVENT


def test_flat_details_without_envelope_and_missing_flags(make_api: MakeApi) -> None:
    flat = {"event_id": EVENT, "event_name": "Mumbai", "bib_search": True, "selfie_search": True}
    api = make_api(script(httpx.Response(200, json=flat)))
    details = api.client.event_details(EVENT)
    assert details.bib_search
    assert details.selfie_search
    assert not details.timeline_search
    assert not details.video_search
    assert api.requests[0].url.path == f"{PREFIX}/details"


def test_response_type_mismatch_is_only_logged(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    odd = httpx.Response(200, json={"responseType": "error", "message": "?", "data": PING})
    api = make_api(script(odd))
    with caplog.at_level(logging.DEBUG, logger="syncer.api"):
        assert api.client.ping(EVENT).status == "ok"
    assert "responseType" in caplog.text


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (raw(200, "<html>portal</html>"), "not JSON"),
        (httpx.Response(200, json=[1, 2]), "not an object"),
        (envelope(None), "without any data"),
        (envelope({"images": [{"width": 3}]}), "images.0.image_id"),
        (envelope({"images": "nope"}), "images"),
    ],
)
def test_unreadable_success_is_a_protocol_error(
    make_api: MakeApi, answer: httpx.Response, what: str
) -> None:
    api = make_api(script(answer))
    with pytest.raises(ProtocolError) as caught:
        next(api.client.image_pages(EVENT))
    message = caught.value.message
    assert f"GET /event/{EVENT}/images" in message
    assert what in message
    assert KEY not in message
    assert caught.value.exit_code == 70


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (422, UnprocessableError),
        (409, ApiError),
        (301, ApiError),
    ],
)
def test_client_errors_are_never_retried(
    make_api: MakeApi, status: int, kind: type[ApiError]
) -> None:
    api = make_api(always(lambda: error(status, "Event configuration not found")))
    with pytest.raises(kind) as caught:
        api.client.ping(EVENT)
    assert len(api.requests) == 1
    assert api.time.sleeps == []
    assert caught.value.status == status
    assert type(caught.value) is kind
    assert caught.value.api_message == "Event configuration not found"


def test_auth_error_message_names_call_and_api_message(make_api: MakeApi) -> None:
    api = make_api(script(error(403, "Invalid API key")))
    with pytest.raises(AuthError) as caught:
        api.client.ping(EVENT)
    assert caught.value.message == (
        f"9Pic refused the API key (HTTP 403) for GET /event/{EVENT}/ping: Invalid API key"
    )
    assert caught.value.exit_code == 77


def test_error_body_that_is_not_json_never_crashes(make_api: MakeApi) -> None:
    api = make_api(script(raw(404, "Not\x00 Found\n\n", content_type="text/plain")))
    with pytest.raises(NotFoundError) as caught:
        api.client.event_details(EVENT)
    assert caught.value.api_message == "Not Found"


def test_key_echoed_by_the_server_is_redacted(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    echo = f"key {KEY} is not active " + "x" * 300
    api = make_api(script(error(500, echo), error(403, echo)))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        api.client.ping(EVENT)
    assert KEY not in str(caught.value)
    assert KEY not in (caught.value.api_message or "")
    assert "[redacted]" in str(caught.value)
    assert KEY not in caplog.text


def test_key_is_absent_from_repr_and_logs(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_api(script(error(503), httpx.ReadTimeout("slow"), envelope(PING)))
    with caplog.at_level(logging.DEBUG):
        api.client.ping(EVENT)
    assert caplog.records, "retries are logged at debug level"
    assert KEY not in caplog.text
    assert KEY not in repr(api.client)
    assert KEY not in str(api.client)
    assert repr(api.client) == f"ApiClient(base_url='https://api.example.test', org_id={ORG})"


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.example.test/", f"https://api.example.test{PREFIX}/ping"),
        ("http://127.0.0.1:8080/proxy/9pic", f"http://127.0.0.1:8080/proxy/9pic{PREFIX}/ping"),
        ("http://127.0.0.1:8080/proxy/9pic/", f"http://127.0.0.1:8080/proxy/9pic{PREFIX}/ping"),
    ],
)
def test_base_url_with_trailing_slash_or_prefix(
    make_api: MakeApi, base_url: str, expected: str
) -> None:
    api = make_api(script(envelope(PING)), base_url=base_url)
    api.client.ping(EVENT)
    assert str(api.requests[0].url) == expected


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"base_url": "ftp://x.test"}, "http(s) URL"),
        ({"base_url": "not a url"}, "http(s) URL"),
        ({"base_url": "https://u:p@x.test"}, "credentials"),
        ({"org_id": 0}, "organisation id"),
        ({"api_key": SecretStr("")}, "key is empty"),
        ({"api_key": SecretStr("abc\ndef")}, "cannot be sent"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, object], fragment: str) -> None:
    settings: dict[str, object] = {
        "base_url": "https://x.test",
        "org_id": 1,
        "api_key": SecretStr(KEY),
        **options,
    }
    with pytest.raises(ConfigError, match=re.escape(fragment)) as caught:
        ApiClient(**settings)  # type: ignore[arg-type]
    assert "abc" not in str(caught.value)
    assert KEY not in str(caught.value)


def test_invalid_event_id_is_rejected_before_any_request(make_api: MakeApi) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match="event id"):
        api.client.ping(0)
    assert api.requests == []


def test_bib_is_url_encoded_as_one_segment(make_api: MakeApi) -> None:
    empty = {"images": [], "pagination": pagination(0, 0, 0, 100, has_next=False)}
    api = make_api(script(envelope(empty)))
    pages = list(api.client.bib_pages(EVENT, "A 17/x?#"))
    assert pages[0].items == []
    assert api.requests[0].url.raw_path.split(b"?")[0] == (
        f"{PREFIX}/bibs/A%2017%2Fx%3F%23".encode()
    )
    assert api.observed == [("bibs", 200)]


@pytest.mark.parametrize(
    ("bib", "segment"),
    [
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("../../etc", "..%2F..%2Fetc"),
        ("a/b", "a%2Fb"),
        ("50%", "50%25"),
        ("%2F", "%252F"),
        ("x?y#z", "x%3Fy%23z"),
        (" A 17 ", "%20A%2017%20"),
        ("...", "..."),
    ],
)
def test_any_bib_reaches_the_server_as_exactly_one_segment(
    make_api: MakeApi, bib: str, segment: str
) -> None:
    empty = {"images": [], "pagination": pagination(0, 0, 0, 100, has_next=False)}
    api = make_api(script(envelope(empty)))
    list(api.client.bib_pages(EVENT, bib))
    assert api.requests[0].url.raw_path.split(b"?")[0] == f"{PREFIX}/bibs/{segment}".encode()


def test_timeline_days_and_window_query(make_api: MakeApi) -> None:
    days = {"days": [{"date": "2024-01-02", "total": 42, "hours": [{"hour": 9, "count": 42}]}]}
    listing = {"images": [image("a")], "pagination": pagination(1, 1, 1, 100)}
    api = make_api(script(envelope(days), envelope(listing)))
    (day,) = api.client.timeline_days(EVENT)
    assert day.date == dt.date(2024, 1, 2)
    pages = list(api.client.timeline_pages(EVENT, 1_700_000_000, 1_700_003_600))
    assert [item.image_id for item in pages[0].items] == ["a"]
    assert api.requests[0].url.path == f"{PREFIX}/timeline/days"
    assert api.requests[1].url.path == f"{PREFIX}/timeline/images"
    assert params_of(api.requests[1]) == {
        "from": "1700000000",
        "to": "1700003600",
        "page": "1",
        "page_size": "100",
    }


def test_timeline_window_must_not_end_before_it_starts(make_api: MakeApi) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match="before it starts"):
        api.client.timeline_pages(EVENT, 10, 5)


def test_face_search_uploads_multipart_and_retries_with_same_request_id(
    make_api: MakeApi,
) -> None:
    result = {
        "request_id": "rid-1",
        "confidence_percentage": 80,
        "images": [image("a")],
        "pagination": pagination(1, 1, 1, 32),
    }
    api = make_api(script(error(500), httpx.ReadError("reset"), envelope(result)))
    found = api.client.face_search(EVENT, b"\xff\xd8selfie", request_id="rid-1", page_size=500)
    assert found.request_id == "rid-1"
    assert [one.image_id for one in found.images] == ["a"]
    assert len(api.requests) == 3
    for request in api.requests:
        assert request.method == "POST"
        assert request.url.path == f"{PREFIX}/faces"
        assert params_of(request) == {"page": "1", "page_size": "100", "request_id": "rid-1"}
        content = request.read()
        assert b'name="file"; filename="selfie.jpg"' in content
        assert b"\xff\xd8selfie" in content
        assert b'name="request_id"' in content
        assert b"rid-1" in content


def test_face_search_without_request_id_retries_without(make_api: MakeApi) -> None:
    result = {"request_id": "new", "images": []}
    api = make_api(script(error(502), envelope(result)))
    assert api.client.face_search(EVENT, b"img").request_id == "new"
    assert all(b"request_id" not in request.read() for request in api.requests)
    assert all("request_id" not in params_of(request) for request in api.requests)


def test_face_search_rejects_an_empty_selfie(make_api: MakeApi) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match="empty"):
        api.client.face_search(EVENT, b"")
    assert api.requests == []


def test_face_pages_reads_cached_results(make_api: MakeApi) -> None:
    pages = [
        {"request_id": "r", "images": [image("a")], "pagination": pagination(1, 2, 2, 1)},
        {"request_id": "r", "images": [image("b")], "pagination": pagination(2, 2, 2, 1)},
    ]
    api = make_api(script(*(envelope(page) for page in pages)))
    got = [one.image_id for result in api.client.face_pages(EVENT, "r/1") for one in result.images]
    assert got == ["a", "b"]
    assert api.requests[0].url.raw_path.startswith(f"{PREFIX}/faces/r%2F1?".encode())
    assert [params_of(r)["page"] for r in api.requests] == ["1", "2"]


def test_start_clip_and_poll(make_api: MakeApi) -> None:
    api = make_api(
        script(
            envelope({"request_id": "c1", "status": "pending"}),
            envelope({"request_id": "c1", "status": "COMPLETED", "clips": [{"url": "u"}]}),
        )
    )
    started = api.client.start_clip(EVENT, request_id="face-1")
    assert (started.request_id, started.status, started.terminal) == ("c1", "pending", False)
    done = api.client.clip(EVENT, "c1")
    assert done.terminal
    assert done.raw["clips"] == [{"url": "u"}]
    start, poll = api.requests
    assert start.url.path == f"{PREFIX}/video-clipping/search-by-selfie"
    assert params_of(start) == {"request_id": "face-1"}
    assert b"request_id=face-1" in start.read()
    assert poll.url.path == f"{PREFIX}/video-clipping/c1"


def test_start_clip_with_selfie_is_multipart(make_api: MakeApi) -> None:
    api = make_api(script(envelope({"request_id": "c2"})))
    api.client.start_clip(EVENT, selfie=b"jpegbytes")
    assert b'name="file"' in api.requests[0].read()
    with pytest.raises(ValueError, match="request_id or a selfie"):
        api.client.start_clip(EVENT)


def test_wait_clip_polls_with_backoff_until_terminal(make_api: MakeApi) -> None:
    states = ["pending"] * 7 + ["failed"]
    api = make_api(script(*(envelope({"request_id": "c", "status": s}) for s in states)))
    job = api.client.wait_clip(EVENT, "c")
    assert job.status == "failed"
    assert api.time.sleeps == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_wait_clip_gives_up_at_the_deadline(make_api: MakeApi) -> None:
    api = make_api(always(lambda: envelope({"request_id": "c", "status": "processing"})))
    with pytest.raises(ApiUnavailableError, match="still processing"):
        api.client.wait_clip(EVENT, "c", deadline=20.0)
    assert api.time.sleeps == [2.0, 4.0, 8.0]
    assert len(api.requests) == 4


def test_observer_sees_every_attempt(make_api: MakeApi) -> None:
    api = make_api(script(httpx.ConnectError("refused"), error(429), error(503), envelope(PING)))
    api.client.ping(EVENT)
    assert api.observed == [("ping", 0), ("ping", 429), ("ping", 503), ("ping", 200)]


def test_owned_http_client_is_closed_and_injected_one_is_not() -> None:
    injected = httpx.Client(transport=httpx.MockTransport(script()))
    with ApiClient(base_url="https://x.test", org_id=1, api_key=SecretStr(KEY), http=injected):
        pass
    assert not injected.is_closed
    injected.close()
    owned = ApiClient(base_url="https://x.test", org_id=1, api_key=SecretStr(KEY))
    owned.close()
    assert owned._http.is_closed


def test_no_key_in_default_headers_of_the_owned_client() -> None:
    client = ApiClient(base_url="https://x.test", org_id=1, api_key=SecretStr(KEY))
    try:
        assert "x-api-key" not in client._http.headers
    finally:
        client.close()


def test_redirects_are_not_followed(make_api: MakeApi) -> None:
    moved = httpx.Response(302, headers={"Location": "https://elsewhere.test/steal"})
    api = make_api(script(moved))
    with pytest.raises(ApiError, match="redirect"):
        api.client.ping(EVENT)
    assert len(api.requests) == 1


def test_fake_time_is_used(make_api: MakeApi) -> None:
    fake = FakeTime(now=100.0)
    api = make_api(script(error(500), envelope(PING)), time=fake)
    api.client.ping(EVENT)
    assert len(fake.sleeps) == 1
    assert fake.now == 100.0 + fake.sleeps[0]


def test_every_attempt_holds_a_limiter_slot_but_sleeps_do_not(make_api: MakeApi) -> None:
    in_flight_during_requests: list[int] = []
    in_flight_during_sleeps: list[int] = []
    answers = [error(503), error(429), envelope(PING)]

    def handler(request: httpx.Request) -> httpx.Response:
        in_flight_during_requests.append(api.limiter.in_flight)
        return answers.pop(0)

    fake = FakeTime()

    def sleep(seconds: float) -> None:
        in_flight_during_sleeps.append(api.limiter.in_flight)
        fake.sleep(seconds)

    api = make_api(handler, sleep=sleep, time=fake)
    api.client.ping(EVENT)
    assert in_flight_during_requests == [1, 1, 1]
    assert in_flight_during_sleeps == [0, 0]
    assert api.limiter.in_flight == 0
