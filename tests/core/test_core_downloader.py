"""The downloader's byte checks: image signatures and the JPEG end marker."""

from __future__ import annotations

import pytest

from syncer.downloader import JPEG_TAIL, _check_complete, looks_like_image
from syncer.errors import IntegrityError

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


def test_jpeg_with_end_marker_is_complete() -> None:
    _check_complete(JPEG_HEAD, b"\x00" * 1000, b"\x12\x34\xff\xd9")


def test_jpeg_with_trailer_after_the_end_marker_is_complete() -> None:
    _check_complete(JPEG_HEAD, b"\xff\xd9" + b"\x00" * 100, b"trailer" * 100)


def test_jpeg_cut_short_is_refused() -> None:
    with pytest.raises(IntegrityError, match="end marker"):
        _check_complete(JPEG_HEAD, b"\x00" * JPEG_TAIL, b"\x55" * 5000)


def test_marker_far_before_the_tail_does_not_count() -> None:
    early = b"\xff\xd9" + b"\x00" * JPEG_TAIL  # e.g. the end of an embedded thumbnail
    with pytest.raises(IntegrityError):
        _check_complete(JPEG_HEAD, early, b"\x00" * 10)


def test_marker_split_across_two_chunks_counts() -> None:
    _check_complete(JPEG_HEAD, b"\x00" * 10 + b"\xff", b"\xd9")


def test_other_formats_are_not_checked_for_a_jpeg_marker() -> None:
    _check_complete(b"\x89PNG\r\n\x1a\n", b"", b"\x00" * 10)
