"""Motion clips: one video clipping job per person, polled, its clips stored and verified.

The job starts from the person's finished selfie search (its ``request_id``: no second
upload). Its ``request_id`` is kept in the ledger while it runs, so a run that stops (a
deadline, a kill) polls the same job next time instead of starting another. Each clip URL is
public: it is fetched with the storage client, which never sends the API key. A clip is
written to a temp file, checked (``Content-Length``, the MP4 ``ftyp`` box at offset 4),
fsynced and renamed into place, then recorded; a rerun fetches only clips not recorded yet,
and clips whose files went missing (deleted by hand, or set aside by ``verify --repair``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from syncer.api import ApiClient, ClipJob, EventDetails, StorageClient, redact_url
from syncer.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    DiskFullError,
    NotFoundError,
    StorageError,
    TransferError,
)
from syncer.layout import NameRules, sanitize_component
from syncer.ledger import Ledger, PersonSearch
from syncer.placement import Placer, is_regular_file
from syncer.report import PersonReport
from syncer.root import TEMP_SUFFIX
from syncer.selfies import Person

log = logging.getLogger("syncer.clips")

POLL_FIRST = 2.0  # seconds before the second poll, doubling up to POLL_MAX
POLL_MAX = 30.0
CLIP_TRIES = 3  # tries per clip within a run (the job is polled again for fresh URLs)
_DONE = frozenset({"completed", "done", "success", "succeeded", "finished"})
RECHECK = "recheck"  # a finished job whose clips are fetched again where their files went
_BUFFER = 256 * 1024


class ClipError(Exception):
    """This person's clips could not be completed in this run; tried again next run."""


class SearchForgottenError(ClipError):
    """9Pic no longer knows the selfie search a clipping job would start from."""


@dataclass(frozen=True)
class Clip:
    """One clip a finished job lists: a safe file name and its public URL."""

    name: str
    url: str


def clips_of(job: ClipJob, rules: NameRules) -> list[Clip]:
    """The clips of a finished job, whatever the (undocumented) field names look like.

    Each entry of ``clips`` (or ``videos``/``results``) is a URL or an object with ``clip_url``,
    ``url`` or ``video_url``. Its name is ``name``/``clip_name``/``filename`` when given, else
    the source video's stem and the clip's start (``camera-1_12s.mp4``), else the URL's last
    path segment; always one safe file name ending in ``.mp4`` unless it has an extension.
    """
    raw = job.raw
    lists = (raw[k] for k in ("clips", "videos", "results") if isinstance(raw.get(k), list))
    items: list[Any] = next(lists, [])
    found: list[Clip] = []
    for item in items:
        url = item if isinstance(item, str) else _first_text(item, ("clip_url", "url", "video_url"))
        if url:
            found.append(Clip(_clip_name(item, url, rules), url))
    return found


def _first_text(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict):
        return None
    return next((str(item[k]) for k in keys if isinstance(item.get(k), str) and item[k]), None)


def _clip_name(item: Any, url: str, rules: NameRules) -> str:
    name = _first_text(item, ("name", "clip_name", "filename"))
    source = _first_text(item, ("source_video",))
    start = item.get("start_seconds") if isinstance(item, dict) else None
    if name is None and source is not None and isinstance(start, int | float):
        name = f"{PurePosixPath(source).stem}_{start:g}s.mp4"
    if name is None:
        name = PurePosixPath(urlsplit(url).path).name or "clip.mp4"
    if "." not in name.lstrip("."):
        name += ".mp4"
    return sanitize_component(name, rules)


class ClipFetcher:
    """Starts or resumes a person's clipping job, waits for it and stores its clips."""

    def __init__(
        self,
        api: ApiClient,
        ledger: Ledger,
        storage: StorageClient,
        temp_dir: Path,
        *,
        deadline: float,
        clock: Callable[[], datetime],
        stop: threading.Event,
        fsync: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,  # True: stop asked (default: stop.wait)
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._storage = storage
        self._temp_dir = temp_dir
        self._deadline = deadline
        self._clock = clock
        self._stop = stop
        self._fsync = fsync
        self._monotonic = monotonic
        self._wait_for = wait or stop.wait

    def run(
        self,
        placer: Placer,
        person: Person,
        details: EventDetails,
        report: PersonReport,
        *,
        check_files: bool = True,
    ) -> bool:
        """Fetch the person's clips when due; a failure is recorded in ``report``.

        ``check_files``: clips whose files are gone from the disk are fetched again, from the
        same finished job. Returns True when 9Pic no longer knows the person's selfie search
        (how long it keeps one is undocumented): search again, then call this again."""
        event_id = placer.event.event_id
        if not (details.video_search and details.video_selfie_search):
            log.warning(
                "event %d: video clipping by selfie is disabled for this event; no clips for %s",
                event_id,
                person.name,
            )
            return False
        search = self._ledger.person_search(event_id, person.name, person.sha256)
        if search is None or search.covered_mark is None:
            return False  # no finished selfie search to clip from: its failure is reported
        if search.clip_state == "done" and search.clip_source == search.request_id:
            if not (check_files and self._files_gone(placer, search)):
                return False
            search = replace(search, clip_state=RECHECK)
        try:
            report.clips = self._fetch(placer, search)
        except AuthError:
            raise
        except SearchForgottenError as exc:
            log.info("event %d: person %s: %s", event_id, person.name, exc)
            return True
        except (ApiError, ClipError) as exc:
            report.error = f"clips: {exc.message if isinstance(exc, ApiError) else exc}"
            log.error(  # noqa: TRY400 (an expected failure: one line)
                "event %d: person %s: %s; tried again next run",
                event_id,
                person.name,
                report.error,
            )
        return False

    def _gone(self, placer: Placer, search: PersonSearch) -> list[str]:
        """The person's recorded clips whose files are no longer on disk."""
        files = self._ledger.clip_files(search.event_id, search.person)
        return sorted(name for name, rel in files.items() if not is_regular_file(placer.path(rel)))

    def _files_gone(self, placer: Placer, search: PersonSearch) -> bool:
        gone = self._gone(placer, search)
        if gone:
            log.warning(
                "event %d: person %s: %d clips missing on disk (%s); fetching them again",
                search.event_id,
                search.person,
                len(gone),
                ", ".join(gone[:3]) + (", ..." if len(gone) > 3 else ""),
            )
        return bool(gone)

    def _fetch(self, placer: Placer, search: PersonSearch) -> int:
        event_id = placer.event.event_id
        job_id, job = _resumed(search), None
        if job_id is not None:
            try:
                job = self._wait(event_id, job_id)
            except NotFoundError:  # 9Pic keeps jobs for an undocumented while
                log.info("clipping job %s is not known to 9Pic any more", job_id)
        if job_id is None or job is None:
            job_id = self._start(event_id, search)
            job = self._wait(event_id, job_id)
        if (job.status or "").strip().lower() not in _DONE:
            error = str(job.raw.get("error") or job.status)
            self._ledger.set_clip_job(
                search, request_id=None, source=search.request_id, state="failed", error=error
            )
            raise ClipError(f"clipping job {job_id} ended {job.status}: {error}")
        stored = self._store_all(placer, search, job_id, job)
        self._ledger.set_clip_job(search, request_id=job_id, source=search.request_id, state="done")
        return stored

    def _start(self, event_id: int, search: PersonSearch) -> str:
        """Start a job from the person's search; SearchForgottenError when 9Pic no longer
        knows that search."""
        try:
            started = self._api.start_clip(event_id, request_id=search.request_id)
        except (NotFoundError, BadRequestError) as exc:
            raise SearchForgottenError(
                f"9Pic no longer knows the selfie search {search.request_id} to clip from "
                f"({exc.api_message or exc.message}); searching again"
            ) from None
        job_id = started.request_id or search.request_id
        self._ledger.set_clip_job(
            search, request_id=job_id, source=search.request_id, state="running"
        )
        log.info("event %d: person %s: clipping job %s started", event_id, search.person, job_id)
        return job_id

    def _wait(self, event_id: int, job_id: str) -> ClipJob:
        """Poll until the job ends: 2 s rising to 30 s between polls, up to the deadline."""
        started = self._monotonic()
        delay = POLL_FIRST
        while True:
            job = self._api.clip(event_id, job_id)
            if job.terminal:
                return job
            waited = self._monotonic() - started
            if waited + delay > self._deadline:
                raise ClipError(
                    f"clipping job {job_id} still {job.status or 'unfinished'} after "
                    f"{waited:.0f} s (people.clip_deadline); polled again next run"
                )
            if self._wait_for(delay):
                raise ClipError(f"stopped while clipping job {job_id} was running")
            delay = min(delay * 2, POLL_MAX)

    def _store_all(self, placer: Placer, search: PersonSearch, job_id: str, job: ClipJob) -> int:
        event_id = placer.event.event_id
        files = self._ledger.clip_files(event_id, search.person)
        have = set(files) - set(self._gone(placer, search))  # stored, files still there
        folder = PurePosixPath(placer.person_path(search.person, "clip")).parent / "clips"
        stored = 0
        for clip in clips_of(job, placer.rules):
            if clip.name in have:
                continue
            rel = str(folder / clip.name)
            size, digest = self._fetch_clip(event_id, job_id, clip, rel, placer)
            self._ledger.record_clip(
                event_id, search.person, clip.name, rel, size, digest, self._clock()
            )
            stored += 1
        return stored

    def _fetch_clip(
        self, event_id: int, job_id: str, clip: Clip, rel: str, placer: Placer
    ) -> tuple[int, str]:
        """Store one clip, polling the job again for a fresh URL after a failed try."""
        url, target = clip.url, placer.path(rel)
        for attempt in range(1, CLIP_TRIES + 1):
            if self._stop.is_set():
                raise ClipError("stopped during the clip downloads")
            try:
                return self._download(url, target)
            except TransferError as exc:
                log.warning("clip %s: try %d of %d failed: %s", clip.name, attempt, CLIP_TRIES, exc)
                if attempt == CLIP_TRIES:
                    raise ClipError(f"clip {clip.name} failed: {exc}") from None
                job = self._api.clip(event_id, job_id)
                fresh = {c.name: c.url for c in clips_of(job, placer.rules)}
                url = fresh.get(clip.name, url)
        raise ClipError(f"clip {clip.name} failed")  # not reached

    def _download(self, url: str, target: Path) -> tuple[int, str]:
        """Fetch one clip into ``target`` atomically; TransferError when it does not verify."""
        temp = self._temp_dir / f"{uuid.uuid4().hex}{TEMP_SUFFIX}"
        try:
            size, digest = self._write(url, temp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        except OSError as exc:
            if exc.errno in {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}:
                raise DiskFullError(f"cannot store clip {target.name}: the disk is full") from exc
            raise StorageError(f"cannot store clip {target.name}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return size, digest

    def _write(self, url: str, temp: Path) -> tuple[int, str]:
        hasher = hashlib.sha256()
        size = 0
        head = b""
        with self._storage.get(url) as response, temp.open("wb") as out:
            expected = _length(response.headers.get("content-length"))
            for chunk in response.chunks(bytearray(_BUFFER)):
                if len(head) < 8:
                    head += bytes(chunk[: 8 - len(head)])
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if self._stop.is_set():
                    raise TransferError("stopped during the clip download")
            if expected is not None and size != expected:
                raise TransferError(f"clip has {size} bytes, Content-Length said {expected}")
            if head[4:8] != b"ftyp":
                raise TransferError(f"{redact_url(url)} is not an MP4 file (no ftyp box)")
            out.flush()
            if self._fsync:
                os.fsync(out.fileno())
        return size, hasher.hexdigest()


def _resumed(search: PersonSearch) -> str | None:
    """The job to poll again: one still running, or the finished one of this very search whose
    clips are to be fetched again."""
    if search.clip_state == "running":
        return search.clip_request_id
    if search.clip_state == RECHECK and search.clip_source == search.request_id:
        return search.clip_request_id
    return None


def _length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise TransferError(f"bad Content-Length {value[:40]!r}") from None
