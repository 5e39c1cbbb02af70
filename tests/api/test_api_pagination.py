"""Pagination (§3.4): page sizes within the maxima, every stop rule, resumable walks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.api import EVENT, MakeApi, envelope, image, pagination, params_of, script
from syncer.api import paging

PREFIX = f"/api/v1/ext/903/event/{EVENT}"


def gallery(count: int, *, always_next: bool = False, total_pages: int | None = None) -> Any:
    """A handler serving ``count`` photos with the page/page_size the request asked for."""

    def handle(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        pages = -(-count // size)
        chunk = [image(f"img-{n}") for n in range((page - 1) * size, min(count, page * size))]
        info = pagination(
            page if count else 0,
            pages if total_pages is None else total_pages,
            count,
            size,
            has_next=True if always_next else page < pages,
        )
        return envelope({"images": chunk, "pagination": info})

    return handle


def walked_pages(api_requests: list[httpx.Request]) -> list[int]:
    return [int(params_of(request)["page"]) for request in api_requests]


def test_walk_stops_when_has_next_page_is_false(make_api: MakeApi) -> None:
    api = make_api(gallery(250))
    pages = list(api.client.image_pages(EVENT))
    assert [page.page for page in pages] == [1, 2, 3]
    assert sum(page.item_count for page in pages) == 250
    assert pages[-1].items[-1].image_id == "img-249"
    assert walked_pages(api.requests) == [1, 2, 3]
    assert all(r.url.path == f"{PREFIX}/images" for r in api.requests)


@pytest.mark.parametrize(("asked", "sent"), [(500, 100), (100, 100), (7, 7), (1, 1)])
def test_page_size_never_exceeds_the_endpoint_maximum(
    make_api: MakeApi, asked: int, sent: int
) -> None:
    api = make_api(gallery(3))
    list(api.client.image_pages(EVENT, page_size=asked))
    assert {params_of(r)["page_size"] for r in api.requests} == {str(sent)}


def test_events_page_size_is_capped_and_events_are_unique(make_api: MakeApi) -> None:
    def events(ids: list[int], page: int, has_next: bool) -> httpx.Response:
        listing = [{"event_id": n, "event_name": f"E{n}"} for n in ids]
        return envelope({"events": listing, "pagination": pagination(page, 2, 3, 100, has_next)})

    api = make_api(script(events([1, 2], 1, True), events([2, 3], 2, False)))
    got = [event.event_id for event in api.client.events(page_size=1000)]
    assert got == [1, 2, 3]
    assert all(params_of(r)["page_size"] == "100" for r in api.requests)
    assert all(r.url.path == "/api/v1/ext/903/events" for r in api.requests)


@pytest.mark.parametrize("size", [0, -5])
def test_page_size_below_one_is_rejected_at_call_time(make_api: MakeApi, size: int) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match="page_size"):
        api.client.image_pages(EVENT, page_size=size)
    with pytest.raises(ValueError, match="page_size"):
        api.client.events(page_size=size)
    with pytest.raises(ValueError, match="page_size"):
        api.client.originals(EVENT, "bib", "1", page_size=size)
    assert api.requests == []


def test_walk_stops_on_an_empty_page_even_if_next_is_claimed(make_api: MakeApi) -> None:
    full = {"images": [image("a")], "pagination": pagination(1, 5, 5, 1, has_next=True)}
    empty = {"images": [], "pagination": pagination(2, 5, 5, 1, has_next=True)}
    api = make_api(script(envelope(full), envelope(empty)))
    pages = list(api.client.image_pages(EVENT))
    assert [page.item_count for page in pages] == [1, 0]
    assert len(api.requests) == 2


def test_empty_event_is_one_request(make_api: MakeApi) -> None:
    api = make_api(gallery(0))
    pages = list(api.client.image_pages(EVENT))
    assert len(pages) == 1
    assert pages[0].pagination.current_page == 0
    assert pages[0].items == []
    assert len(api.requests) == 1


def test_current_page_zero_stops_the_walk(make_api: MakeApi) -> None:
    odd = {"images": [image("a")], "pagination": pagination(0, 0, 1, 100, has_next=True)}
    api = make_api(script(envelope(odd)))
    assert len(list(api.client.image_pages(EVENT))) == 1


def test_server_always_claiming_more_pages_is_capped(make_api: MakeApi) -> None:
    api = make_api(gallery(10_000, always_next=True, total_pages=2))
    pages = list(api.client.image_pages(EVENT, page_size=10))
    assert walked_pages(api.requests) == [1, 2, 3, 4, 5]
    assert len(pages) == 5


def test_global_cap_when_total_pages_is_unknown(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "MAX_PAGES", 12)
    api = make_api(gallery(10_000, always_next=True, total_pages=0))
    list(api.client.image_pages(EVENT, page_size=10))
    assert len(api.requests) == 12


def test_walk_resumes_at_start_page(make_api: MakeApi) -> None:
    api = make_api(gallery(250))
    pages = list(api.client.image_pages(EVENT, start_page=2))
    assert walked_pages(api.requests) == [2, 3]
    assert pages[0].items[0].image_id == "img-100"


def test_start_page_below_one_is_rejected(make_api: MakeApi) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match="start_page"):
        api.client.image_pages(EVENT, start_page=0)


def test_pages_are_fetched_lazily(make_api: MakeApi) -> None:
    api = make_api(gallery(250))
    walk = api.client.image_pages(EVENT)
    assert api.requests == []
    next(walk)
    assert len(api.requests) == 1


def test_bib_walk_follows_pages(make_api: MakeApi) -> None:
    api = make_api(gallery(150))
    ids = [item.image_id for page in api.client.bib_pages(EVENT, "0042") for item in page.items]
    assert len(ids) == 150
    assert all(r.url.path == f"{PREFIX}/bibs/0042" for r in api.requests)


def test_originals_walk_repeats_the_body_on_every_page(make_api: MakeApi) -> None:
    def page(n: int, has_next: bool) -> httpx.Response:
        item = {"url": f"https://s.test/{n}.jpg?sig=x", "filename": f"{n}.jpg"}
        info = pagination(n, 2, 2, 60, has_next)
        return envelope({"presigned_urls": [item], "failed_urls": [], "pagination": info})

    api = make_api(script(page(1, True), page(2, False)))
    pages = list(api.client.originals(EVENT, "bib", "1234", page_size=99))
    assert len(pages) == 2
    for request in api.requests:
        assert request.url.path == f"{PREFIX}/original-photos"
        assert request.read() == b'{"method":"bib","identifier":"1234"}'
        assert params_of(request)["page_size"] == "60"
    assert walked_pages(api.requests) == [1, 2]


@pytest.mark.parametrize(
    ("method", "identifier"),
    [("bib", ["a"]), ("image_ids", "a"), ("image_ids", []), ("selfie", ""), ("everything", "x")],
)
def test_originals_rejects_identifiers_that_do_not_fit_the_method(
    make_api: MakeApi, method: Any, identifier: Any
) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match=r"method|identifier"):
        api.client.originals(EVENT, method, identifier)
    assert api.requests == []
