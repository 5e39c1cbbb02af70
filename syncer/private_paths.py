"""Private places on disk: folders (0700) and files (0600) only their owner can read.

The ledger, its lock and the SQLite side files hold the archive's bookkeeping; both the lock
and the ledger create them through this module, which depends on the standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each new one with mode 0700.

    Folders that already exist keep their mode: they belong to whoever made them.
    """
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(mode=DIR_MODE, exist_ok=True)


def open_private_file(path: Path, flags: int) -> int:
    """``os.open`` of ``path`` with ``flags`` (plus ``O_CLOEXEC``), created with mode 0600
    inside private new folders; raises OSError for the caller to translate."""
    make_private_dirs(path.parent)
    return os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
