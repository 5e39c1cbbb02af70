"""presign(): every requested id ends up in exactly one of urls, failed, missing or invalid."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api import EVENT, MakeApi, body_of, envelope, error, pagination, params_of, script
from syncer.api import MAX_BATCH, OriginalsPage, PresignResult
from syncer.api.presign import reconcile
from syncer.errors import AuthError


def url(name: str, **extra: Any) -> dict[str, Any]:
    return {"url": f"https://storage.test/imgs/{name}?X-Sig=abc", "filename": name, **extra}


def answer(
    urls: list[dict[str, Any]],
    failed: list[dict[str, Any]] | None = None,
    page: int = 1,
    pages: int = 1,
) -> httpx.Response:
    data = {
        "presigned_urls": urls,
        "failed_urls": failed or [],
        "identifier": None,
        "pagination": pagination(page, pages, len(urls), 60),
    }
    return envelope(data)


def test_maps_urls_by_filename_stem_and_sorts_every_id(make_api: MakeApi) -> None:
    requested = ["a4402318", "b5513429-1d05-5f2f-c9f9-bd9f9g3gd355", "v1.2", "gone", "bad"]
    api = make_api(
        script(
            answer(
                [
                    url("a4402318.jpg"),
                    url("imgs/456/large/b5513429-1d05-5f2f-c9f9-bd9f9g3gd355.JPG"),
                    url("v1.2.jpeg"),
                    url("stranger.jpg"),
                ],
                failed=[
                    {"image_id": "bad", "error": "Failed to generate URL", "path": None},
                    {"image_id": "not-asked", "error": "x"},
                ],
            )
        )
    )
    result = api.client.presign(EVENT, requested)
    assert list(result.urls) == ["a4402318", "b5513429-1d05-5f2f-c9f9-bd9f9g3gd355", "v1.2"]
    assert result.urls["v1.2"].url.startswith("https://storage.test/imgs/v1.2.jpeg")
    assert result.failed == {"bad": "Failed to generate URL"}
    assert result.missing == ["gone"]
    assert result.invalid == []


def test_request_shape(make_api: MakeApi) -> None:
    api = make_api(script(answer([url("a.jpg")])))
    api.client.presign(EVENT, ["a", "b", "a"])
    (request,) = api.requests
    assert request.method == "POST"
    assert request.url.path == f"/api/v1/ext/903/event/{EVENT}/original-photos"
    assert params_of(request) == {"page": "1", "page_size": "60"}
    assert body_of(request) == {"method": "image_ids", "identifier": ["a", "b"]}
    assert request.headers["Content-Type"] == "application/json"


def test_image_id_key_on_an_item_is_used_when_present(make_api: MakeApi) -> None:
    api = make_api(script(answer([url("renamed.jpg", image_id="x1")])))
    assert list(api.client.presign(EVENT, ["x1"]).urls) == ["x1"]


def test_filename_without_extension_matches_the_whole_name(make_api: MakeApi) -> None:
    api = make_api(script(answer([url("id.with.dots")])))
    assert list(api.client.presign(EVENT, ["id.with.dots"]).urls) == ["id.with.dots"]


def test_multi_page_answer_is_followed_with_the_same_body(make_api: MakeApi) -> None:
    api = make_api(
        script(
            answer([url("a.jpg")], page=1, pages=2),
            answer([url("b.jpg")], failed=[{"image_id": "c", "error": "e"}], page=2, pages=2),
        )
    )
    result = api.client.presign(EVENT, ["a", "b", "c"])
    assert sorted(result.urls) == ["a", "b"]
    assert result.failed == {"c": "e"}
    assert [params_of(r)["page"] for r in api.requests] == ["1", "2"]
    assert body_of(api.requests[0]) == body_of(api.requests[1])


def test_400_means_every_id_is_invalid(make_api: MakeApi) -> None:
    api = make_api(script(error(400, "All image ids are invalid")))
    result = api.client.presign(EVENT, ["x", "y"])
    assert result == PresignResult(invalid=["x", "y"])
    assert len(api.requests) == 1


def test_400_on_a_later_page_keeps_what_was_mapped(make_api: MakeApi) -> None:
    api = make_api(script(answer([url("a.jpg")], page=1, pages=2), error(400)))
    result = api.client.presign(EVENT, ["a", "b"])
    assert list(result.urls) == ["a"]
    assert result.missing == ["b"]
    assert result.invalid == []


def test_other_errors_propagate(make_api: MakeApi) -> None:
    api = make_api(script(error(403, "revoked")))
    with pytest.raises(AuthError):
        api.client.presign(EVENT, ["a"])


@pytest.mark.parametrize("ids", [[], [f"id-{n}" for n in range(MAX_BATCH + 1)], ["ok", ""]])
def test_batch_size_and_ids_are_checked_before_any_request(
    make_api: MakeApi, ids: list[str]
) -> None:
    api = make_api(script())
    with pytest.raises(ValueError, match=r"presign|image id"):
        api.client.presign(EVENT, ids)
    assert api.requests == []


def test_a_single_string_is_not_a_list_of_ids(make_api: MakeApi) -> None:
    api = make_api(script())
    with pytest.raises(TypeError, match="single string"):
        api.client.presign(EVENT, "abc")


def test_sixty_one_ids_with_one_duplicate_are_accepted(make_api: MakeApi) -> None:
    ids = [f"id-{n}" for n in range(MAX_BATCH)] + ["id-0"]
    api = make_api(script(answer([url(f"{one}.jpg") for one in ids[:MAX_BATCH]])))
    result = api.client.presign(EVENT, ids)
    assert len(result.urls) == MAX_BATCH
    assert len(body_of(api.requests[0])["identifier"]) == MAX_BATCH


def test_url_beats_a_failure_for_the_same_id() -> None:
    page = OriginalsPage.model_validate(
        {"presigned_urls": [url("a.jpg")], "failed_urls": [{"image_id": "a", "error": "e"}]}
    )
    result = reconcile(["a"], [page])
    assert list(result.urls) == ["a"]
    assert result.failed == {}


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(
        st.text(alphabet="abcdef0123456789-g", min_size=1, max_size=12),
        min_size=1,
        max_size=20,
        unique=True,
    ),
    data=st.data(),
)
def test_every_requested_id_lands_in_exactly_one_outcome(ids: list[str], data: Any) -> None:
    outcome = {one: data.draw(st.sampled_from(["url", "failed", "dropped"])) for one in ids}
    page = OriginalsPage.model_validate(
        {
            "presigned_urls": [url(f"{one}.jpg") for one in ids if outcome[one] == "url"],
            "failed_urls": [
                {"image_id": one, "error": "nope"} for one in ids if outcome[one] == "failed"
            ],
        }
    )
    result = reconcile(ids, [page])
    assert set(result.urls) == {one for one in ids if outcome[one] == "url"}
    assert set(result.failed) == {one for one in ids if outcome[one] == "failed"}
    assert result.missing == [one for one in ids if outcome[one] == "dropped"]
