"""Mapping Download Originals answers back to the image ids that were asked for (§7)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from syncer.api.models import OriginalsPage, PresignedUrl, PresignResult

MAX_BATCH = 60
"""Most ids one presign call accepts: one page of ``original-photos`` at its maximum size."""


def batch_ids(image_ids: Sequence[str]) -> list[str]:
    """``image_ids`` deduplicated in order.

    Raises ValueError unless there are 1 to :data:`MAX_BATCH` distinct non-empty ids.
    """
    if isinstance(image_ids, str):
        raise TypeError("image_ids must be a sequence of ids, not a single string")
    unique = list(dict.fromkeys(image_ids))
    if not 1 <= len(unique) <= MAX_BATCH:
        raise ValueError(f"presign takes 1 to {MAX_BATCH} distinct image ids, got {len(unique)}")
    if any(not isinstance(one, str) or not one for one in unique):
        raise ValueError("every image id must be a non-empty string")
    return unique


def reconcile(requested: Sequence[str], pages: Iterable[OriginalsPage]) -> PresignResult:
    """Sort every requested id into ``urls``, ``failed`` or ``missing``.

    A URL belongs to an id through the item's ``image_id`` key when present, else through its
    file name (stem first, then the full base name). Items that match no requested id are
    ignored; the first URL seen for an id wins, and a URL beats a failure.
    """
    wanted = set(requested)
    urls: dict[str, PresignedUrl] = {}
    failed: dict[str, str] = {}
    for page in pages:
        for item in page.presigned_urls:
            image_id = owner_of(item, wanted)
            if image_id is not None and image_id not in urls:
                urls[image_id] = item
        for failure in page.failed_urls:
            failed_id = failure.image_id
            if failed_id is not None and failed_id in wanted and failed_id not in failed:
                failed[failed_id] = failure.error
    for image_id in urls:
        failed.pop(image_id, None)
    missing = [one for one in requested if one not in urls and one not in failed]
    return PresignResult(urls=urls, failed=failed, missing=missing)


def owner_of(item: PresignedUrl, wanted: set[str]) -> str | None:
    """The requested id ``item`` is for, or None."""
    if item.image_id in wanted:
        return item.image_id
    if not item.filename:
        return None
    name = PurePosixPath(item.filename.replace("\\", "/")).name
    for candidate in (PurePosixPath(name).stem, name):
        if candidate in wanted:
            return candidate
    return None
