"""The photo root's guards that need no simulator: network ledgers, free space, probes."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import root
from syncer.errors import DiskFullError, RootUnavailableError


def test_ledger_on_a_network_filesystem_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(root, "filesystem_type", lambda path: "nfs4")
    root.warn_if_network_ledger(tmp_path / "ledger.sqlite3")
    assert "network filesystem (nfs4)" in caplog.text


def test_ledger_on_a_local_filesystem_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root.warn_if_network_ledger(tmp_path / "ledger.sqlite3")  # the real findmnt answer
    assert "network filesystem" not in caplog.text


def test_filesystem_type_of_a_real_folder(tmp_path: Path) -> None:
    found = root.filesystem_type(tmp_path)
    assert found is None or (found and " " not in found)


def test_filesystem_type_is_asked_once_per_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(root, "_findmnt", lambda path: asked.append(path) or "ext4")
    root._findmnt_on.cache_clear()
    folder = tmp_path / "photos"
    folder.mkdir()
    assert [root.filesystem_type(folder) for _ in range(3)] == ["ext4"] * 3
    assert asked == [str(folder)], "one findmnt for one folder on one device"
    assert root.filesystem_type(tmp_path / "not-there") == "ext4"
    assert asked[-1] == str(tmp_path / "not-there"), "a path that cannot be stat'ed is asked"
    root._findmnt_on.cache_clear()


def test_free_space_floor(tmp_path: Path) -> None:
    root.check_free_space(tmp_path, 1)
    with pytest.raises(DiskFullError, match=r"below storage\.min_free"):
        root.check_free_space(tmp_path, 2**62)


def test_first_use_creates_root_marker_and_temp_folder(tmp_path: Path) -> None:
    info = root.prepare_root(tmp_path / "photos", first_use=True, require_marker=True)
    assert (tmp_path / "photos" / root.MARKER_NAME).is_file()
    assert info.temp_dir.is_dir()
    assert info.hardlinks is True  # a local filesystem


def test_later_use_without_the_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(RootUnavailableError, match="marker"):
        root.prepare_root(tmp_path / "photos", first_use=False, require_marker=True)
    assert not (tmp_path / "photos" / root.MARKER_NAME).exists()


def test_each_node_clears_only_its_own_temp_folder(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a = root.prepare_root(photos, first_use=True, require_marker=True, node="node-a")
    b = root.prepare_root(photos, first_use=False, require_marker=True, node="node-b")
    assert (a.temp_dir, b.temp_dir) == (
        photos / ".syncer-tmp/node-a",
        photos / ".syncer-tmp/node-b",
    )
    (a.temp_dir / "left.part").write_bytes(b"half a photo")
    (b.temp_dir / "writing.part").write_bytes(b"a photo being written")
    assert root.clean_temp(a.temp_dir) == 1
    assert [p.name for p in b.temp_dir.iterdir()] == ["writing.part"]
    assert list(a.temp_dir.iterdir()) == []


def test_a_linked_node_temp_folder_is_refused(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    root.prepare_root(photos, first_use=True, require_marker=True, node="node-a")
    (photos / ".syncer-tmp" / "node-b").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(RootUnavailableError, match="symbolic link"):
        root.prepare_root(photos, first_use=False, require_marker=True, node="node-b")
