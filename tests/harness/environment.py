"""The environment variables a test must not inherit from the developer's shell.

syncer reads ``SYNCER_*`` settings, the XDG folders and the variables systemd sets for a
service; any of them left over in a shell would change what a test sees, in the test process
and in every CLI subprocess that inherits ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIXES = ("SYNCER_", "XDG_")
SYSTEMD = (
    "JOURNAL_STREAM",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "STATE_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
)


def leaking(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that must not reach a test."""
    return [name for name in names if name.startswith(PREFIXES) or name in SYSTEMD]
