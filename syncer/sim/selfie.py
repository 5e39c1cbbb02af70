"""Selfie searches (FaceFind) and video clipping jobs (Motion), cached by ``request_id``.

Matching is deterministic, from the selfie's bytes alone:

* A selfie carrying BIB markers matches exactly the photos tagged with those BIBs
  (case-insensitive, like BIB Search). A marker is the ASCII text ``9PIC-BIB:<bib>;`` anywhere
  in the file, e.g. in a JPEG comment; several markers match the union. :func:`selfie_jpeg`
  makes such a selfie. A marker naming a BIB nobody wears matches nothing.
* Any other selfie pseudo-matches about 15% of the photos: those where a hash of the selfie
  and the image id falls under a threshold. The same bytes always find the same photos.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from syncer.sim.faults import Faults
from syncer.sim.jpeg import SOI, JpegFactory
from syncer.sim.mp4 import render_clip
from syncer.sim.world import World

CONFIDENCE_PERCENTAGE = 80
_MATCH_THRESHOLD = 40  # out of 256: about 15% of the photos match any given selfie
BIB_MARKER = re.compile(rb"9PIC-BIB:([^;\x00\r\n]{1,64});")
CLIP_SECONDS = 8


def bib_marker(bib: str) -> bytes:
    """The marker that makes a selfie match the photos of ``bib``."""
    return f"9PIC-BIB:{bib};".encode()


def selfie_jpeg(bibs: Sequence[str] = (), *, size: int = 4_000) -> bytes:
    """A small valid JPEG selfie whose comment carries a marker per BIB (see module doc)."""
    photo = JpegFactory(size).render(0, "selfie-" + "-".join(bibs))
    markers = b"".join(bib_marker(bib) for bib in bibs)
    comment = (b"9Pic simulator selfie " + markers) if markers else b"9Pic simulator selfie"
    return SOI + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + photo[2:]


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

    @property
    def clip_count(self) -> int:
        """Clips the finished job yields: none without a match, else 1-3 (from the id)."""
        return 0 if not self.matches else 1 + int(self.request_id.replace("-", "")[:2], 16) % 3

    def clip_path(self, n: int) -> str:
        """Path of clip ``n`` below the simulator's base URL (no signature: clips are public)."""
        return f"clips/{self.event_id}/{self.request_id}/{n}.mp4"

    def status(self, polls_needed: int, *, fail: bool, stuck: bool) -> str:
        """pending (first poll), processing, then completed or failed after ``polls_needed``;
        ``stuck`` keeps it processing forever."""
        if self.polls >= polls_needed and not stuck:
            return "failed" if fail else "completed"
        return "pending" if self.polls <= 1 else "processing"


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
        bibs = [m.decode(errors="replace") for m in BIB_MARKER.findall(selfie)]
        if bibs:
            tagged = {p.image_id for bib in bibs for p in self._world.by_bib(event_id, bib)}
            found = tuple(p.image_id for p in self._world.photos(event_id) if p.image_id in tagged)
        else:
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

    def forget_searches(self) -> None:
        """Forget every face search, as a server with a short retention would."""
        with self._lock:
            self._faces.clear()

    def forget_clips(self) -> None:
        """Forget every clipping job, as a server with a short retention would."""
        with self._lock:
            self._clips.clear()

    def clip_job(self, event_id: int, request_id: str) -> ClipJob | None:
        """A job as it stands (no poll counted)."""
        with self._lock:
            return self._clips.get((event_id, request_id.lower()))

    def poll_clip(self, event_id: int, request_id: str) -> ClipJob | None:
        """Count one poll of a job and return it (None when unknown)."""
        with self._lock:
            job = self._clips.get((event_id, request_id.lower()))
            if job is not None:
                job.polls += 1
            return job


def clip_state(
    job: ClipJob, polls_needed: int, *, fail: bool, stuck: bool, base_url: str
) -> dict[str, object]:
    """The job as a poll answers it; a completed job lists its public clip URLs."""
    status = job.status(polls_needed, fail=fail, stuck=stuck)
    clips: list[dict[str, object]] = []
    if status == "completed":
        clips = [
            {
                "clip_url": f"{base_url}/{job.clip_path(n)}",
                "source_video": f"camera-{n + 1}.mp4",
                "start_seconds": 30 * n + 12,
                "duration_seconds": CLIP_SECONDS,
            }
            for n in range(job.clip_count)
        ]
    return {
        "request_id": job.request_id,
        "status": status,
        "clips": clips,
        "error": "Clip generation failed" if status == "failed" else None,
    }


_CLIP_PATH = re.compile(r"^clips/(\d{1,12})/([0-9a-f-]{36})/(\d{1,2})\.mp4$")


class ClipFiles:
    """The clip files of finished jobs, as the storage route serves them (public, unsigned)."""

    def __init__(self, store: SelfieStore, faults: Faults, clip_bytes: int) -> None:
        self._store = store
        self._faults = faults
        self._size = clip_bytes

    def clip_bytes(self, clip: str) -> bytes | None:
        """The bytes of ``clips/<event>/<request_id>/<n>.mp4``; None unless its job completed."""
        found = _CLIP_PATH.match(clip)
        if found is None:
            return None
        job = self._store.clip_job(int(found[1]), found[2])
        faults = self._faults
        if job is None or int(found[3]) >= job.clip_count:
            return None
        status = job.status(
            faults.clip_polls, fail=faults.clip_fail, stuck=faults.clip_never_finishes
        )
        if status != "completed":
            return None
        return render_clip(clip, self._size + 997 * int(found[3]), CLIP_SECONDS)
