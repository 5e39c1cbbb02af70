"""Selfies: the people to search for, each with an image file read once and checked.

A selfie is checked before any call to 9Pic: it must exist, be a regular file, be non-empty,
fit under the size cap and start with the signature of an image format (JPEG, PNG, GIF, WebP,
HEIC/HEIF or BMP). Its SHA-256 names the search: a changed file is a new search.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass, field
from pathlib import Path

from syncer.errors import ConfigError

MAX_NAME_CHARS = 100

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"heif", b"mif1", b"msf1", b"avif")


@dataclass(frozen=True)
class Person:
    """One person of a sync: a name, their selfie's bytes and whether to fetch their clips."""

    name: str
    filename: str
    content_type: str
    sha256: str
    clips: bool = False
    data: bytes = field(default=b"", repr=False)


def image_type(head: bytes) -> str | None:
    """The MIME type of an image from its first bytes, or None when it is not one we know."""
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/avif" if head[8:12] == b"avif" else "image/heic"
    return None


def check_person_name(name: str, where: str) -> str:
    """``name`` stripped, or ConfigError when it cannot name a person's folder."""
    text = name.strip()
    if not text:
        raise ConfigError(f"{where}: a person's name must not be empty")
    if len(text) > MAX_NAME_CHARS:
        raise ConfigError(
            f"{where}: person {text[:20]!r}... is longer than {MAX_NAME_CHARS} characters"
        )
    return text


def read_person(
    name: str | None, selfie: Path, *, clips: bool, max_bytes: int, where: str
) -> Person:
    """Read and check one selfie; ``name`` defaults to the file's stem."""
    person = check_person_name(selfie.stem if name is None else name, where)
    data = _read_selfie(selfie, max_bytes, f"{where}: selfie of {person!r}")
    kind = image_type(data[:16])
    if kind is None:
        raise ConfigError(
            f"{where}: selfie of {person!r} ({selfie}) is not an image (JPEG, PNG, GIF, WebP, "
            "HEIC or BMP)"
        )
    return Person(
        name=person,
        filename=selfie.name,
        content_type=kind,
        sha256=hashlib.sha256(data).hexdigest(),
        clips=clips,
        data=data,
    )


def _read_selfie(path: Path, max_bytes: int, what: str) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what}: {path} is not a file")
        if info.st_size > max_bytes:
            raise ConfigError(
                f"{what}: {path} has {info.st_size:,} bytes, more than people.max_selfie_size "
                f"({max_bytes:,})"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what}: no such file ({path})") from None
    except PermissionError:
        raise ConfigError(f"{what}: permission denied ({path})") from None
    except OSError as exc:
        reason = (exc.strerror or exc.__class__.__name__).lower()
        raise ConfigError(f"{what}: cannot read {path}: {reason}") from None
    if not data:
        raise ConfigError(f"{what}: {path} is empty")
    if len(data) > max_bytes:
        raise ConfigError(f"{what}: {path} is larger than people.max_selfie_size ({max_bytes:,})")
    return data


def unique_people(people: list[Person]) -> list[Person]:
    """``people`` unchanged; ConfigError when two share a name (ignoring case)."""
    seen: set[str] = set()
    for person in people:
        if person.name.casefold() in seen:
            raise ConfigError(
                f"person {person.name!r} is named twice; give each --person a distinct name"
            )
        seen.add(person.name.casefold())
    return people
