"""Selfie searches (FaceFind) and video clipping jobs (Motion), cached by ``request_id``.

Matching is a deterministic pseudo-match: a photo matches a selfie when a hash of both falls
under a threshold, so the same selfie always finds the same photos.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from dataclasses import dataclass

from syncer.sim.world import World

CONFIDENCE_PERCENTAGE = 80
_MATCH_THRESHOLD = 40  # out of 256: about 15% of the photos match any given selfie


@dataclass
class FaceSearch:
    """One cached selfie search."""

    request_id: str
    event_id: int
    image_ids: tuple[str, ...]


@dataclass
class ClipJob:
    """One video clipping job; ``polls`` counts status requests so far."""

    request_id: str
    event_id: int
    matches: int
    polls: int = 0


def valid_request_id(text: str) -> bool:
    """A request_id must be a UUID (any version, any case)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class SelfieStore:
    """Face search results and clip jobs, per (event, request_id)."""

    def __init__(self, world: World, seed: int) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}-requests")  # noqa: S311 - reproducible ids, not secrets
        self._faces: dict[tuple[int, str], FaceSearch] = {}
        self._clips: dict[tuple[int, str], ClipJob] = {}

    def new_request_id(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def face(self, event_id: int, request_id: str) -> FaceSearch | None:
        with self._lock:
            return self._faces.get((event_id, request_id.lower()))

    def match(self, event_id: int, selfie: bytes, request_id: str | None) -> FaceSearch:
        """Run matching for a new selfie and cache it under ``request_id`` (or a new one)."""
        request_id = (request_id or self.new_request_id()).lower()
        digest = hashlib.sha256(selfie).digest()
        found = tuple(
            p.image_id
            for p in self._world.photos(event_id)
            if hashlib.sha256(digest + p.image_id.encode()).digest()[0] < _MATCH_THRESHOLD
        )
        search = FaceSearch(request_id, event_id, found)
        with self._lock:
            self._faces[(event_id, request_id)] = search
        return search

    def live_matches(self, search: FaceSearch) -> list[str]:
        """The matched ids that still exist, in All Photos order."""
        wanted = set(search.image_ids)
        return [p.image_id for p in self._world.photos(search.event_id) if p.image_id in wanted]

    def start_clip(self, search: FaceSearch) -> ClipJob:
        """Create (or return the existing) clipping job for a selfie search."""
        key = (search.event_id, search.request_id)
        with self._lock:
            job = self._clips.get(key)
            if job is None:
                job = ClipJob(search.request_id, search.event_id, len(search.image_ids))
                self._clips[key] = job
            return job

    def poll_clip(self, event_id: int, request_id: str) -> ClipJob | None:
        """Count one poll of a job and return it (None when unknown)."""
        with self._lock:
            job = self._clips.get((event_id, request_id.lower()))
            if job is not None:
                job.polls += 1
            return job


def clip_state(job: ClipJob, polls_needed: int, fail: bool, clip_base: str) -> dict[str, object]:
    """Job state after ``job.polls`` polls: pending, processing, then completed or failed."""
    if job.polls >= polls_needed:
        status = "failed" if fail else "completed"
    else:
        status = "pending" if job.polls <= 1 else "processing"
    clips: list[dict[str, object]] = []
    if status == "completed":
        count = 1 + int(job.request_id.replace("-", "")[:2], 16) % 3
        clips = [
            {
                "clip_url": f"{clip_base}/clips/{job.event_id}/{job.request_id}/{n}.mp4",
                "source_video": f"camera-{n + 1}.mp4",
                "start_seconds": 30 * n + 12,
                "duration_seconds": 8,
            }
            for n in range(count)
        ]
    return {
        "request_id": job.request_id,
        "status": status,
        "clips": clips,
        "error": "Clip generation failed" if status == "failed" else None,
    }
