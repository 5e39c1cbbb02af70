"""Real, valid, unique baseline JPEG files of a chosen approximate size, without Pillow.

Each file is a tiny colour image (a few dozen 8x8 blocks, DC coefficients only) padded to the
target size with COM segments. The layout puts everything shared by all photos first, so the
padding is written from one pre-built buffer and its hash state is computed once:

    SOI APP0(JFIF) DQT DHT COM(padding)...   <- common prefix, identical for every photo
    COM(photo id + filler) SOF0 SOS scan EOI <- per photo tail (a few kilobytes at most)
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import struct
from dataclasses import dataclass
from pathlib import Path

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
MAX_SEGMENT_PAYLOAD = 65533  # a segment length field counts itself: 65535 - 2
_RESERVE = 16_384  # bytes left out of the common padding for the per-photo tail
_DIMENSIONS = ((96, 64), (64, 96), (80, 80))  # (width, height), multiples of 8
_HUES = 24

# Standard luminance DC table (ITU T.81 Annex K.3), shared by all three components.
_DC_COUNTS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_SYMBOLS = tuple(range(12))
# Minimal AC table: every block ends right after its DC coefficient (symbol 0x00 = EOB).
_AC_COUNTS = (0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_AC_SYMBOLS = (0x00, 0x01)


@dataclass(frozen=True)
class JpegInfo:
    """What is known about one written file."""

    size: int
    sha256: str
    md5: str
    width: int
    height: int


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _canonical_codes(
    counts: tuple[int, ...], symbols: tuple[int, ...]
) -> dict[int, tuple[int, int]]:
    """Map symbol -> (code, length) for a canonical Huffman table."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    index = 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            codes[symbols[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_COUNTS, _DC_SYMBOLS)
_EOB = _canonical_codes(_AC_COUNTS, _AC_SYMBOLS)[0x00]


def _header() -> bytes:
    jfif = b"JFIF\x00" + bytes((1, 1, 0, 0, 1, 0, 1, 0, 0))
    dqt = bytes((0x00,)) + bytes([1] * 64)
    dht = (
        bytes((0x00,))
        + bytes(_DC_COUNTS)
        + bytes(_DC_SYMBOLS)
        + bytes((0x10,))
        + bytes(_AC_COUNTS)
        + bytes(_AC_SYMBOLS)
    )
    return SOI + _segment(0xE0, jfif) + _segment(0xDB, dqt) + _segment(0xC4, dht)


class _BitWriter:
    def __init__(self) -> None:
        self._acc = 0
        self._bits = 0
        self._out = bytearray()

    def put(self, code: int, length: int) -> None:
        self._acc = (self._acc << length) | code
        self._bits += length
        while self._bits >= 8:
            self._bits -= 8
            byte = (self._acc >> self._bits) & 0xFF
            self._out.append(byte)
            if byte == 0xFF:
                self._out.append(0x00)  # byte stuffing
        self._acc &= (1 << self._bits) - 1

    def finish(self) -> bytes:
        if self._bits:
            pad = 8 - self._bits
            self.put((1 << pad) - 1, pad)
        return bytes(self._out)


def _put_dc(writer: _BitWriter, diff: int) -> None:
    category = abs(diff).bit_length()
    code, length = _DC_CODES[category]
    writer.put(code, length)
    if category:
        extra = diff if diff >= 0 else diff + (1 << category) - 1
        writer.put(extra, category)
    writer.put(*_EOB)


def _colour(hue: int) -> tuple[int, int]:
    angle = 2 * math.pi * hue / _HUES
    return 128 + round(60 * math.cos(angle)), 128 + round(60 * math.sin(angle))


@functools.lru_cache(maxsize=_HUES * len(_DIMENSIONS))
def _scan(width: int, height: int, hue: int) -> bytes:
    """Entropy-coded scan: a vertical luminance gradient on a per-hue chroma."""
    cb, cr = _colour(hue)
    rows, cols = height // 8, width // 8
    writer = _BitWriter()
    previous = [0, 0, 0]
    for row in range(rows):
        luma = 40 + (170 * row) // max(1, rows - 1)
        for _ in range(cols):
            for component, value in enumerate((luma, cb, cr)):
                dc = 8 * (value - 128)  # DCT of a flat block, quantiser 1
                _put_dc(writer, dc - previous[component])
                previous[component] = dc
    return writer.finish()


def _frame(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes((1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0))
    sos = bytes((3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0))
    return _segment(0xC0, sof) + _segment(0xDA, sos)


def _padding(total: int) -> bytes:
    """COM segments adding up to exactly ``total`` bytes (``total`` is 0 or >= 4)."""
    filler = random.Random(20_260_119).randbytes(MAX_SEGMENT_PAYLOAD)  # noqa: S311 - filler bytes
    full = _segment(0xFE, filler)
    count, rest = divmod(total, len(full))
    if 0 < rest < 4:  # a segment is at least 4 bytes: shorten the last full one
        count -= 1
        rest += len(full)
        tail = _segment(0xFE, filler[: rest - 4 - 4]) + _segment(0xFE, b"")
        return full * count + tail
    return full * count + (_segment(0xFE, filler[: rest - 4]) if rest else b"")


def _digest(image_id: str, event_id: int) -> bytes:
    return hashlib.sha256(f"{event_id}/{image_id}".encode()).digest()


class JpegFactory:
    """Writes photos of about ``target_bytes`` each; the content depends only on the ids."""

    def __init__(self, target_bytes: int) -> None:
        self.target_bytes = target_bytes
        self._jitter = min(4096, target_bytes // 20)
        common = max(0, target_bytes - self._jitter - _RESERVE)
        self._prefix = _header() + _padding(common if common >= 4 else 0)
        self._sha = hashlib.sha256(self._prefix)
        self._md5 = hashlib.md5(self._prefix, usedforsecurity=False)

    def tail(self, event_id: int, image_id: str) -> tuple[bytes, int, int]:
        """The per-photo bytes after the common prefix, with the image's width and height."""
        digest = _digest(image_id, event_id)
        width, height = _DIMENSIONS[digest[0] % len(_DIMENSIONS)]
        body = _frame(width, height) + _scan(width, height, digest[1] % _HUES) + EOI
        spread = int.from_bytes(digest[2:4], "big") % (2 * self._jitter + 1) - self._jitter
        target = self.target_bytes + spread
        text = f"9Pic simulator photo {image_id} event {event_id}".encode()
        fill = target - len(self._prefix) - len(body) - 4 - len(text)
        comment = text + b"." * min(max(0, fill), MAX_SEGMENT_PAYLOAD - len(text))
        return _segment(0xFE, comment) + body, width, height

    def info(self, event_id: int, image_id: str) -> JpegInfo:
        """Size, checksums and dimensions of the photo, without writing it."""
        tail, width, height = self.tail(event_id, image_id)
        sha = self._sha.copy()
        sha.update(tail)
        md5 = self._md5.copy()
        md5.update(tail)
        size = len(self._prefix) + len(tail)
        return JpegInfo(size, sha.hexdigest(), md5.hexdigest(), width, height)

    def write(self, path: Path, event_id: int, image_id: str) -> None:
        """Write the photo to ``path``, replacing any file there."""
        with path.open("wb") as handle:
            handle.write(self._prefix)
            handle.write(self.tail(event_id, image_id)[0])

    def parts(self, event_id: int, image_id: str) -> tuple[bytes, bytes]:
        """The file content as (shared prefix, per-photo tail), without copying the prefix."""
        return self._prefix, self.tail(event_id, image_id)[0]

    def render(self, event_id: int, image_id: str) -> bytes:
        """The complete file content in memory (for small files and tests)."""
        return self._prefix + self.tail(event_id, image_id)[0]
