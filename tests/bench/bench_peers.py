"""The tools syncer is measured against: wget2 and aria2c over the same presigned URL list.

Both get 16 parallel connections unless told otherwise. Features that would make them do
extra work syncer does not do are switched off: wget2's extended attributes, HSTS/HPKP databases
and config files; aria2c's file pre-allocation, its config file and its console summaries.
Neither fsyncs: the ``sync`` that follows every tool is counted in its time (syncer fsyncs each
file by default).
Over HTTPS each is given the benchmark's CA with its own ``--ca-certificate`` option (syncer
gets it as ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 16


@dataclass(frozen=True)
class Peer:
    """A downloader found (or not) on this machine."""

    name: str
    package: str  # the Debian package that provides it
    binary: str | None

    @property
    def install_hint(self) -> str:
        return f"{self.name} not installed: sudo apt-get install -y {self.package}"

    def argv(
        self, urls: Path, dest: Path, *, ca: Path | None = None, connections: int = CONNECTIONS
    ) -> list[str]:
        """The command that downloads every URL of ``urls`` into ``dest`` (trusting ``ca``),
        ``connections`` at once."""
        if self.binary is None:
            raise ValueError(self.install_hint)
        trust = [f"--ca-certificate={ca}"] if ca is not None else []
        if self.name == "wget2":
            return [
                self.binary,
                "--no-config",
                "--quiet",
                "--progress=none",
                f"--max-threads={connections}",
                "--input-file",
                str(urls),
                "--directory-prefix",
                str(dest),
                "--cut-file-get-vars",
                "--no-xattr",
                "--no-hsts",
                "--no-hpkp",
                "--no-netrc",
                "--no-robots",
                *trust,
            ]
        return [
            self.binary,
            "--no-conf",
            "--quiet",
            f"-j{connections}",
            "-x1",
            "-i",
            str(urls),
            "-d",
            str(dest),
            "--file-allocation=none",
            "--auto-file-renaming=false",
            "--allow-overwrite=true",
            "--remote-time=false",
            "--summary-interval=0",
            "--download-result=hide",
            *trust,
        ]


def find_peers(names: Sequence[str] = ("wget2", "aria2c")) -> list[Peer]:
    """Every known peer, with ``binary`` None for the missing ones."""
    packages = {"wget2": "wget2", "aria2c": "aria2"}
    return [Peer(name, packages[name], shutil.which(name)) for name in names]
