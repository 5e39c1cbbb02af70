"""The downloader's byte checks: image signatures and the JPEG end marker."""

from __future__ import annotations

import pytest

from syncer.downloader import JPEG_TAIL, EndMarker, looks_like_image

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@pytest.mark.parametrize(
    "head",
    [
        JPEG_HEAD,
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"GIF89a\x01\x00",
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"II*\x00\x08\x00\x00\x00",
        b"\x00\x00\x00\x18ftypheic",
    ],
)
def test_known_image_signatures_pass(head: bytes) -> None:
    assert looks_like_image(head)


@pytest.mark.parametrize(
    "head",
    [b"<!DOCTYPE html>", b"<?xml version=", b'{"responseType"', b"", b"\x00\x01\x02\x03"],
)
def test_error_pages_and_junk_fail(head: bytes) -> None:
    assert not looks_like_image(head)


def feed(*chunks: bytes, expected: int | None = None) -> EndMarker:
    """Feed chunks the way the downloader does: through one reused buffer."""
    marker = EndMarker(expected)
    buffer = bytearray(max(len(c) for c in chunks) + 16)
    for chunk in chunks:
        buffer[: len(chunk)] = chunk
        buffer[len(chunk) :] = b"\xaa" * (len(buffer) - len(chunk))  # stale bytes must not count
        marker.feed(buffer, len(chunk))
    return marker


def test_jpeg_with_end_marker_is_complete() -> None:
    assert feed(JPEG_HEAD, b"\x00" * 1000, b"\x12\x34\xff\xd9").complete()


def test_jpeg_with_trailer_after_the_end_marker_is_complete() -> None:
    assert feed(JPEG_HEAD, b"\xff\xd9" + b"\x00" * 100, b"trailer" * 100).complete()


def test_jpeg_cut_short_is_refused() -> None:
    assert not feed(JPEG_HEAD, b"\x00" * JPEG_TAIL, b"\x55" * 5000).complete()


def test_marker_far_before_the_tail_does_not_count() -> None:
    early = b"\xff\xd9" + b"\x00" * JPEG_TAIL  # e.g. the end of an embedded thumbnail
    assert not feed(JPEG_HEAD, early, b"\x00" * 10).complete()


def test_marker_split_across_two_chunks_counts() -> None:
    assert feed(JPEG_HEAD, b"\x00" * 10 + b"\xff", b"\xd9").complete()


def test_with_a_known_length_only_the_tail_is_searched_and_still_found() -> None:
    body = [JPEG_HEAD, b"\x00" * (3 * JPEG_TAIL), b"\x00" * 100 + b"\xff\xd9"]
    total = sum(len(c) for c in body)
    assert feed(*body, expected=total).complete()
    cut = [JPEG_HEAD, b"\xff\xd9" + b"\x00" * (3 * JPEG_TAIL)]
    assert not feed(*cut, expected=sum(len(c) for c in cut)).complete()
