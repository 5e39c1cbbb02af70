"""Video clip files: small, well-formed ISO base media (MP4) files, a pure function of a name.

A clip is ``ftyp`` (brand ``isom``), ``moov`` holding one ``mvhd`` (the clip's duration) and an
``mdat`` of deterministic filler bytes. Every box length is exact, so a client can check the
signature (``ftyp`` at offset 4) and walk the boxes to the end of the file. It carries no
tracks: enough for a downloader's checks, not a playable video.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator

TIMESCALE = 1000
_FTYP = b"isom" + struct.pack(">I", 512) + b"isom" + b"iso2" + b"mp41"
_UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_HEADERS = 8 * 4 + len(_FTYP) + 100  # four box headers, ftyp payload, mvhd payload


def box(kind: bytes, payload: bytes) -> bytes:
    """One ISO BMFF box: 32-bit size (header included), 4-byte type, payload."""
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _mvhd(duration_ms: int) -> bytes:
    payload = (
        struct.pack(">I", 0)  # version 0, flags 0
        + struct.pack(">IIII", 0, 0, TIMESCALE, duration_ms)  # created, modified, scale, length
        + struct.pack(">IH", 0x10000, 0x100)  # rate 1.0, volume 1.0
        + bytes(10)  # reserved
        + _UNITY_MATRIX
        + bytes(24)  # pre_defined
        + struct.pack(">I", 1)  # next_track_ID
    )
    return box(b"mvhd", payload)


def render_clip(name: str, size: int, duration_seconds: int) -> bytes:
    """The bytes of clip ``name``: exactly ``max(size, header size)`` bytes, always the same."""
    filler = max(0, size - _HEADERS)
    seed = hashlib.sha256(name.encode()).digest()
    data = random.Random(seed).randbytes(filler)  # noqa: S311 - filler bytes, not secrets
    return (
        box(b"ftyp", _FTYP) + box(b"moov", _mvhd(duration_seconds * TIMESCALE)) + box(b"mdat", data)
    )


def boxes(blob: bytes) -> Iterator[tuple[bytes, int]]:
    """(type, size) of each top-level box; ValueError when a length does not add up."""
    offset = 0
    while offset < len(blob):
        if len(blob) - offset < 8:
            raise ValueError(f"truncated box header at {offset}")
        size, kind = struct.unpack(">I4s", blob[offset : offset + 8])
        if size < 8 or offset + size > len(blob):
            raise ValueError(f"box {kind!r} at {offset} claims {size} bytes")
        yield kind, size
        offset += size
