"""Typed client of the 9Pic ``ext`` REST API and of the presigned storage host."""

from syncer.api.client import ApiClient, OriginalsMethod
from syncer.api.limiter import AdaptiveLimiter
from syncer.api.models import (
    ClipJob,
    EventDetails,
    EventItem,
    FaceSearchResult,
    FailedUrl,
    ImageItem,
    OriginalsPage,
    Page,
    Pagination,
    Ping,
    PresignedUrl,
    PresignResult,
    TimelineDay,
    TimelineHour,
)
from syncer.api.presign import MAX_BATCH
from syncer.api.requester import Observer
from syncer.api.retry import RetryPolicy, backoff, parse_retry_after
from syncer.api.storage import StorageClient, redact_url

__all__ = [
    "MAX_BATCH",
    "AdaptiveLimiter",
    "ApiClient",
    "ClipJob",
    "EventDetails",
    "EventItem",
    "FaceSearchResult",
    "FailedUrl",
    "ImageItem",
    "Observer",
    "OriginalsMethod",
    "OriginalsPage",
    "Page",
    "Pagination",
    "Ping",
    "PresignResult",
    "PresignedUrl",
    "RetryPolicy",
    "StorageClient",
    "TimelineDay",
    "TimelineHour",
    "backoff",
    "parse_retry_after",
    "redact_url",
]
