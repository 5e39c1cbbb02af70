"""The README's exit code table and troubleshooting table agree with the code; the benchmark
internals live in docs/performance.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncer.cli import EXIT_INTERRUPTED, EXIT_PIPE_CLOSED
from syncer.config import load_settings
from syncer.errors import ConfigError, SyncerError

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def table(title: str) -> list[list[str]]:
    rows = []
    for line in section(title).splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if (
            cells
            and not set(cells[0]) <= {"-", " "}
            and cells[0] not in ("code", "message (start)")
        ):
            rows.append(cells)
    return rows


def exit_codes() -> dict[int, str]:
    return {int(code): meaning for code, meaning in table("Exit codes")}


def all_error_classes(cls: type[SyncerError]) -> list[type[SyncerError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in all_error_classes(sub))]


def test_every_exit_code_syncer_uses_is_in_the_table() -> None:
    used = {c.exit_code for c in all_error_classes(SyncerError)}
    used |= {0, 2, 4, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED}
    assert set(exit_codes()) == used


def test_a_missing_key_exits_with_the_code_the_table_gives_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SYNCER_API_KEY", "SYNCER_API__KEY", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(config_path=Path("/dev/null"))
    with pytest.raises(ConfigError, match="no API key") as caught:
        settings.require_key()
    assert "missing API key" in exit_codes()[caught.value.exit_code]
    assert "missing" not in exit_codes()[77]


def test_troubleshooting_uses_exit_codes_of_the_table() -> None:
    rows = table("Troubleshooting")
    assert len(rows) >= 8
    for message, code, fix in rows:
        assert int(code) in exit_codes(), message
        assert fix


def test_the_benchmark_internals_live_in_docs() -> None:
    performance = section("Performance")
    assert "(docs/performance.md)" in performance
    assert len(performance.strip().splitlines()) <= 8
    docs = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    for heading in ("## What is measured", "## How to run it", "## Results"):
        assert heading in docs
        assert heading not in README
