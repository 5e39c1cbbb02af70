"""Fixtures for the reliability tests; the shared end-to-end harness lives in tests/e2e."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
