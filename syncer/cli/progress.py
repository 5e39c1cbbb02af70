"""tqdm progress bars on a terminal; nothing otherwise (log lines carry the story)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from tqdm import tqdm

from syncer.sync import Progress


class BarProgress(Progress):
    """Walk: images listed; download: files and bytes with rate and ETA."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._walk: tqdm[Any] | None = None
        self._files: tqdm[Any] | None = None
        self._bytes: tqdm[Any] | None = None

    def walk_page(self, event_id: int, images: int) -> None:
        walk = self._walk
        if walk is None:
            walk = self._walk = tqdm(
                desc=f"walk {event_id}",
                unit=" photos",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )
        walk.update(images)

    def downloads(self, event_id: int, files: int) -> None:
        self._close_walk()
        self._close_downloads()
        self._files = tqdm(
            total=files,
            desc=f"event {event_id}",
            unit=" files",
            file=sys.stderr,
            dynamic_ncols=True,
            position=0,
        )
        self._bytes = tqdm(
            desc="bytes",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            dynamic_ncols=True,
            position=1,
            leave=False,
        )

    def bytes(self, count: int) -> None:
        if self._bytes is not None:
            with self._lock:
                self._bytes.update(count)

    def file_done(self, ok: bool) -> None:
        if self._files is not None:
            self._files.update(1)

    def close(self) -> None:
        self._close_walk()
        self._close_downloads()

    def _close_walk(self) -> None:
        if self._walk is not None:
            self._walk.close()
            self._walk = None

    def _close_downloads(self) -> None:
        for bar in (self._bytes, self._files):
            if bar is not None:
                bar.close()
        self._files = self._bytes = None
