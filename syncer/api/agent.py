"""How syncer names itself to every server it talks to (the 9Pic API and storage hosts)."""

from __future__ import annotations

from syncer import __version__

DEFAULT_USER_AGENT = f"syncer/{__version__}"  # not importlib.metadata: that scan costs ~25 ms
