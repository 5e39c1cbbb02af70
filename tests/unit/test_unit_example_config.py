"""config.example.toml loads as is, fails clearly until its placeholders are set, works without
root rights, and documents exactly the keys the settings models have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from syncer.config import EventSettings, PersonSettings, Settings, load_settings
from syncer.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
KEY_LINE = re.compile(r"^#?\s*([a-z_]+)\s*=", re.MULTILINE)


def _blocks() -> dict[str, str]:
    """Text of each [section] / [[events]] block of the example, keyed by its name."""
    text = EXAMPLE.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        header = re.match(r"^(?:# )?\[\[?([a-z_.]+)\]\]?\s*$", line)  # "# [[events]]" too
        if header:
            name = header.group(1)
        blocks[name] = blocks.get(name, "") + line
    return blocks


def _sections() -> dict[str, type[BaseModel]]:
    sections: dict[str, type[BaseModel]] = {
        "events": EventSettings,
        "events.people": PersonSettings,
    }
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections[name] = field.annotation
    return sections


def test_example_loads_with_an_empty_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(config_path=EXAMPLE, env={"HOME": str(home)}, cwd=tmp_path)
    assert settings.source_path == EXAMPLE
    assert settings.api.key is None
    assert settings.require_root() == home / "Pictures" / "9pic"
    assert settings.event_ids() is None  # all of the organisation's active events
    assert settings.storage.ledger == str(home / ".local/state/syncer/ledger.sqlite3")


def test_example_fails_clearly_until_the_org_and_key_are_set(tmp_path: Path) -> None:
    settings = load_settings(config_path=EXAMPLE, env={"HOME": str(tmp_path)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"no organisation: set api\.org_id in .*config"):
        settings.require_org()
    missing = settings.missing_for_sync()
    assert len(missing) == 2
    assert missing[0].startswith("no organisation")
    assert missing[1].startswith("no API key")


def test_example_with_its_placeholders_filled_in(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("# org_id = <your organisation id>", "org_id = 903")
    block = text[text.index("# [[events]]") :]
    text = text.replace(block, block.replace("# ", "").replace("<event id>", "456"))
    filled = tmp_path / "config.toml"
    filled.write_text(text, encoding="utf-8")
    env = {"HOME": str(tmp_path), "SYNCER_API_KEY": "k" * 20}
    settings = load_settings(config_path=filled, env=env, cwd=tmp_path)
    assert settings.require_org() == 903
    assert settings.event_ids() == [456]
    assert len(settings.bibs_for(456)) == 502
    assert settings.event(456) is not None
    assert settings.window_for(456) is not None
    assert [(p.name, p.selfie, p.clips) for p in settings.people_for(456)] == [
        ("Asha", Path("selfies/asha.jpg"), True)
    ]
    assert settings.missing_for_sync() == []


def test_every_section_is_in_the_example() -> None:
    assert set(_sections()) - {"events.people"} == set(Settings.model_fields)
    assert set(_blocks()) - {""} == set(_sections())


@pytest.mark.parametrize("section", sorted(_sections()))
def test_every_key_is_documented_and_every_documented_key_exists(section: str) -> None:
    block = _blocks()[section]
    documented = set(KEY_LINE.findall(block))
    tables = {name.rpartition(".")[2] for name in _sections() if name.startswith(f"{section}.")}
    assert documented == set(_sections()[section].model_fields) - tables


@pytest.mark.parametrize("section", sorted(_sections()))
def test_every_key_has_a_comment_above_it(section: str) -> None:
    lines = _blocks()[section].splitlines()
    for index, line in enumerate(lines):
        if KEY_LINE.match(line) and not line.startswith("#"):
            above = lines[index - 1] if index else ""
            assert above.startswith("#") or KEY_LINE.match(above), f"{section}: {line!r}"
