"""The photo root: the NAS guard marker, free space, and what the filesystem can do."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from syncer.errors import DiskFullError, RootUnavailableError, StorageError
from syncer.units import format_size

log = logging.getLogger("syncer.root")

MARKER_NAME = ".syncer-root"
# Private: files are written in a node's own folder here (.syncer-tmp/<node>/), then renamed
# into place; a node clears only its own folder, never the partial files of another node.
TEMP_DIRNAME = ".syncer-tmp"
TEMP_SUFFIX = ".part"
TRASH_DIRNAME = "_trash"  # photos gone upstream, corrupt files set aside
NETWORK_FS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
}


@dataclass(frozen=True)
class RootInfo:
    path: Path
    temp_dir: Path
    hardlinks: bool
    case_insensitive: bool


def prepare_root(
    root: Path,
    *,
    first_use: bool,
    require_marker: bool,
    create: bool = True,
    node: str | None = None,
) -> RootInfo:
    """Check (and on first use create) the root and its marker; probe the filesystem.

    Temp files go to ``.syncer-tmp/<node>/`` (``node`` is a validated name: one path part),
    or to ``.syncer-tmp/`` itself without a node.

    Without ``create`` (a dry run) the same checks run and nothing is made or written; the
    filesystem is assumed to take hard links and to tell case apart.
    """
    refuse_non_folder(root)
    marker = root / MARKER_NAME
    _check_root(root, marker, first_use=first_use, require_marker=require_marker)
    temp_dir = root / TEMP_DIRNAME if node is None else root / TEMP_DIRNAME / node
    if not create:
        return RootInfo(root, temp_dir, hardlinks=True, case_insensitive=False)
    if not root.is_dir():
        _mkdir(root)
        log.info("created the storage root %s", root)
    if not marker.exists():
        _write_marker(marker)
    for folder in (root / TEMP_DIRNAME, temp_dir):
        _refuse_symlink(folder)
        _mkdir(folder)
    return RootInfo(root, temp_dir, _probe_links(temp_dir), _probe_case(temp_dir))


def _check_root(root: Path, marker: Path, *, first_use: bool, require_marker: bool) -> None:
    """The checks of :func:`prepare_root` alone, for a run that must not write."""
    guarded = not first_use and require_marker
    if not root.is_dir():
        if guarded:
            raise RootUnavailableError(
                f"storage root {root} is missing; is the NAS mounted? Refusing to write",
                hint="mount the share (or fix storage.root) and run again",
            )
        if not root.parent.is_dir():
            problem = "is not a folder" if root.parent.exists() else "does not exist either"
            raise RootUnavailableError(
                f"storage root {root} does not exist and its parent {root.parent} {problem}"
            )
        return
    _refuse_symlink(marker)
    if guarded and not marker.exists():
        raise RootUnavailableError(
            f"storage root {root} has no {MARKER_NAME} marker; is the NAS mounted? "
            "Refusing to write",
            hint=f"if the root moved on purpose, create {marker} and run again",
        )


def clean_temp(temp_dir: Path) -> int:
    """Remove the temp files an interrupted run left in ``temp_dir`` (this node's folder; other
    nodes' folders beside it are not touched); returns how many."""
    removed = 0
    if not temp_dir.is_dir():
        return 0
    for entry in temp_dir.iterdir():
        if entry.name.endswith(TEMP_SUFFIX) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    return removed


def refuse_non_folder(root: Path) -> None:
    """Raise RootUnavailableError when something other than a folder sits at ``root``.

    Checked before anything else, so the message is the same whatever the ledger holds.
    """
    if root.is_dir() or not root.exists():
        return
    kind = "a file" if root.is_file() else "not a folder"
    raise RootUnavailableError(
        f"storage root {root} is {kind}",
        hint="point storage.root (or --root) at a folder, or move the file out of the way",
    )


def check_free_space(root: Path, min_free: int) -> None:
    """Raise DiskFullError when the root's filesystem has less than ``min_free`` bytes free."""
    try:
        free = shutil.disk_usage(root).free
    except OSError as exc:
        raise RootUnavailableError(f"cannot read free space of {root}: {exc.strerror}") from exc
    if free < min_free:
        raise DiskFullError(
            f"only {format_size(free)} free on {root}, below storage.min_free "
            f"({format_size(min_free)}); stopping before the disk fills",
            hint="free some space or lower storage.min_free; the next run resumes",
        )


def filesystem_type(path: Path) -> str | None:
    """The filesystem type of ``path`` (``findmnt``), or None when it cannot be told.

    Asked once per mount: the answer is kept for the device ``path`` is on (a daemon asks
    every cycle; a share mounted there anew is another device, and is asked about again)."""
    try:
        device = path.stat().st_dev
    except OSError:
        return _findmnt(str(path))
    return _findmnt_on(str(path), device)


@functools.lru_cache(maxsize=64)
def _findmnt_on(path: str, device: int) -> str | None:
    return _findmnt(path)


def _findmnt(path: str) -> str | None:
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", "--target", path],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def warn_if_network_ledger(ledger_path: Path) -> None:
    fstype = filesystem_type(ledger_path.parent)
    if fstype and fstype.lower() in NETWORK_FS:
        log.warning(
            "the ledger %s is on a network filesystem (%s); SQLite locking is unreliable there: "
            "keep the ledger on local disk",
            ledger_path,
            fstype,
        )


def _refuse_symlink(path: Path) -> None:
    """Our own entries in the root are never symbolic links: one could lead outside the root."""
    if path.is_symlink():
        raise RootUnavailableError(
            f"{path} is a symbolic link; refusing to write through it",
            hint=f"remove the link {path} and run again",
        )


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise RootUnavailableError(f"cannot create {path}: {exc.strerror}") from exc


def _write_marker(marker: Path) -> None:
    try:
        marker.write_text(
            "This folder is a syncer photo root. If this file disappears (an unmounted NAS),\n"
            "syncer refuses to write here. Do not delete it.\n"
        )
    except OSError as exc:
        if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise DiskFullError(f"cannot write {marker}: the disk is full") from exc
        raise RootUnavailableError(
            f"storage root is not writable: {marker}: {exc.strerror}"
        ) from exc


def _probe_links(temp_dir: Path) -> bool:
    probe = temp_dir / "probe-link.part"
    link = temp_dir / "probe-link2.part"
    try:
        probe.write_bytes(b"")
        os.link(probe, link)
    except OSError:
        return False
    else:
        return True
    finally:
        for path in (probe, link):
            with contextlib.suppress(OSError):
                path.unlink()


def _probe_case(temp_dir: Path) -> bool:
    probe = temp_dir / "Probe-Case.part"
    try:
        probe.write_bytes(b"")
        return (temp_dir / "probe-case.part").exists()
    except OSError as exc:
        raise StorageError(f"cannot write in {temp_dir}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
