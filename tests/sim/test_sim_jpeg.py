"""The photos are real JPEGs: markers, segment lengths, and an entropy-decodable scan."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass, field

import pytest

from syncer.sim import Simulator
from syncer.sim.jpeg import JpegFactory


@dataclass
class Parsed:
    width: int = 0
    height: int = 0
    components: int = 0
    comments: list[bytes] = field(default_factory=list)
    tables: dict[int, dict[tuple[int, int], int]] = field(default_factory=dict)
    scan: bytes = b""


def _huffman(counts: bytes, symbols: bytes) -> dict[tuple[int, int], int]:
    table: dict[tuple[int, int], int] = {}
    code = index = 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            table[(length, code)] = symbols[index]
            code += 1
            index += 1
        code <<= 1
    return table


def parse(blob: bytes) -> Parsed:
    """Walk the segments of a baseline JPEG (asserting its structure)."""
    assert blob[:3] == b"\xff\xd8\xff"
    assert blob[-2:] == b"\xff\xd9"
    out, pos = Parsed(), 2
    while True:
        marker, length = blob[pos + 1], struct.unpack(">H", blob[pos + 2 : pos + 4])[0]
        assert blob[pos] == 0xFF
        assert length >= 2
        payload = blob[pos + 4 : pos + 2 + length]
        if marker == 0xFE:
            out.comments.append(payload)
        elif marker == 0xC0:
            out.height, out.width = struct.unpack(">HH", payload[1:5])
            out.components = payload[5]
        elif marker == 0xC4:
            rest = payload
            while rest:
                counts = rest[1:17]
                out.tables[rest[0]] = _huffman(counts, rest[17 : 17 + sum(counts)])
                rest = rest[17 + sum(counts) :]
        pos += 2 + length
        if marker == 0xDA:
            out.scan = blob[pos:-2]
            return out


def decode_blocks(parsed: Parsed) -> int:
    """Huffman-decode the whole scan; return the number of 8x8 blocks it holds."""
    data = parsed.scan.replace(b"\xff\x00", b"\xff")
    bits = "".join(f"{b:08b}" for b in data)
    pos = 0

    def symbol(table: dict[tuple[int, int], int]) -> int:
        nonlocal pos
        for length in range(1, 17):
            found = table.get((length, int(bits[pos : pos + length], 2)))
            if found is not None:
                pos += length
                return found
        raise AssertionError(f"no Huffman code at bit {pos}")

    blocks = parsed.width // 8 * (parsed.height // 8) * parsed.components
    for _ in range(blocks):
        category = symbol(parsed.tables[0x00])
        pos += category  # the DC difference's extra bits
        coefficient = 1
        while coefficient < 64:
            run_size = symbol(parsed.tables[0x10])
            if run_size == 0:
                break
            coefficient += (run_size >> 4) + 1
            pos += run_size & 0x0F
    assert set(bits[pos:]) <= {"1"}, "the scan must end with 1-bit padding"
    assert len(bits) - pos < 8, "no whole byte may follow the last block"
    return blocks


@pytest.mark.parametrize("target", [0, 3_000, 20_000, 70_001, 200_000])
def test_files_are_valid_jpegs_near_the_target_size(target: int) -> None:
    factory = JpegFactory(target)
    blob = factory.render(456, "abc-123")
    parsed = parse(blob)
    assert parsed.components == 3
    assert decode_blocks(parsed) == parsed.width * parsed.height * 3 // 64
    assert any(b"abc-123" in c for c in parsed.comments)
    assert all(len(c) <= 65533 for c in parsed.comments)
    if target >= 3_000:
        assert abs(len(blob) - target) <= max(64, target // 20)


def test_photos_are_unique_and_their_checksums_match_the_files(sim: Simulator) -> None:
    photos = sim.photos(456)[:10] + sim.photos(459)[:5]
    digests = set()
    for photo in photos:
        blob = sim.photo_path(photo.event_id, photo.image_id).read_bytes()
        assert len(blob) == photo.size
        assert hashlib.sha256(blob).hexdigest() == photo.sha256
        assert hashlib.md5(blob, usedforsecurity=False).hexdigest() == photo.md5
        parsed = parse(blob)
        assert (parsed.width, parsed.height) == (photo.width, photo.height)
        digests.add(photo.sha256)
    assert len(digests) == len(photos)


def test_pillow_decodes_the_files_when_it_is_installed(sim: Simulator) -> None:
    photo = sim.photos(456)[0]
    blob = sim.photo_path(456, photo.image_id).read_bytes()
    try:
        from PIL import Image
    except ImportError:  # structure is still checked without Pillow
        assert decode_blocks(parse(blob)) > 0
        return
    with Image.open(io.BytesIO(blob)) as image:
        image.load()
        assert image.size == (photo.width, photo.height)
