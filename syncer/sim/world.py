"""The simulated organisation: keys, events and photos, deterministic from a seed.

All state lives behind one lock; every accessor returns immutable values or copies.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from syncer.errors import ConfigError
from syncer.sim.config import SimConfig
from syncer.sim.datadir import DataDir

MAX_KEYS_PER_ORG = 10
UNCONFIGURED_EVENT_ID = 455
FOREIGN_EVENT_ID = 999
FIRST_EVENT_ID = 456
SPECIAL_BIBS = ("0042", "A-17", "Bx9", "42")
# Organisers' strings that are no safe folder name, or that sanitise to the same one.
ODD_BIBS = ("../../etc", "a/b", "a_b", "Team 7", "..", "50%", "x?y#z")
CAPTURE_SPAN_SECONDS = 4 * 3600
_ALL_ON = ("bib_search", "selfie_search", "video_search", "video_selfie_search", "timeline_search")


@dataclass(frozen=True)
class SimPhoto:
    """One photo as the simulator knows it (the API exposes only part of this)."""

    image_id: str
    event_id: int
    captured_at: float | None
    bibs: tuple[str, ...]
    size: int
    sha256: str
    width: int = 0
    height: int = 0
    md5: str = ""


@dataclass(frozen=True)
class SimEvent:
    """One event; ``flags`` holds ``event_enabled`` and the Event Details feature flags."""

    event_id: int
    name: str | None
    slug: str | None
    date: str | None
    status: str
    configured: bool
    flags: dict[str, bool]
    cover_image: str | None = None


def _flags(*on: str, enabled: bool = True) -> dict[str, bool]:
    names = ("bib_search", "selfie_search", "name_search", *_ALL_ON[2:])
    return {"event_enabled": enabled, **{name: name in on for name in names}}


def _catalogue(count: int) -> list[SimEvent]:
    """The configured events: four fixed kinds first, then plain city runs."""
    fixed = [
        SimEvent(
            456,
            "Mumbai Marathon 2026",
            "mumbai-marathon-2026",
            "2026-01-19T06:00:00",
            "active",
            True,
            _flags(*_ALL_ON),
            "imgs/456/cover.jpg",
        ),
        SimEvent(
            457,
            "Delhi Half Marathon",
            "delhi-half-marathon",
            "2026-03-15T05:30:00",
            "draft",
            True,
            _flags("bib_search", "selfie_search", "timeline_search", enabled=False),
        ),
        SimEvent(458, "Pune Trail Run", None, "2026-02-08T07:00:00", "active", True, _flags()),
        SimEvent(
            459,
            "Zürich Lauf: 10K / Halb?*",
            "zürich-lauf:10k/halb?*",
            "2026-05-30T22:30:00",
            "active",
            True,
            _flags(*_ALL_ON),
        ),
    ]
    extra = [
        SimEvent(
            event_id,
            f"City Run {n}",
            f"city-run-{n}",
            f"2026-{6 + n // 28 % 6:02d}-{1 + n % 28:02d}T07:00:00",
            "active",
            True,
            _flags(*_ALL_ON),
        )
        for n, event_id in enumerate(range(FIRST_EVENT_ID + len(fixed), FIRST_EVENT_ID + count), 1)
    ]
    return (fixed + extra)[:count]


def _start_epoch(event: SimEvent) -> float:
    stamp = event.date or "2026-01-01T06:00:00"
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def sort_key(photo: SimPhoto) -> tuple[bool, float, str]:
    """All Photos order: capture time ascending, no time last, ties by image_id."""
    return (photo.captured_at is None, photo.captured_at or 0.0, photo.image_id)


@dataclass
class _Key:
    org_id: int
    active: bool


class World:
    """Keys, events and photos of one organisation (plus one foreign org for 403 checks)."""

    def __init__(self, config: SimConfig, files: DataDir) -> None:
        self._lock = threading.RLock()
        self._files = files
        self._non_hex = config.non_hex_ids
        self._seed = config.seed
        self._rng = random.Random(f"{config.seed}-mutations")  # noqa: S311 - reproducible data
        self.org_id = config.org_id
        self.foreign_org_id = config.org_id + 1
        self._ids: set[str] = set()
        self._keys: dict[str, _Key] = {config.api_key: _Key(self.org_id, True)}
        self._make_keys(random.Random(f"{config.seed}-keys"))  # noqa: S311 - fake demo keys
        self._events = {e.event_id: e for e in _catalogue(config.events)}
        self._events[UNCONFIGURED_EVENT_ID] = SimEvent(
            UNCONFIGURED_EVENT_ID,
            "Chennai Night Run",
            "chennai-night-run",
            None,
            "draft",
            False,
            _flags(enabled=False),
        )
        self.foreign_event = SimEvent(
            FOREIGN_EVENT_ID,
            "Foreign Org Run",
            "foreign-org-run",
            "2026-04-01T06:00:00",
            "active",
            True,
            _flags(*_ALL_ON),
        )
        self._photos: dict[int, dict[str, SimPhoto]] = {e: {} for e in self._events}
        self._order: dict[int, tuple[SimPhoto, ...]] = {}
        self._bib_index: dict[int, dict[str, list[SimPhoto]]] = {}  # dropped with _order
        for event in self._events.values():
            if event.configured:
                self._populate(event, config.photos_per_event)

    # keys

    def _make_keys(self, rng: random.Random) -> None:
        for active in (True, True, False):
            self._keys[f"k{self.org_id}-{rng.getrandbits(96):024x}"] = _Key(self.org_id, active)
        self.foreign_api_key = f"k{self.foreign_org_id}-{rng.getrandbits(96):024x}"
        self._keys[self.foreign_api_key] = _Key(self.foreign_org_id, True)

    def key_org(self, key: str) -> int | None:
        """The organisation of an active key, else None."""
        with self._lock:
            found = self._keys.get(key)
            return found.org_id if found is not None and found.active else None

    def api_keys(self) -> list[tuple[str, bool]]:
        """(key, active) for every key of the organisation."""
        with self._lock:
            return [(k, v.active) for k, v in self._keys.items() if v.org_id == self.org_id]

    def add_key(self) -> str:
        """Create one more active key (at most 10 per organisation)."""
        with self._lock:
            if len(self.api_keys()) >= MAX_KEYS_PER_ORG:
                raise ConfigError(f"simulator: at most {MAX_KEYS_PER_ORG} keys per organisation")
            key = f"k{self.org_id}-{self._rng.getrandbits(96):024x}"
            self._keys[key] = _Key(self.org_id, True)
            return key

    def revoke_key(self, key: str) -> None:
        """Deactivate a key; the next request with it gets 403."""
        with self._lock:
            if key not in self._keys:
                raise ConfigError("simulator: cannot revoke an unknown key")
            self._keys[key].active = False

    # events

    def events(self) -> list[SimEvent]:
        """Events of the organisation (configured or not), by id."""
        with self._lock:
            return [self._events[k] for k in sorted(self._events)]

    def event(self, event_id: int) -> SimEvent | None:
        """The organisation's event, or the foreign org's one, or None."""
        if event_id == FOREIGN_EVENT_ID:
            return self.foreign_event
        with self._lock:
            return self._events.get(event_id)

    def set_flag(self, event_id: int, flag: str, value: bool) -> None:
        """Switch one Event Details flag (or ``event_enabled``) of a configured event."""
        with self._lock:
            event = self._configured(event_id)
            if flag not in event.flags:
                raise ConfigError(f"simulator: unknown event flag {flag!r}")
            self._events[event_id] = replace(event, flags={**event.flags, flag: value})

    def owner(self, event_id: int) -> int | None:
        """Organisation that owns ``event_id`` (None for ids nobody owns)."""
        if event_id == FOREIGN_EVENT_ID:
            return self.foreign_org_id
        with self._lock:
            return self.org_id if event_id in self._events else None

    # photos

    def photos(self, event_id: int) -> tuple[SimPhoto, ...]:
        """The event's photos in All Photos order (empty for unknown events)."""
        with self._lock:
            if event_id not in self._order:
                self._order[event_id] = tuple(
                    sorted(self._photos.get(event_id, {}).values(), key=sort_key)
                )
            return self._order[event_id]

    def photo(self, event_id: int, image_id: str) -> SimPhoto | None:
        with self._lock:
            return self._photos.get(event_id, {}).get(image_id)

    def by_bib(self, event_id: int, bib: str) -> list[SimPhoto]:
        """Photos tagged with ``bib`` (case-insensitive), in All Photos order."""
        with self._lock:
            index = self._bib_index.get(event_id)
            if index is None:
                index = self._bib_index[event_id] = _index_bibs(self.photos(event_id))
            return list(index.get(bib.casefold(), ()))

    def add_photos(
        self, event_id: int, n: int, *, earlier: bool = False, bibs: Sequence[str] = ()
    ) -> list[SimPhoto]:
        """Add ``n`` photos captured before (``earlier``) or after every timed photo."""
        if n < 0:
            raise ConfigError(f"simulator: cannot add {n} photos")
        with self._lock:
            event = self._configured(event_id)
            times = [p.captured_at for p in self.photos(event_id) if p.captured_at is not None]
            anchor = (min(times) if earlier else max(times)) if times else _start_epoch(event)
            added = []
            for _ in range(n):
                anchor += -self._rng.randint(1, 600) if earlier else self._rng.randint(1, 600)
                added.append(self._add(event_id, self._new_id(self._rng), anchor, tuple(bibs)))
            return added

    def remove_photo(self, event_id: int, image_id: str) -> None:
        """Remove a photo from its event and delete its file."""
        with self._lock:
            self._configured(event_id)
            if self._photos[event_id].pop(image_id, None) is None:
                raise ConfigError(f"simulator: event {event_id} has no photo {image_id}")
            self._forget_order(event_id)
        self._files.delete(event_id, image_id)

    def drift(self, event_id: int, inserts: int, removes: int) -> None:
        """Shift All Photos offsets: remove photos from the first half, insert earlier ones."""
        with self._lock:
            for _ in range(removes):
                current = self.photos(event_id)
                if not current:
                    break
                victim = current[self._rng.randrange(max(1, len(current) // 2))]
                self.remove_photo(event_id, victim.image_id)
            if inserts:
                self.add_photos(event_id, inserts, earlier=True)

    def _configured(self, event_id: int) -> SimEvent:
        event = self._events.get(event_id)
        if event is None or not event.configured:
            raise ConfigError(f"simulator: {event_id} is not a configured event of the org")
        return event

    def _add(
        self, event_id: int, image_id: str, captured_at: float | None, bibs: tuple[str, ...]
    ) -> SimPhoto:
        info = self._files.describe(event_id, image_id)
        photo = SimPhoto(
            image_id,
            event_id,
            captured_at,
            bibs,
            info.size,
            info.sha256,
            info.width,
            info.height,
            info.md5,
        )
        self._photos[event_id][image_id] = photo
        self._forget_order(event_id)
        return photo

    def _forget_order(self, event_id: int) -> None:
        self._order.pop(event_id, None)
        self._bib_index.pop(event_id, None)

    def _populate(self, event: SimEvent, count: int) -> None:
        rng = random.Random(f"{self._seed}-event-{event.event_id}")  # noqa: S311 - test data
        start = _start_epoch(event)
        times: list[float | None] = []
        for index in range(count):
            if index % 7 == 6 and times[-1] is not None:
                times.append(times[-1])  # a deliberate tie, broken by image_id
            else:
                times.append(start + rng.randrange(CAPTURE_SPAN_SECONDS))
        untimed = max(1, round(count * 0.05)) if count >= 5 else 0
        for index in rng.sample(range(count), untimed):
            times[index] = None
        for index, captured_at in enumerate(times):
            self._add(event.event_id, self._new_id(rng), captured_at, _bibs(rng, index))

    def _new_id(self, rng: random.Random) -> str:
        while True:
            text = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if self._non_hex and rng.random() < 0.3:
                chars = list(text)
                for pos in rng.sample([i for i, c in enumerate(chars) if c != "-"], 3):
                    chars[pos] = rng.choice("ghijklmnopqrstuvwxyz")
                text = "".join(chars)
            if text not in self._ids:
                self._ids.add(text)
                return text


def _index_bibs(photos: Sequence[SimPhoto]) -> dict[str, list[SimPhoto]]:
    """Case-folded BIB -> its photos in All Photos order: a search costs no scan."""
    index: dict[str, list[SimPhoto]] = {}
    for photo in photos:
        for bib in {b.casefold() for b in photo.bibs}:
            index.setdefault(bib, []).append(photo)
    return index


def _bibs(rng: random.Random, index: int) -> tuple[str, ...]:
    """0-3 BIBs; the first photos carry the special and odd ones so every event has them."""
    firsts = SPECIAL_BIBS + ODD_BIBS
    chosen: list[str] = [firsts[index]] if index < len(firsts) else []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
        bib = rng.choice(SPECIAL_BIBS) if rng.random() < 0.15 else str(rng.randint(1, 300))
        if len(chosen) < 3 and bib.casefold() not in {b.casefold() for b in chosen}:
            chosen.append(bib)
    return tuple(chosen)
