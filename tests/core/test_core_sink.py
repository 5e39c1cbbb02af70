"""Sink: O_DIRECT writes with a padded tail, and the fall back to buffered writes.

Real files in the test's temp dir; O_DIRECT works on ext4, xfs, btrfs and recent tmpfs.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from syncer.sink import ALIGN, Sink, aligned_buffer

BUFFER = 4 * ALIGN


def body(size: int) -> bytes:
    return bytes((n * 7 + n // 251) % 256 for n in range(size))


def write_in_buffers(path: Path, data: bytes, *, direct: bool) -> Sink:
    """Feed ``data`` the way the downloader does: whole buffers, then one short tail."""
    buffer = aligned_buffer(BUFFER)
    view = memoryview(buffer)
    sink = Sink(path, direct=direct)
    try:
        for start in range(0, len(data), BUFFER):
            chunk = data[start : start + BUFFER]
            view[: len(chunk)] = chunk
            view[len(chunk) :] = b"\xee" * (BUFFER - len(chunk))  # stale bytes past the tail
            sink.write(view, len(chunk))
    finally:
        view.release()
        sink.close()
    return sink


def direct_works(folder: Path) -> bool:
    probe = folder / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()
    return True


@pytest.mark.parametrize(
    "size", [1, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER, BUFFER + 1, 3 * BUFFER + 123]
)
@pytest.mark.parametrize("direct", [True, False])
def test_every_size_lands_byte_exact(tmp_path: Path, size: int, direct: bool) -> None:
    data = body(size)
    sink = write_in_buffers(tmp_path / "photo.part", data, direct=direct)
    assert (tmp_path / "photo.part").read_bytes() == data
    assert sink.size == size


def test_direct_io_is_used_where_the_filesystem_takes_it(tmp_path: Path) -> None:
    if not direct_works(tmp_path):
        pytest.skip(f"the filesystem under {tmp_path} refuses O_DIRECT")
    sink = Sink(tmp_path / "a.part", direct=True)
    try:
        assert sink.direct
        assert fcntl.fcntl(sink.fd, fcntl.F_GETFL) & os.O_DIRECT
        view = memoryview(aligned_buffer(BUFFER))
        sink.write(view, BUFFER)  # whole buffers stay direct
        assert sink.direct
        sink.write(view, 10)  # the padded tail ends direct writes for this file
        assert not sink.direct
        assert os.fstat(sink.fd).st_size == BUFFER + 10
    finally:
        sink.close()


def test_an_unaligned_buffer_falls_back_to_buffered_writes(tmp_path: Path) -> None:
    data = body(2 * BUFFER)
    backing = bytearray(len(data) + 1)
    view = memoryview(backing)[1:]  # one byte off any page boundary: O_DIRECT says EINVAL
    view[:] = data
    sink = Sink(tmp_path / "b.part", direct=True)
    try:
        sink.write(view[:BUFFER], BUFFER)
        sink.write(view[BUFFER:], BUFFER)
        assert not sink.direct
    finally:
        view.release()
        sink.close()
    assert (tmp_path / "b.part").read_bytes() == data


def test_writes_after_a_padded_tail_still_land_in_order(tmp_path: Path) -> None:
    buffer = aligned_buffer(BUFFER)
    view = memoryview(buffer)
    sink = Sink(tmp_path / "c.part", direct=True)
    try:
        view[:5] = b"AAAAA"
        sink.write(view, 5)
        view[:3] = b"BBB"
        sink.write(view, 3)
    finally:
        view.release()
        sink.close()
    assert (tmp_path / "c.part").read_bytes() == b"AAAAABBB"


def test_a_sink_never_opens_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "d.part").write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        Sink(tmp_path / "d.part", direct=True)
    assert (tmp_path / "d.part").read_bytes() == b"keep me"


def test_a_full_disk_is_not_mistaken_for_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink = Sink(tmp_path / "e.part", direct=True)
    monkeypatch.setattr(os, "write", full)
    try:
        with pytest.raises(OSError, match="No space") as caught:
            sink.write(memoryview(aligned_buffer(BUFFER)), BUFFER)
        assert caught.value.errno == errno.ENOSPC
    finally:
        monkeypatch.undo()
        sink.close()


def test_buffer_sizes_must_be_whole_blocks() -> None:
    assert len(aligned_buffer(ALIGN)) == ALIGN
    with pytest.raises(ValueError, match="multiple"):
        aligned_buffer(ALIGN + 1)
    with pytest.raises(ValueError, match="multiple"):
        aligned_buffer(0)
